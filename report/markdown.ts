/**
 * The job report as GitHub-flavoured markdown: the job summary a CI run
 * shows. Every table goes through one helper, and every cell that holds
 * text from an event (a path, a command, a name) is escaped, so that no
 * process can break a table's row or forge one.
 *
 * @module
 */

import { sudoSummary } from "./sudo.ts";
import { guardSummary } from "./guard.ts";
import { renderIntegrity } from "./integrity.ts";
import {
  describeCulprit,
  FINDING_TEXT,
  unvouchedHeadline,
} from "./protected_files.ts";
import { describeFileState } from "./tamper_lines.ts";
import type { Report, TreeEntry } from "./types.ts";

const VERDICT_TEXT: Record<string, string> = {
  deny: "⛔ blocked",
  audit: "⚠️ would block",
  allow: "✅ allowed",
};

/** Text for a table cell: `|` escaped, line breaks folded to spaces. */
function cell(text: string | number | undefined): string {
  if (text === undefined || text === "") return "";
  return String(text).replace(/\|/g, "\\|").replace(/[\r\n]+/g, " ");
}

/** Inline code; a backtick inside would end it early. */
function code(text: string): string {
  return text ? `\`${text.replace(/`/g, "'")}\`` : "";
}

/**
 * A table of cells already escaped; the columns named in `right` (counts
 * and pids) align right.
 */
function table(
  columns: readonly string[],
  rows: readonly (readonly (string | number)[])[],
  right: readonly string[] = [],
): string[] {
  const line = (cells: readonly (string | number)[]) =>
    `| ${cells.join(" | ")} |`;
  return [
    line(columns),
    line(columns.map((name) => right.includes(name) ? "---:" : "---")),
    ...rows.map(line),
  ];
}

/** A section with a heading; its body ends with a blank line. */
function section(title: string, body: readonly string[]): string[] {
  return [`### ${title}`, "", ...body, ""];
}

/** A collapsed block, for what most readers skip. */
function details(summary: string, body: readonly string[]): string[] {
  return [
    `<details><summary>${summary}</summary>`,
    "",
    ...body,
    "",
    "</details>",
    "",
  ];
}

/** "change" or "changes", as `count` needs. */
function changes(count: number): string {
  return count === 1 ? "change" : "changes";
}

/**
 * The report as GitHub-flavoured markdown, in the order a reader acts on
 * it: who reported (mode, policy, agent, integrity) and the figures; what
 * was killed; where the job went, blocked destinations first; the DNS
 * names refused; files tampered with; protected files; the rest; the
 * process tree last.
 */
export function renderMarkdown(report: Report, title = "ringfence"): string {
  return [
    `## ${title}`,
    "",
    ...header(report),
    ...renderIntegrity(report.integrity),
    facts(report),
    "",
    ...killed(report),
    ...egress(report),
    ...dnsRefused(report),
    ...tampered(report),
    ...protectedFiles(report),
    ...protectedChanged(report),
    ...secretsRead(report),
    ...privileged(report),
    ...guard(report),
    ...sudo(report),
    ...agentState(report),
    ...otherChanges(report),
    ...written(report),
    ...resolvers(report),
    ...dropped(report),
    ...tree(report),
  ].join("\n");
}

/**
 * The opening line: the mode, the policy (its path and digest), the
 * agent's version, and whether the agent ran the whole job intact.
 */
function header(report: Report): string[] {
  const head = report.header;
  if (!head) return [];
  const mode = head.mode === "block"
    ? "**block** (enforcing)"
    : "**audit** (reporting only)";
  const policy = head.policy
    ? `${code(cell(head.policy.path))}${
      head.policy.sha256
        ? ` (sha256 ${code(head.policy.sha256.slice(0, 16))})`
        : ""
    }`
    : "built-in";
  const integrity = report.integrity.status === "ok"
    ? "✅ ran the whole job intact"
    : "🟥 **tampered with** (below)";
  return [
    `Mode ${mode} · policy ${policy} · ringfence ${
      cell(head.version)
    } · agent ${integrity}`,
    "",
  ];
}

function facts(report: Report): string {
  const { summary } = report;
  const facts = [
    `${summary.processes} processes`,
    `${summary.events} events`,
    `${summary.blocked} blocked`,
  ];
  if (summary.wouldBlock) facts.push(`${summary.wouldBlock} would be blocked`);
  facts.push(`${summary.killed} killed`);
  if (summary.wouldKill) facts.push(`${summary.wouldKill} would be killed`);
  const tampering = report.guard?.reduce((sum, entry) => sum + entry.count, 0);
  if (tampering) facts.push(`${tampering} memory access or tampering`);
  const exporterDrops = Object.values(summary.exporterDrops).reduce(
    (a, b) => a + b,
    0,
  );
  facts.push(`${summary.kernelDrops + exporterDrops} dropped`);
  const cpu = summary.agentCpu;
  if (cpu && Number.isFinite(cpu.total) && Number.isFinite(cpu.start)) {
    facts.push(
      `agent CPU ${cpu.total.toFixed(2)} s (${
        cpu.start.toFixed(2)
      } s to start)`,
    );
  }
  return facts.join(" · ");
}

function egress(report: Report): string[] {
  if (report.egress.length === 0) {
    return section("Egress", ["No outbound connections."]);
  }
  // Rows come grouped by domain, the groups with blocked rows first
  // (report/build.ts).
  return section("Egress by domain", [
    ...table(
      [
        "domain",
        "verdict",
        "address",
        "port",
        "step",
        "process",
        "package",
        "count",
      ],
      report.egress.map((entry) => {
        return [
          cell(entry.domain) || "(no name)",
          VERDICT_TEXT[entry.verdict] ?? entry.verdict,
          cell(entry.address),
          `${entry.port || ""}${
            entry.protocol === "tcp" ? "" : `/${entry.protocol}`
          }`,
          cell(entry.step),
          code(cell(entry.process)),
          cell(entry.package),
          entry.count,
        ];
      }),
      ["count"],
    ),
    ...(report.egressOmitted
      ? ["", `… and ${report.egressOmitted} more not listed.`]
      : []),
  ]);
}

/** The agent's own kernel state: tampering found, pins adopted. */
function agentState(report: Report): string[] {
  if (!report.agent?.length) return [];
  return section("Agent integrity", [
    ...report.agent.map((entry) => {
      if (entry.kind === "tamper") {
        return `- ${entry.time}: ${cell(entry.what)} \`${cell(entry.name)}\` (${
          entry.repaired ? "repaired" : "NOT repaired"
        })`;
      }
      return `- ${entry.time}: ${entry.kind} the pins of agent pid ${
        entry.previousPid ?? "?"
      }: while no agent ran, ${entry.refused ?? 0} refused, ${
        entry.killed ?? 0
      } killed`;
    }),
  ]);
}

function dnsRefused(report: Report): string[] {
  if (!report.dnsRefused?.length) return [];
  return section("DNS names asked and refused", [
    "Names no rule of `network.allow` covers: a resolver passes any name on" +
    " to whoever serves it, so the name itself can carry data out.",
    "",
    ...table(
      [
        "verdict",
        "name",
        "type",
        "resolver",
        "step",
        "process",
        "package",
        "count",
      ],
      report.dnsRefused.map((entry) => [
        entry.verdict === "audit"
          ? "⚠️ would be refused"
          : entry.verdict === "deny"
          ? "⛔ refused"
          : cell(entry.verdict),
        code(cell(entry.name)),
        cell(entry.qtype),
        `${cell(entry.resolver)}${
          entry.protocol === "udp" ? "" : `/${entry.protocol}`
        }`,
        cell(entry.step),
        code(cell(entry.process)),
        cell(entry.package),
        entry.count,
      ]),
      ["count"],
    ),
    ...(report.dnsRefusedOmitted
      ? ["", `… and ${report.dnsRefusedOmitted} more not listed.`]
      : []),
  ]);
}

function privileged(report: Report): string[] {
  if (!report.privileged.length) return [];
  return section(
    "Privileged network primitives",
    table(
      ["verdict", "primitive", "process", "step", "count"],
      report.privileged.map((entry) => [
        `${VERDICT_TEXT[entry.verdict] ?? cell(entry.verdict)}${
          entry.killed ? " (killed)" : ""
        }`,
        cell(entry.primitive),
        code(cell(entry.process)),
        cell(entry.step),
        entry.count,
      ]),
      ["count"],
    ),
  );
}

function sudo(report: Report): string[] {
  if (!report.sudo?.length) return [];
  const states: Record<string, string> = {
    disabled: "⛔ disabled",
    audit: "⚠️ would be disabled",
    allowed: "✅ allowed",
  };
  return section("sudo", [
    `${sudoSummary(report.sudo, report.sudoOmitted)}.`,
    "",
    ...table(
      ["step", "command", "sudo", "exit", "time"],
      report.sudo.map((entry) => [
        cell(entry.step),
        code(cell(entry.command)),
        states[entry.sudo] ?? cell(entry.sudo),
        entry.signal ? `signal ${entry.signal}` : cell(entry.exit),
        entry.time,
      ]),
    ),
  ]);
}

function guard(report: Report): string[] {
  if (!report.guard?.length) return [];
  return section("Memory access and tampering", [
    guardSummary(report.guard),
    "",
    ...table(
      ["action", "what", "target", "process", "pid", "step", "count"],
      report.guard.map((entry) => [
        entry.action === "killed" ? "⛔ killed" : "⚠️ reported",
        cell(entry.what),
        cell(entry.target),
        code(cell(entry.process)),
        entry.pid,
        cell(entry.step),
        entry.count,
      ]),
      ["pid", "count"],
    ),
  ]);
}

/**
 * Every process killed, then (audit mode) every process block mode would
 * have killed, whatever for.
 */
function killed(report: Report): string[] {
  const kills = report.killed.filter((entry) => entry.action !== "audit");
  const would = report.killed.filter((entry) => entry.action === "audit");
  const rows = (entries: typeof report.killed) =>
    table(
      ["pid", "process", "step", "package", "why", "time"],
      entries.map((entry) => [
        entry.pid,
        code(cell(entry.process)),
        cell(entry.step),
        cell(entry.package),
        cell(entry.why ?? entry.destination),
        entry.time,
      ]),
      ["pid"],
    );
  return [
    ...(kills.length ? section("Processes killed", rows(kills)) : []),
    ...(would.length
      ? section("Would be killed", [
        "Audit mode: block mode would have killed these processes.",
        "",
        ...rows(would),
      ])
      : []),
  ];
}

function tampered(report: Report): string[] {
  if (!report.tampered.length) return [];
  return section(
    "Files tampered",
    table(
      [
        "path",
        "action",
        "process",
        "step",
        "package",
        "after checkout by",
        "verdict",
        "count",
      ],
      report.tampered.map((entry) => [
        code(cell(entry.path)),
        cell(entry.kind),
        code(cell(entry.process)),
        cell(entry.step),
        cell(entry.package),
        cell(entry.checkout),
        entry.verdict === "allow"
          ? "reported"
          : VERDICT_TEXT[entry.verdict ?? ""] ?? cell(entry.verdict),
        entry.count,
      ]),
      ["count"],
    ),
  );
}

function otherChanges(report: Report): string[] {
  if (!report.otherChanges) return [];
  return [
    `${report.otherChanges} other ${
      changes(report.otherChanges)
    } under \`files.watch\` (build outputs and the like; see the events).`,
    "",
  ];
}

function written(report: Report): string[] {
  if (!report.written.length) return [];
  const total = report.written.reduce((sum, entry) => sum + entry.count, 0);
  return details(
    `Files written under <code>files.watch</code> (${total} ${changes(total)})`,
    table(
      ["step", "package", "changes", "first paths"],
      report.written.map((entry) => [
        cell(entry.step) || "(no step)",
        cell(entry.package),
        entry.count,
        entry.examples.map((path) => code(cell(path))).join("<br>"),
      ]),
      ["changes"],
    ),
  );
}

function protectedChanged(report: Report): string[] {
  if (!report.protectedChanged.length) return [];
  return section(
    "Protected files changed",
    table(
      ["path", "at start", "at stop"],
      report.protectedChanged.map((change) => [
        code(cell(change.path)),
        cell(describeFileState(change.before)),
        cell(describeFileState(change.after)),
      ]),
    ),
  );
}

function protectedFiles(report: Report): string[] {
  const findings = report.protectedFiles ?? [];
  if (!findings.length) return [];
  const headline = unvouchedHeadline(findings);
  const omitted = report.protectedFilesOmitted
    ? [`… and ${report.protectedFilesOmitted} more (see the events).`, ""]
    : [];
  return section("Protected files", [
    headline
      ? `🟥 **${headline[0].toUpperCase()}${headline.slice(1)}:** ` +
        "see the rows not repaired."
      : "Each was put right by the agent.",
    "",
    ...table(
      ["path", "what", "by", "step", "other path", "repaired", "detail"],
      findings.map((finding) => [
        code(cell(finding.path)),
        cell(FINDING_TEXT[finding.kind] ?? finding.kind),
        cell(describeCulprit({ ...finding, step: undefined })),
        cell(finding.step),
        code(cell(finding.other_path ?? "")),
        finding.repaired ? "✅ yes" : "🟥 no",
        cell(finding.detail),
      ]),
    ),
    ...(omitted.length ? ["", ...omitted.slice(0, 1)] : []),
  ]);
}

function secretsRead(report: Report): string[] {
  if (!report.secretsRead.length) return [];
  return section(
    "Secrets read",
    table(
      ["path", "process", "step", "package", "count"],
      report.secretsRead.map((entry) => [
        code(cell(entry.path)),
        code(cell(entry.process)),
        cell(entry.step),
        cell(entry.package),
        entry.count,
      ]),
      ["count"],
    ),
  );
}

function resolvers(report: Report): string[] {
  if (!report.resolversNotAllowed.length) return [];
  return section(
    "DNS resolvers not allowed",
    report.resolversNotAllowed.map((resolver) => `- ${resolver}`),
  );
}

function dropped({ summary }: Report): string[] {
  const drops = Object.entries(summary.exporterDrops);
  if (!summary.kernelDrops && !drops.length && !summary.scopeFull) return [];
  return section("Dropped", [
    ...(summary.kernelDrops
      ? [
        `- ${summary.kernelDrops} records lost in the kernel (ring buffer full)`,
      ]
      : []),
    ...(summary.scopeFull
      ? [
        `- ${summary.scopeFull} processes untracked (scope map full): ` +
        "killed in block mode, reported in audit mode (`untracked` events)",
      ]
      : []),
    ...drops.map(([name, count]) =>
      `- ${count} events not delivered by the ${name} exporter`
    ),
  ]);
}

/** The process tree, indented, in a code block. */
function tree(report: Report): string[] {
  const lines: string[] = [];
  const walk = (entry: TreeEntry, depth: number) => {
    const parts = [`${"  ".repeat(depth)}${entry.pid} ${entry.comm}`];
    if (entry.command) parts.push(`— ${entry.command.slice(0, 200)}`);
    if (entry.exit && entry.exit !== "exit 0") parts.push(`(${entry.exit})`);
    if (entry.reparented) parts.push("(reparented)");
    if (entry.step && depth === 0) parts.push(`[step: ${entry.step}]`);
    lines.push(parts.join(" "));
    for (const child of entry.children) walk(child, depth + 1);
  };
  for (const root of report.tree) walk(root, 0);
  return details(`Process tree (${report.summary.processes} processes)`, [
    "```",
    // A command's own fence would end the block early.
    ...lines.map((line) => line.replace(/```/g, "'''")),
    ...(report.treeOmitted ? [`… ${report.treeOmitted} more`] : []),
    "```",
  ]);
}
