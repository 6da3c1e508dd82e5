/**
 * `ringfence doctor`: prints what `examineHost` found, one fact a line,
 * and exits 0 when the agent can run here, 2 otherwise.
 *
 * @module
 */

import { type DoctorReport, examineHost } from "../sensors/doctor.ts";

function yesNo(value: boolean | string): string {
  return value === true ? "yes" : value === false ? "no" : value;
}

/** The report as the lines `ringfence doctor` prints. */
export function formatReport(report: DoctorReport): string[] {
  const row = (label: string, value: string) => `${label.padEnd(20)}${value}`;
  const lines = [
    row("kernel", `${report.kernel} (${report.arch})`),
    row("root", report.root ? "yes" : "no"),
    row("BTF", report.btf ?? "missing"),
    row("cgroup2", report.cgroup2 ?? "not mounted"),
    row(
      "tracefs",
      report.tracefs ?? "not mounted (the sensors do not need it)",
    ),
    row("lockdown", report.lockdown ?? "unknown (securityfs not readable)"),
    row(
      "libbpf",
      typeof report.libbpf === "string"
        ? `unavailable: ${report.libbpf}`
        : `${report.libbpf.version} from the ${
          report.libbpf.source === "host" ? "host" : "copy built into ringfence"
        } (${report.libbpf.path})`,
    ),
    row(
      "built-in copy",
      report.embeddedLibbpf
        ? "libbpf, libelf and zlib are carried for hosts without them"
        : "none in this copy (running from source without a build)",
    ),
  ];
  if (report.programTypes.length) {
    lines.push(
      "program types (kernel probe / a do-nothing program loaded and attached):",
    );
    for (const type of report.programTypes) {
      lines.push(
        `  ${type.name.padEnd(18)}probe ${yesNo(type.probe).padEnd(4)} attach ${
          type.attach === true ? "ok" : `failed: ${type.attach}`
        }`,
      );
    }
  }
  for (const [name, state] of Object.entries(report.sensors)) {
    lines.push(
      row(`sensor ${name}`, state === true ? "loads" : `fails: ${state}`),
    );
  }
  if (report.notes.length) {
    lines.push("not available here (ringfence runs without it):");
    for (const note of report.notes) lines.push(`  - ${note}`);
  }
  if (report.problems.length) {
    lines.push("will not work:");
    for (const problem of report.problems) lines.push(`  - ${problem}`);
  }
  lines.push(
    report.ok
      ? "verdict: ringfence can run on this host"
      : "verdict: ringfence cannot run on this host",
  );
  return lines;
}

/** `ringfence doctor`: prints the report; 0 when the agent can run, else 2. */
export async function doctor(
  options: { sensors?: string } = {},
): Promise<number> {
  const report = await examineHost(options);
  for (const line of formatReport(report)) console.log(line);
  return report.ok ? 0 : 2;
}
