/**
 * npm ci: a real CI job (`npmci_workload.sh`: `npm ci --offline` of a
 * 234-package lockfile from a warm cache, then a `tsc` build) with and
 * without the agent, each run under the agent between two runs without it
 * (`rounds.ts`), in a copy of the project on a journaled ext4
 * (`journaled_dir.ts`). The agent runs the shipped default policy
 * (policy/default.yaml) in block mode, with the project as
 * `GITHUB_WORKSPACE` so that the workspace is watched as on a runner, and
 * the job runs under a shell named `Runner.Worker`, one of the policy's
 * scope roots. With bpftrace asked for (`BENCH_PEERS`), a run
 * under bpftrace follows each run under the agent, before the next run
 * alone.
 *
 * Preparation needs the npm registry once: the project and npm's cache are
 * kept under `BENCH_CACHE` (default /var/tmp/ringfence-bench) and prepared
 * again only when the lockfile or the workload change. Without the
 * registry (or npm), the bench is skipped with the reason.
 *
 * @module
 */

import { type AgentRun, median, rootShell, withAgent } from "./_agent.ts";
import { journaledDir } from "./journaled_dir.ts";
import { bracketed, type Place, roundRatios } from "./rounds.ts";
import {
  bpfStatsEnabled,
  type ProgramTime,
  withBpfStats,
} from "./bpf_stats.ts";
import {
  type BenchRow,
  cpuSecondsOf,
  type Peer,
  peerMissing,
  peerPairRows,
  type PeerRun,
  underPeer,
} from "./peers.ts";

const HERE = new URL("./", import.meta.url).pathname;
const WORKLOAD = `${HERE}npmci_workload.sh`;
/** What the prepared project is made of: a change prepares it again. */
const INPUTS = ["npmci-package.json", "npmci-package-lock.json"];
const DEFAULT_POLICY = new URL("../policy/default.yaml", import.meta.url)
  .pathname;

/** One run of the job, by its own clocks. */
export interface JobRun {
  /** Wall-clock seconds of its rounds. */
  seconds: number;
  /** CPU seconds (user + system) of its processes, in-kernel BPF included. */
  cpuSeconds: number;
}

/** One run of the job under the agent. */
export interface NpmCiAgentRun extends AgentRun {
  /** The job's own CPU seconds. */
  jobCpuSeconds: number;
  /** The agent's CPU seconds (all its threads) from armed to drained. */
  agentCpuSeconds: number;
  /** Events written, by type (file_system_events by type/kind). */
  byType: Record<string, number>;
  /** File changes sent one by one or counted in summaries. */
  fileChanges: number;
}

/** A prepared job, ready to run as often as wanted. */
export interface NpmCiJob {
  /** The project directory (canonical): the watched workspace. */
  project: string;
  /** What the project is on (`journaled_dir.ts`). */
  where: string;
  /** The job's rounds, alone or under a monitor started around it. */
  run(): Promise<JobRun>;
  /** Removes the bench's own temporary files (not the prepared cache). */
  close(): Promise<void>;
}

/** What the npm ci bench measured, or why it did not run. */
export type NpmCiResult =
  | { skipped: string }
  | {
    rounds: number;
    pairs: number;
    /** What the project is on (`journaled_dir.ts`). */
    where: string;
    /** The runs alone, one more than the pairs (`rounds.ts`). */
    baseline: JobRun[];
    /** `baselineSeconds` and `agentRuns` as the storms' printers take them. */
    baselineSeconds: number[];
    agentRuns: NpmCiAgentRun[];
    /** Where the agent's run is among a round's. */
    place: Place;
    /** bpftrace's runs, one per pair, when asked for and available. */
    bpftrace?: PeerRun[];
    /** Why bpftrace did not run although asked for. */
    bpftraceSkipped?: string;
    /** Whether the kernel counted program run time during the pairs. */
    statsWereOn: boolean;
    /**
     * One more run under the agent, with the kernel counting its programs'
     * run time (not among the pairs), or why it could not be made.
     */
    kernel: KernelTime;
  };

/** The in-kernel run time of one job run's programs, or why not measured. */
export type KernelTime =
  | { programs: ProgramTime[]; jobCpuSeconds: number }
  | { skipped: string };

/**
 * Parses the workload's output: `elapsed=S n=N`, then bash's `times`, whose
 * last line is its children's user and system time.
 */
export function parseJobOutput(text: string): JobRun | undefined {
  const elapsed = text.match(/elapsed=([\d.]+)/);
  const times = [...text.matchAll(/(\d+)m([\d.]+)s (\d+)m([\d.]+)s/g)].at(-1);
  if (!elapsed || !times) return undefined;
  const seconds = (minutes: string, rest: string) =>
    Number(minutes) * 60 + Number(rest);
  return {
    seconds: Number(elapsed[1]),
    cpuSeconds: seconds(times[1], times[2]) + seconds(times[3], times[4]),
  };
}

/** What a run's JSON lines hold. */
export interface EventCounts {
  /** Events by type; file_system_events by type/kind (`file_system_event/create`). */
  byType: Record<string, number>;
  /**
   * File changes reported: file_system_events, plus those a
   * `file_system_summary` counts (its `total`) rather than sends one by one.
   */
  fileChanges: number;
}

/** Counts the events of a JSON-lines file. */
export function countEvents(text: string): EventCounts {
  const byType: Record<string, number> = {};
  let fileChanges = 0;
  for (const line of text.split("\n")) {
    if (!line) continue;
    const event = JSON.parse(line);
    const key = event.type === "file_system_event"
      ? `${event.type}/${event.kind}`
      : String(event.type);
    byType[key] = (byType[key] ?? 0) + 1;
    if (event.type === "file_system_event") fileChanges++;
    else if (event.type === "file_system_summary") {
      fileChanges += Number(event.total ?? 0);
    }
  }
  return { byType, fileChanges };
}

/** The shipped default policy with `mode: block`. */
export function blockModePolicy(text: string): string {
  const block = text.replace(/^mode: audit$/m, "mode: block");
  if (block === text) throw new Error("default.yaml: no `mode: audit` line");
  return block;
}

async function digest(): Promise<string> {
  const parts = await Promise.all(
    [...INPUTS.map((name) => `${HERE}${name}`), WORKLOAD]
      .map((path) => Deno.readFile(path)),
  );
  const all = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    all.set(part, offset);
    offset += part.length;
  }
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(hash, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}

async function command(
  binary: string,
  args: string[],
  timeoutMs: number,
): Promise<{ success: boolean; stdout: string; stderr: string }> {
  try {
    const output = await new Deno.Command(binary, {
      args,
      stdout: "piped",
      stderr: "piped",
      signal: AbortSignal.timeout(timeoutMs),
    }).output();
    const decode = (bytes: Uint8Array) => new TextDecoder().decode(bytes);
    return {
      success: output.success,
      stdout: decode(output.stdout),
      stderr: decode(output.stderr),
    };
  } catch (error) {
    return { success: false, stdout: "", stderr: String(error) };
  }
}

const lastLine = (text: string) =>
  text.trim().split("\n").at(-1)?.slice(0, 200) ?? "";

/** npm's own reason in its error output (`npm error FetchError: ...`). */
const npmReason = (text: string) =>
  (text.match(/^npm (?:error|ERR!) (\w*Error: .*)$/m)?.[1] ??
    lastLine(text)).slice(0, 200);

/**
 * Prepares the project under `cache` unless it is prepared from the same
 * inputs already. Returns why not when npm or the registry is missing.
 */
async function prepare(cache: string): Promise<string | undefined> {
  const stamp = `${cache}/prepared`;
  const want = await digest();
  const have = await Deno.readTextFile(stamp).catch(() => "");
  if (have.trim() === want) return undefined;
  const npm = await command("sh", ["-c", "command -v npm"], 5_000);
  if (!npm.success) return "npm not installed";
  console.log(`npm_ci: preparing ${cache} (npm ci from the registry, once)`);
  const ping = await command(
    "npm",
    ["ping", "--fetch-retries=0", "--fetch-timeout=15000"],
    30_000,
  );
  if (!ping.success) {
    return `npm registry unreachable (npm ping: ${npmReason(ping.stderr)})`;
  }
  await Deno.remove(stamp).catch(() => {});
  await Deno.mkdir(cache, { recursive: true });
  const made = await command(WORKLOAD, ["prepare", cache], 600_000);
  if (!made.success) {
    return `preparing the project failed: ${lastLine(made.stderr)}`;
  }
  await Deno.writeTextFile(stamp, `${want}\n`);
  return undefined;
}

/**
 * The prepared job (`rounds` rounds a run), run by a shell named
 * `Runner.Worker`, or why it cannot run here; prepared under `base`.
 */
export async function npmCiJob(
  rounds = 1,
  base = Deno.env.get("BENCH_CACHE") ?? "/var/tmp/ringfence-bench",
): Promise<NpmCiJob | { skipped: string }> {
  const cache = `${base}/npmci`;
  const why = await prepare(cache);
  if (why) return { skipped: why };
  // The job runs in a copy of the project on a journaled ext4, as on a
  // hosted runner (`journaled_dir.ts`); npm's cache is only read.
  const work = await journaledDir("ringfence-npmci-");
  const copied = await copyProject(cache, work.path);
  if (copied) {
    await work.close();
    return { skipped: copied };
  }
  const project = await Deno.realPath(`${work.path}/project`);
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  const shell = await rootShell(dir, "Runner.Worker");
  const run = async (): Promise<JobRun> => {
    const output = await command(
      shell,
      [WORKLOAD, "run", work.path, String(rounds)],
      600_000,
    );
    const job = parseJobOutput(output.stdout);
    if (!output.success || !job) {
      throw new Error(`npm ci workload failed: ${lastLine(output.stderr)}`);
    }
    return job;
  };
  const close = async () => {
    await Deno.remove(dir, { recursive: true });
    await work.close();
  };
  try {
    await run(); // warms the page cache, and checks the cache is complete
  } catch (error) {
    await close();
    // A cache emptied since it was prepared: prepare it again next time.
    await Deno.remove(`${cache}/prepared`).catch(() => {});
    return { skipped: `the prepared job does not run: ${error}` };
  }
  return { project, where: work.where, run, close };
}

/**
 * Copies the prepared project (without its build's output) to `to`, with
 * npm's cache linked beside it as the workload looks for it; why not when
 * it fails.
 */
async function copyProject(
  cache: string,
  to: string,
): Promise<string | undefined> {
  await Deno.mkdir(`${to}/project`);
  await Deno.symlink(`${cache}/npm-cache`, `${to}/npm-cache`);
  for await (const entry of Deno.readDir(`${cache}/project`)) {
    if (entry.name === "node_modules" || entry.name === "out") continue;
    const copied = await command(
      "cp",
      ["-a", `${cache}/project/${entry.name}`, `${to}/project/`],
      60_000,
    );
    if (!copied.success) {
      return `copying the project failed: ${lastLine(copied.stderr)}`;
    }
  }
  return undefined;
}

/**
 * Runs the job `pairs` times under the agent (and under bpftrace when
 * `peers` asks for it), each time between runs alone (`rounds.ts`), every
 * run `rounds` rounds of the job.
 */
export async function npmCi(
  pairs = 5,
  rounds = 1,
  peers: Peer[] = [],
): Promise<NpmCiResult> {
  const job = await npmCiJob(rounds);
  if ("skipped" in job) return job;
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  try {
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      blockModePolicy(await Deno.readTextFile(DEFAULT_POLICY)),
    );
    const events = `${dir}/events.jsonl`;
    const withBpftrace = peers.includes("bpftrace");
    const bpftraceSkipped = withBpftrace
      ? await peerMissing("bpftrace")
      : undefined;
    const result = {
      rounds,
      pairs,
      where: job.where,
      baseline: [] as JobRun[],
      baselineSeconds: [] as number[],
      agentRuns: [] as NpmCiAgentRun[],
      bpftrace: withBpftrace && !bpftraceSkipped ? [] as PeerRun[] : undefined,
      bpftraceSkipped,
      place: { index: 0, of: withBpftrace && !bpftraceSkipped ? 2 : 1 },
      statsWereOn: await bpfStatsEnabled(),
      kernel: { skipped: "not run" } as KernelTime,
    };
    const alone = async () => {
      const run = await job.run();
      result.baseline.push(run);
      result.baselineSeconds.push(run.seconds);
    };
    const underAgent = async () => {
      let jobCpuSeconds = 0, agentCpuSeconds = 0;
      const run = await withAgent(
        policy,
        async (agentPid) => {
          const cpu0 = await cpuSecondsOf(agentPid);
          const timed = await job.run();
          // Until the agent has read and written the job's last records.
          await new Promise((resolve) => setTimeout(resolve, 300));
          agentCpuSeconds = await cpuSecondsOf(agentPid) - cpu0;
          jobCpuSeconds = timed.cpuSeconds;
          return timed.seconds;
        },
        "source",
        events,
        { GITHUB_WORKSPACE: job.project },
      );
      const counts = countEvents(await Deno.readTextFile(events));
      result.agentRuns.push({
        ...run,
        jobCpuSeconds,
        agentCpuSeconds,
        ...counts,
      });
    };
    const underBpftrace = async () => {
      let cpu = 0;
      const traced = await underPeer(
        "bpftrace",
        `${dir}/bpftrace.log`,
        async () => {
          const timed = await job.run();
          cpu = timed.cpuSeconds;
          return timed.seconds;
        },
      );
      result.bpftrace!.push({ ...traced, jobCpuSeconds: cpu });
    };
    await bracketed(
      pairs,
      alone,
      result.bpftrace ? [underAgent, underBpftrace] : [underAgent],
    );
    try {
      let jobCpuSeconds = 0, programs: ProgramTime[] = [];
      await withAgent(
        policy,
        async () => {
          const counted = await withBpfStats(() => job.run());
          programs = counted.programs;
          jobCpuSeconds = counted.result.cpuSeconds;
          return counted.result.seconds;
        },
        "source",
        events,
        { GITHUB_WORKSPACE: job.project },
      );
      result.kernel = { programs, jobCpuSeconds };
    } catch (error) {
      result.kernel = { skipped: String(error) };
    }
    return result;
  } finally {
    await job.close();
    await Deno.remove(dir, { recursive: true });
  }
}

const ratioText = (ratio: number) => `${ratio.toFixed(3)}x`;

/** The bench's rows beyond the storms' shared ones (main.ts prints both). */
export function npmCiRows(
  result: Exclude<NpmCiResult, { skipped: string }>,
): BenchRow[] {
  const rows: BenchRow[] = [];
  const ratios = roundRatios(
    result.baselineSeconds,
    result.agentRuns.map((run) => run.seconds),
    result.place,
  );
  rows.push({
    name: "project on",
    value: result.where,
    target: "(as a hosted runner's disk)",
  });
  rows.push({
    name: "pair ratios (min..max)",
    value: `${Math.min(...ratios).toFixed(2)}..${
      Math.max(...ratios).toFixed(2)
    }x`,
    target: `${result.pairs} pairs of ${result.rounds} round(s)`,
  });
  const aloneCpu = result.baseline.map((run) => run.cpuSeconds);
  const cpuRatio = median(
    roundRatios(
      aloneCpu,
      result.agentRuns.map((run) => run.jobCpuSeconds + run.agentCpuSeconds),
      result.place,
    ),
  );
  rows.push({
    name: "CPU ratio: (job + agent) / job alone",
    value: ratioText(cpuRatio),
    target: `job alone ${median(aloneCpu).toFixed(2)} s of CPU (median)`,
  });
  const jobCpuRatio = median(
    roundRatios(
      aloneCpu,
      result.agentRuns.map((run) => run.jobCpuSeconds),
      result.place,
    ),
  );
  rows.push({
    name: "job's own CPU: with agent / alone",
    value: ratioText(jobCpuRatio),
    target: "the programs in its syscalls, and sharing the cores",
  });
  rows.push({
    name: "agent peak RSS, each run",
    value: `${
      Math.max(...result.agentRuns.map((run) => run.peakRssMb))
        .toFixed(1)
    } MB`,
    target: result.agentRuns.map((run) => run.peakRssMb.toFixed(1)).join(", "),
  });
  const agentCpu = median(result.agentRuns.map((run) => run.agentCpuSeconds));
  rows.push({
    name: "agent CPU per run (median)",
    value: `${agentCpu.toFixed(2)} s`,
    target: "all its threads, armed to drained",
  });
  const perEvent = median(
    result.agentRuns.map((run) => 1e6 * run.agentCpuSeconds / run.events),
  );
  rows.push({
    name: "agent CPU per event (median)",
    value: `${perEvent.toFixed(1)} us`,
    target: "",
  });
  const counts = result.agentRuns.map((run) => run.events);
  const low = Math.min(...counts), high = Math.max(...counts);
  rows.push({
    name: "events per run (min..max)",
    value: low === high ? String(low) : `${low}..${high}`,
    target: "every event delivered or counted",
  });
  const changes = result.agentRuns.map((run) => run.fileChanges);
  const fewest = Math.min(...changes), most = Math.max(...changes);
  rows.push({
    name: "file changes reported or counted (min..max)",
    value: fewest === most ? String(fewest) : `${fewest}..${most}`,
    target: "file_system_events + file_system_summary totals",
  });
  const last = result.agentRuns.at(-1)!.byType;
  rows.push({
    name: "events by type (last run)",
    value: String(Object.values(last).reduce((a, b) => a + b, 0)),
    target: Object.entries(last).sort((a, b) => b[1] - a[1])
      .map(([type, count]) => `${type} ${count}`).join(", "),
  });
  rows.push(...kernelRows(result));
  if (result.bpftrace) {
    rows.push(...peerPairRows("bpftrace", {
      baselineSeconds: result.baselineSeconds,
      runs: result.bpftrace,
      place: { index: 1, of: 2 },
    }));
  } else if (result.bpftraceSkipped) {
    rows.push({
      name: "bpftrace: skipped",
      value: "-",
      target: result.bpftraceSkipped,
    });
  }
  return rows;
}

/** The in-kernel run time rows (and a warning if it was counted all along). */
function kernelRows(
  result: Exclude<NpmCiResult, { skipped: string }>,
): BenchRow[] {
  const rows: BenchRow[] = [];
  if (result.statsWereOn) {
    rows.push({
      name: "WARNING: kernel.bpf_stats_enabled was 1",
      value: "-",
      target: "every program run above paid two clock reads more",
    });
  }
  const kernel = result.kernel;
  if ("skipped" in kernel) {
    rows.push({
      name: "in-kernel BPF time: not measured",
      value: "-",
      target: kernel.skipped,
    });
    return rows;
  }
  const ms = (ns: number) => (ns / 1e6).toFixed(ns < 1e7 ? 1 : 0);
  const total = kernel.programs.reduce((sum, program) => sum + program.ns, 0);
  rows.push({
    name: "in-kernel BPF time, one more run",
    value: `${ms(total)} ms`,
    target: `${
      (100 * total / 1e9 / kernel.jobCpuSeconds).toFixed(1)
    } % of the job's CPU (kernel.bpf_stats_enabled, that run only)`,
  });
  rows.push({
    name: "in-kernel BPF time by program",
    value: String(kernel.programs.length),
    target: kernel.programs.slice(0, 8).map((program) =>
      `${program.name}${program.count > 1 ? ` x${program.count}` : ""} ${
        ms(program.ns)
      } ms (${program.runs} runs)`
    ).join(", "),
  });
  return rows;
}
