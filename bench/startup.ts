/**
 * Start-up: milliseconds from the agent process's start until its sensors
 * are armed, and its peak RSS after a small workload, for the agent run
 * from source and from the bundle (`deno task bundle`) that users download.
 *
 * @module
 */

import {
  type AgentForm,
  type AgentRun,
  rootShell,
  timed,
  withAgent,
} from "./_agent.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * Figures per form: the first start, which for the just-built bundle also
 * writes Deno's V8 code cache (what a freshly downloaded bundle pays once
 * per machine), and the `starts` after it.
 */
export type StartupResult = Record<
  AgentForm,
  { first: AgentRun; runs: AgentRun[] }
>;

/** Starts each form once, then `starts` more times, alternating. */
export async function startup(starts = 5): Promise<StartupResult> {
  const bundled = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/bundle.ts`],
    stdout: "null",
  }).output();
  if (!bundled.success) throw new Error("deno task bundle failed");
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  try {
    const shell = await rootShell(dir, "rfstartup");
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      "version: 1\nscope:\n  processes: [rfstartup]\n",
    );
    const work = () =>
      timed(shell, "for ((i=0; i<200; i++)); do /bin/true; done");
    const runs: Record<AgentForm, AgentRun[]> = { source: [], bundle: [] };
    for (let start = 0; start <= starts; start++) {
      for (const form of ["source", "bundle"] as const) {
        runs[form].push(await withAgent(policy, work, form));
      }
    }
    const split = (form: AgentForm) => ({
      first: runs[form][0],
      runs: runs[form].slice(1),
    });
    return { source: split("source"), bundle: split("bundle") };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
