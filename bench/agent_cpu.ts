/**
 * agent CPU per event: the CPU time of the agent's process (all its
 * threads, user and system, from /proc/PID/stat) while it delivers about
 * 30,000 events a second, divided by the events it delivered. Two kinds
 * of event: process events (the exec burst: `exec_burst.c` spawning the
 * libc-free `exit0.c`, one driver per core, fork+exec+exit per spawn) and
 * file events (a python3 loop of create+write+unlink in a watched tree,
 * paced at 15,000 cycles a second: a create and an unlink each). The
 * agent writes its JSON lines to a file, as `ringfence run` does.
 *
 * @module
 */

import { median, rootShell, withAgent } from "./_agent.ts";
import { RING_POLL_MS } from "../sensors/ringbuf.ts";
import { buildExecBurst } from "../tests/helpers/kernel.ts";

/** One run's figures. */
export interface CpuRun {
  /** Agent CPU (user + system, all threads) over the work, in seconds. */
  cpuSeconds: number;
  /** Events the agent delivered. */
  events: number;
  /** How long the work took. */
  seconds: number;
  /** Records lost in the kernel. */
  drops: number;
}

/** The median run of one kind and every run's figures. */
export interface CpuKindResult {
  /** Agent CPU per delivered event, microseconds (median of runs). */
  usPerEvent: number;
  /** Events delivered per second of work (median of runs). */
  eventsPerSecond: number;
  /** Drops over all runs. */
  drops: number;
  runs: CpuRun[];
}

/** What the bench measured. */
export interface AgentCpuResult {
  process: CpuKindResult & { driver: string };
  file: CpuKindResult;
}

const TICKS_PER_SECOND = 100;

/** utime + stime of a process (all its threads), in seconds. */
export function processCpuSeconds(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // Fields after the command name, which may hold spaces: state is 3rd,
  // utime the 14th and stime the 15th field of the whole line.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
}

/** argv: directory, cycles, cycles per second. */
const FILE_WORKLOAD = `import os, sys, time
os.chdir(sys.argv[1])
count, rate = int(sys.argv[2]), float(sys.argv[3])
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
start = time.perf_counter()
for i in range(count):
    if i % 100 == 0:
        ahead = start + i / rate - time.perf_counter()
        if ahead > 0:
            time.sleep(ahead)
    name = f"f{i}"
    fd = os.open(name, flags, 0o644)
    os.write(fd, b"x\\n")
    os.close(fd)
    os.unlink(name)
`;

/**
 * Runs `work` under an agent on `policy`, `rounds` times; the agent's CPU
 * is read before the work and once it has had the work's last records.
 */
async function measure(
  policy: string,
  output: string,
  rounds: number,
  work: () => Promise<unknown>,
): Promise<CpuKindResult> {
  const runs: CpuRun[] = [];
  for (let round = 0; round < rounds; round++) {
    let cpuSeconds = 0;
    let seconds = 0;
    const run = await withAgent(
      policy,
      async (pid) => {
        const before = processCpuSeconds(pid);
        const start = performance.now();
        await work();
        seconds = (performance.now() - start) / 1000;
        // Its last records are read within RING_POLL_MS.
        await new Promise((resolve) => setTimeout(resolve, 10 * RING_POLL_MS));
        cpuSeconds = processCpuSeconds(pid) - before;
        return seconds;
      },
      "source",
      output,
    );
    runs.push({ cpuSeconds, events: run.events, seconds, drops: run.drops });
  }
  return {
    usPerEvent: median(runs.map((run) => 1e6 * run.cpuSeconds / run.events)),
    eventsPerSecond: median(runs.map((run) => run.events / run.seconds)),
    drops: runs.reduce((sum, run) => sum + run.drops, 0),
    runs,
  };
}

async function succeed(command: Deno.Command): Promise<void> {
  const output = await command.output();
  if (!output.success) {
    throw new Error(new TextDecoder().decode(output.stderr));
  }
}

/**
 * Measures `rounds` runs of each kind: `execs` spawns per core for
 * process events, `cycles` paced file cycles for file events.
 */
export async function agentCpu(
  rounds = 3,
  execs = 15_000,
  cycles = 45_000,
): Promise<AgentCpuResult> {
  // The sensor reports canonical paths: the policy must name them so.
  const dir = await Deno.realPath(
    await Deno.makeTempDir({ prefix: "ringfence-bench-" }),
  );
  try {
    const output = `${dir}/events.jsonl`;
    // Process events.
    const execShell = await rootShell(dir, "rfcpu");
    const execPolicy = `${dir}/exec.yaml`;
    await Deno.writeTextFile(
      execPolicy,
      "version: 1\nmode: audit\nscope:\n  processes: [rfcpu]\n",
    );
    const built = await buildExecBurst(dir);
    const one = "error" in built
      ? `(for ((i=0; i<${execs}; i++)); do /bin/true; done)`
      : `${built.driver} ${execs} ${built.program}`;
    const burst = Array.from(
      { length: navigator.hardwareConcurrency },
      () => `${one} &`,
    ).join("\n") + "\nwait";
    const process = await measure(
      execPolicy,
      output,
      rounds,
      () => succeed(new Deno.Command(execShell, { args: ["-c", burst] })),
    );
    // File events.
    const fileShell = await rootShell(dir, "rfcpufiles");
    const workload = `${dir}/file_workload.py`;
    await Deno.writeTextFile(workload, FILE_WORKLOAD);
    await Deno.mkdir(`${dir}/watched`);
    const filePolicy = `${dir}/files.yaml`;
    await Deno.writeTextFile(
      filePolicy,
      [
        "version: 1",
        "mode: audit",
        "scope:",
        "  processes: [rfcpufiles]",
        "files:",
        `  watch: [${JSON.stringify(`${dir}/watched/**`)}]`,
        "",
      ].join("\n"),
    );
    const file = await measure(
      filePolicy,
      output,
      rounds,
      () =>
        succeed(
          new Deno.Command(fileShell, {
            args: [
              "-c",
              `/usr/bin/python3 ${workload} ${dir}/watched ${cycles} 15000`,
            ],
          }),
        ),
    );
    return {
      process: {
        ...process,
        driver: "error" in built ? "bash" : "exec_burst",
      },
      file,
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
