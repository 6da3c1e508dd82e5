/**
 * exec storm: N fork+exec of /bin/true from a bash loop, with and without
 * the agent (a separate `ringfence start` process) watching, in alternating
 * pairs within one run.
 *
 * @module
 */

import { type AgentRun, rootShell, timed, withAgent } from "./_agent.ts";

/** What the exec storm measured. */
export interface ExecStormResult {
  execs: number;
  pairs: number;
  baselineSeconds: number[];
  agentRuns: AgentRun[];
  burst: { execsPerSecond: number; drops: number; events: number };
}

/** Runs `pairs` baseline/agent pairs of `execs` execs, then a burst. */
export async function execStorm(
  execs = 3000,
  pairs = 5,
): Promise<ExecStormResult> {
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  try {
    const shell = await rootShell(dir, "rfbench");
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      "version: 1\nmode: audit\nscope:\n  processes: [rfbench]\n",
    );
    const loop = `for ((i=0; i<${execs}; i++)); do /bin/true; done`;
    const baselineSeconds: number[] = [];
    const agentRuns: AgentRun[] = [];
    await timed(shell, loop); // warm the page cache
    for (let pair = 0; pair < pairs; pair++) {
      baselineSeconds.push(await timed(shell, loop));
      agentRuns.push(await withAgent(policy, () => timed(shell, loop)));
    }
    // As many execs per second as this machine can make: one loop per core.
    const loops = navigator.hardwareConcurrency;
    const burstExecs = execs * 2;
    const burstScript = Array.from(
      { length: loops },
      () => `(for ((i=0; i<${burstExecs}; i++)); do /bin/true; done) &`,
    ).join("\n") + "\nwait";
    const burst = await withAgent(policy, () => timed(shell, burstScript));
    return {
      execs,
      pairs,
      baselineSeconds,
      agentRuns,
      burst: {
        execsPerSecond: (burstExecs * loops) / burst.seconds,
        drops: burst.drops,
        events: burst.events,
      },
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
