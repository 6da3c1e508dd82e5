/**
 * exec storm: N fork+exec of /bin/true from a bash loop, with and without
 * the agent (a separate `ringfence start` process) watching, in alternating
 * pairs within one run.
 *
 * @module
 */

const ROOT = new URL("../", import.meta.url).pathname;

/** One agent run's figures. */
export interface AgentRun {
  seconds: number;
  events: number;
  drops: number;
  armedMs: number;
  peakRssMb: number;
}

/** What the exec storm measured. */
export interface ExecStormResult {
  execs: number;
  pairs: number;
  baselineSeconds: number[];
  agentRuns: AgentRun[];
  burst: { execsPerSecond: number; drops: number; events: number };
}

async function waitForFile(path: string): Promise<void> {
  for (let attempt = 0; attempt < 500; attempt++) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  throw new Error(`agent never became ready (${path})`);
}

async function timed(binary: string, script: string): Promise<number> {
  const start = performance.now();
  const output = await new Deno.Command(binary, { args: ["-c", script] })
    .output();
  if (!output.success) throw new Error(`workload failed: ${script}`);
  return (performance.now() - start) / 1000;
}

async function withAgent(
  dir: string,
  work: () => Promise<number>,
): Promise<AgentRun> {
  const ready = `${dir}/ready`;
  await Deno.remove(ready).catch(() => {});
  const agent = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `${ROOT}main.ts`,
      "start",
      "--policy",
      `${dir}/policy.yaml`,
      "--output",
      "/dev/null",
      "--ready-file",
      ready,
    ],
    stderr: "piped",
  }).spawn();
  await waitForFile(ready);
  const seconds = await work();
  const status = await Deno.readTextFile(`/proc/${agent.pid}/status`);
  const peakRssMb = Number(status.match(/VmHWM:\s+(\d+)/)![1]) / 1024;
  agent.kill("SIGTERM");
  const stderr = new TextDecoder().decode((await agent.output()).stderr);
  const number = (pattern: RegExp) => Number(stderr.match(pattern)?.[1] ?? NaN);
  return {
    seconds,
    events: number(/(\d+) events/),
    drops: number(/(\d+) dropped/),
    armedMs: number(/armed after (\d+) ms/),
    peakRssMb,
  };
}

/** Runs `pairs` baseline/agent pairs of `execs` execs, then a burst. */
export async function execStorm(
  execs = 3000,
  pairs = 5,
): Promise<ExecStormResult> {
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  try {
    // bash under another name, so that the agent's scope is the workload.
    const shell = `${dir}/rfbench`;
    await Deno.copyFile("/bin/bash", shell);
    await Deno.chmod(shell, 0o755);
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      "version: 1\nmode: audit\nscope:\n  processes: [rfbench]\n",
    );
    const loop = `for ((i=0; i<${execs}; i++)); do /bin/true; done`;
    const baselineSeconds: number[] = [];
    const agentRuns: AgentRun[] = [];
    await timed(shell, loop); // warm the page cache
    for (let pair = 0; pair < pairs; pair++) {
      baselineSeconds.push(await timed(shell, loop));
      agentRuns.push(await withAgent(dir, () => timed(shell, loop)));
    }
    // As many execs per second as this machine can make: one loop per core.
    const loops = navigator.hardwareConcurrency;
    const burstExecs = execs * 2;
    const burstScript = Array.from(
      { length: loops },
      () => `(for ((i=0; i<${burstExecs}; i++)); do /bin/true; done) &`,
    ).join("\n") + "\nwait";
    const burst = await withAgent(dir, () => timed(shell, burstScript));
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
