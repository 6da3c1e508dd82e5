/**
 * The monitors users could pick instead of ringfence, run around the same
 * work in the same bench run: bpftrace with tracepoint probes
 * (`peers.bt`: one line per exec, connect and open for writing) and auditd
 * with rules for the same syscalls (`peer_auditd.sh`). Opt-in, with
 * `BENCH_PEERS`: bpftrace needs tracefs, which this mounts in a private
 * mount namespace of bpftrace's own (it is gone when bpftrace exits), and
 * auditd leaves every process started after it on the kernel's slower
 * syscall path until reboot, so it runs after everything else.
 *
 * @module
 */

import { median } from "./_agent.ts";
import { bracketed, type Place, roundRatios } from "./rounds.ts";

const HERE = new URL("./", import.meta.url).pathname;

/** A monitor the bench compares ringfence with. */
export type Peer = "bpftrace" | "auditd";

/** Every peer, in the order they run: auditd last. */
export const PEERS: readonly Peer[] = ["bpftrace", "auditd"];

/**
 * The peers `BENCH_PEERS` asks for: `1` or `all` for both, else a comma
 * list of names; none when unset, empty or `0`.
 *
 * @throws {Error} naming an unknown peer.
 */
export function wantedPeers(value: string | undefined): Peer[] {
  const text = value?.trim() ?? "";
  if (text === "" || text === "0") return [];
  if (text === "1" || text === "all") return [...PEERS];
  const names = text.split(",").map((name) => name.trim()).filter(Boolean);
  for (const name of names) {
    if (!PEERS.includes(name as Peer)) {
      throw new Error(
        `BENCH_PEERS: unknown peer ${
          JSON.stringify(name)
        } (bpftrace, auditd, 1)`,
      );
    }
  }
  return PEERS.filter((peer) => names.includes(peer));
}

/** One run of work under a peer. */
export interface PeerRun {
  /** How long the work took, by its own clock. */
  seconds: number;
  /** The peer's CPU seconds during the work (auditd: with kauditd). */
  cpuSeconds: number;
  /** Records the peer wrote. */
  records: number;
  /** Records the peer says it lost. */
  lost: number;
  /** The work's own CPU seconds, where it reports them. */
  jobCpuSeconds?: number;
}

/** Why `peer` cannot run here, or undefined when it can. */
export async function peerMissing(peer: Peer): Promise<string | undefined> {
  const tools = peer === "bpftrace"
    ? ["bpftrace", "unshare"]
    : ["auditd", "auditctl"];
  for (const tool of tools) {
    const found = await new Deno.Command("sh", {
      args: ["-c", `command -v ${tool}`],
      stdout: "null",
    }).output();
    if (!found.success) {
      return `${tool} not installed (apt-get install -y ${
        peer === "bpftrace" ? "bpftrace" : "auditd"
      })`;
    }
  }
  if (peer === "auditd") {
    const running = await new Deno.Command("pgrep", { args: ["-x", "auditd"] })
      .output();
    if (running.success) return "an auditd is already running";
  }
  return undefined;
}

/** utime + stime of `pid` in seconds, from /proc (0 once it is gone). */
export async function cpuSecondsOf(pid: number): Promise<number> {
  try {
    const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
    // Fields after the command name, which may hold spaces: utime, stime
    // are the 14th and 15th fields, the 12th and 13th after ") ".
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return 0;
  }
}

const sleep = (ms: number) => new Promise((done) => setTimeout(done, ms));

async function lines(path: string): Promise<string[]> {
  const text = await Deno.readTextFile(path).catch(() => "");
  return text.split("\n").filter(Boolean);
}

/** Runs `work` under bpftrace writing to `log`. */
async function underBpftrace(
  log: string,
  work: () => Promise<number>,
): Promise<PeerRun> {
  await Deno.writeTextFile(log, "");
  // unshare execs sh, which execs bpftrace: one pid throughout.
  const child = new Deno.Command("unshare", {
    args: [
      "--mount",
      "--propagation",
      "private",
      "sh",
      "-c",
      'mount -t tracefs nodev /sys/kernel/tracing && exec bpftrace -o "$0" "$1"',
      log,
      `${HERE}peers.bt`,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let attached = false;
  for (let attempt = 0; attempt < 600 && !attached; attempt++) {
    attached = (await Deno.readTextFile(log)).startsWith("Attaching");
    if (!attached) await sleep(50);
  }
  if (!attached) {
    child.kill("SIGKILL");
    const stderr = new TextDecoder().decode((await child.output()).stderr);
    throw new Error(`bpftrace did not attach: ${stderr.trim()}`);
  }
  const cpu0 = await cpuSecondsOf(child.pid);
  const seconds = await work();
  await sleep(100); // its last perf buffers
  const cpu = await cpuSecondsOf(child.pid) - cpu0;
  child.kill("SIGINT");
  await child.output();
  const output = await lines(log);
  const lost = output
    .map((line) => line.match(/^Lost (\d+) events/)?.[1])
    .reduce((sum, count) => sum + Number(count ?? 0), 0);
  const records = output.filter((line) => /^[A-Z]+ pid=/.test(line)).length;
  return { seconds, cpuSeconds: cpu, records, lost };
}

/** Runs `work` under auditd writing to `log` (peer_auditd.sh). */
async function underAuditd(
  log: string,
  work: () => Promise<number>,
): Promise<PeerRun> {
  const script = `${HERE}peer_auditd.sh`;
  const start = await new Deno.Command(script, { args: ["start", log] })
    .output();
  if (!start.success) {
    throw new Error(
      `auditd did not start: ${new TextDecoder().decode(start.stderr)}`,
    );
  }
  const stopped = () => new Deno.Command(script, { args: ["stop"] }).output();
  let seconds: number;
  try {
    seconds = await work();
  } catch (error) {
    await stopped();
    throw error;
  }
  const stop = await stopped();
  const said = new TextDecoder().decode(stop.stdout);
  const number = (name: string) =>
    Number(said.match(new RegExp(`${name}=([\\d.-]+)`))?.[1] ?? NaN);
  const records = (await lines(log))
    .filter((line) => line.startsWith("type=SYSCALL")).length;
  return {
    seconds,
    cpuSeconds: number("peer_cpu") + number("kauditd_cpu"),
    records,
    lost: number("lost"),
  };
}

/**
 * Runs `work` (which returns its own time) under `peer`, its records going
 * to `log`, and returns the peer's figures.
 */
export function underPeer(
  peer: Peer,
  log: string,
  work: () => Promise<number>,
): Promise<PeerRun> {
  return peer === "bpftrace"
    ? underBpftrace(log, work)
    : underAuditd(log, work);
}

/** Baseline times and peer runs of one workload, pair by pair. */
export interface PeerPairs {
  /** The runs alone, one more than the peer's (`rounds.ts`). */
  baselineSeconds: number[];
  runs: PeerRun[];
  /** Where the peer's run is among a round's; the first of one if not said. */
  place?: Place;
}

/**
 * `pairs` runs of `work` under `peer`, each between two runs of `work`
 * alone (`rounds.ts`), the peer's log in `dir`.
 */
export async function peerPairs(
  peer: Peer,
  dir: string,
  work: () => Promise<number>,
  pairs: number,
): Promise<PeerPairs> {
  const result: PeerPairs = { baselineSeconds: [], runs: [] };
  await bracketed(
    pairs,
    async () => result.baselineSeconds.push(await work()),
    [async () =>
      result.runs.push(await underPeer(peer, `${dir}/${peer}.log`, work))],
  );
  return result;
}

/** One row for main.ts's table: name, figure, target, met. */
export interface BenchRow {
  name: string;
  value: string;
  target: string;
  met?: boolean;
}

/** The median of the per-pair ratios peer / alone. */
export function pairRatio(pairs: PeerPairs): number {
  return median(
    roundRatios(
      pairs.baselineSeconds,
      pairs.runs.map((run) => run.seconds),
      pairs.place,
    ),
  );
}

/** A peer's rows for one workload: its ratio, records, losses and CPU. */
export function peerPairRows(peer: Peer, pairs: PeerPairs): BenchRow[] {
  const records = pairs.runs.map((run) => run.records);
  const low = Math.min(...records), high = Math.max(...records);
  const lost = pairs.runs.reduce((sum, run) => sum + run.lost, 0);
  const cpu = median(pairs.runs.map((run) => run.cpuSeconds));
  return [
    {
      name: `${peer}: overhead ratio (median of pairs)`,
      value: `${pairRatio(pairs).toFixed(3)}x`,
      target: `peer, ${pairs.runs.length} pairs`,
    },
    {
      name: `${peer}: records per run, lost (all pairs)`,
      value: `${low === high ? low : `${low}..${high}`}, ${lost} lost`,
      target: `its CPU per run ${cpu.toFixed(2)} s (median)`,
    },
  ];
}
