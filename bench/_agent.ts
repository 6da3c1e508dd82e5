/**
 * Runs work under a `ringfence start` agent in its own process, the way
 * users run it, and collects the agent's own figures.
 *
 * @module
 */

import { RING_POLL_MS } from "../sensors/ringbuf.ts";
import { AGENT_V8_FLAGS } from "../scripts/_dist.ts";
import { rootShell } from "../tests/helpers/kernel.ts";

export { rootShell };

const ROOT = new URL("../", import.meta.url).pathname;

/** The middle value (the mean of the two middle ones for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = sorted.length >> 1;
  return sorted.length % 2
    ? sorted[middle]
    : (sorted[middle - 1] + sorted[middle]) / 2;
}

/** One agent run's figures. */
export interface AgentRun {
  /** How long the work took. */
  seconds: number;
  /** Events the agent delivered. */
  events: number;
  /** Records lost in the kernel. */
  drops: number;
  /**
   * Milliseconds from the agent's start until armed, by the agent's own
   * clock: it starts when Deno's runtime does, after the executable has
   * been loaded and initialised.
   */
  armedMs: number;
  /**
   * Milliseconds from the spawn of the agent's process until it wrote its
   * ready file (just after arming), by the wall clock: what a user waits.
   */
  readyAfterSpawnMs: number;
  /** Peak resident memory of the agent. */
  peakRssMb: number;
}

async function waitForFile(path: string): Promise<void> {
  for (let attempt = 0; attempt < 1000; attempt++) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  throw new Error(`agent never became ready (${path})`);
}

/** Times `binary -c script`; throws when it fails. */
export async function timed(binary: string, script: string): Promise<number> {
  const start = performance.now();
  const output = await new Deno.Command(binary, { args: ["-c", script] })
    .output();
  if (!output.success) {
    throw new Error(
      `workload failed: ${script}\n${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return (performance.now() - start) / 1000;
}

/** How the agent is run: from source, or the bundle users download. */
export type AgentForm = "source" | "bundle";

/** The file `deno run` starts for each form. */
export const AGENT_ENTRY: Record<AgentForm, string> = {
  source: `${ROOT}main.ts`,
  bundle: `${ROOT}dist/ringfence.js`,
};

/**
 * The shipped V8 flags, then BENCH_AGENT_V8_FLAGS (a comma list) when set:
 * a flag given twice takes its last value, so an experiment can try other
 * values beside the shipped ones.
 */
function agentV8Flags(): string {
  const extra = Deno.env.get("BENCH_AGENT_V8_FLAGS");
  return extra ? `${AGENT_V8_FLAGS},${extra}` : AGENT_V8_FLAGS;
}

/**
 * Starts the agent on `policy`, runs `work` (given the agent's pid), stops
 * the agent. Events go as
 * JSON lines to `output` (nowhere by default), to be read once it returns.
 * `env` is added to the agent's environment (`DENO_DIR`, say).
 */
export async function withAgent(
  policy: string,
  work: (agentPid: number) => Promise<number>,
  form: AgentForm = "source",
  output = "/dev/null",
  env: Record<string, string> = {},
): Promise<AgentRun> {
  const ready = `${policy}.ready`;
  await Deno.remove(ready).catch(() => {});
  const spawned = Date.now();
  const agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--v8-flags=${agentV8Flags()}`,
      AGENT_ENTRY[form],
      "start",
      "--policy",
      policy,
      "--output",
      output,
      "--ready-file",
      ready,
    ],
    stderr: "piped",
    env,
  }).spawn();
  try {
    await waitForFile(ready);
    const readyAt = (await Deno.stat(ready)).mtime!.getTime();
    const seconds = await work(agent.pid);
    // Read the peak once the agent has had the work's last records (it
    // drains at least every RING_POLL_MS), not before it has handled them.
    await new Promise((resolve) => setTimeout(resolve, 20 * RING_POLL_MS));
    const status = await Deno.readTextFile(`/proc/${agent.pid}/status`);
    const peakRssMb = Number(status.match(/VmHWM:\s+(\d+)/)![1]) / 1024;
    agent.kill("SIGTERM");
    const stderr = new TextDecoder().decode((await agent.output()).stderr);
    const number = (pattern: RegExp) =>
      Number(stderr.match(pattern)?.[1] ?? NaN);
    return {
      seconds,
      events: number(/(\d+) events/),
      drops: number(/(\d+) dropped/),
      armedMs: number(/armed after (\d+) ms/),
      readyAfterSpawnMs: readyAt - spawned,
      peakRssMb,
    };
  } catch (error) {
    // SIGTERM first: an agent in block mode that is killed leaves its
    // enforcement pinned, and it would then weigh on every later run.
    try {
      agent.kill("SIGTERM");
    } catch { /* gone */ }
    let timer: ReturnType<typeof setTimeout> | undefined;
    const stopped = await Promise.race([
      agent.status.then(() => true),
      new Promise<false>((resolve) =>
        timer = setTimeout(resolve, 10_000, false)
      ),
    ]);
    clearTimeout(timer);
    if (!stopped) {
      try {
        agent.kill("SIGKILL");
      } catch { /* gone */ }
    }
    throw error;
  }
}
