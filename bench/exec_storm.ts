/**
 * exec storm: N fork+exec of /bin/true from a bash loop, with and without
 * the agent (a separate `ringfence start` process) watching, each agent run
 * between two runs without it (`rounds.ts`). Then a burst at the highest
 * exec rate the machine can make: `exec_burst.c` spawning the libc-free
 * `exit0.c`, one driver per core (a shell loop where they cannot be built).
 *
 * @module
 */

import { type AgentRun, rootShell, timed, withAgent } from "./_agent.ts";
import { bracketed } from "./rounds.ts";
import { buildExecBurst } from "../tests/helpers/kernel.ts";

/** What the exec storm measured. */
export interface ExecStormResult {
  execs: number;
  pairs: number;
  /** The loops without the agent, one more than the pairs (`rounds.ts`). */
  baselineSeconds: number[];
  agentRuns: AgentRun[];
  burst: {
    /** What drove it: "exec_burst" or, where it cannot be built, bash. */
    driver: string;
    /** Why exec_burst was not used. */
    fallback?: string;
    seconds: number;
    /** The same burst without the agent. */
    baselineSeconds: number;
    execsPerSecond: number;
    drops: number;
    events: number;
    peakRssMb: number;
  };
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
    await bracketed(
      pairs,
      async () => baselineSeconds.push(await timed(shell, loop)),
      [async () =>
        agentRuns.push(await withAgent(policy, () => timed(shell, loop)))],
    );
    // As many execs per second as this machine can make: one driver per
    // core, each starting `burstExecs` programs one after the other.
    const loops = navigator.hardwareConcurrency;
    const burstExecs = execs * 10;
    const built = await buildExecBurst(dir);
    const one = "error" in built
      ? `(for ((i=0; i<${burstExecs}; i++)); do /bin/true; done)`
      : `${built.driver} ${burstExecs} ${built.program}`;
    const burstScript = Array.from({ length: loops }, () => `${one} &`)
      .join("\n") + "\nwait";
    const burstBaseline = await timed(shell, burstScript);
    const burst = await withAgent(policy, () => timed(shell, burstScript));
    return {
      execs,
      pairs,
      baselineSeconds,
      agentRuns,
      burst: {
        driver: "error" in built ? "bash" : "exec_burst",
        fallback: "error" in built ? built.error : undefined,
        seconds: burst.seconds,
        baselineSeconds: burstBaseline,
        execsPerSecond: (burstExecs * loops) / burst.seconds,
        drops: burst.drops,
        events: burst.events,
        peakRssMb: burst.peakRssMb,
      },
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
