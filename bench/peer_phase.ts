/**
 * The peers' phase of `deno task bench` (`BENCH_PEERS`): bpftrace and then
 * auditd around the storms' workloads and the npm ci job, each run between
 * two runs of the same work alone (`rounds.ts`; the file storm on a
 * journaled ext4 as ringfence's, `journaled_dir.ts`), and the side-by-side
 * table of the overhead ratios of ringfence (from its own benches in the
 * same run), bpftrace and auditd. bpftrace's npm ci runs were made in the
 * npm_ci bench's rounds;
 * auditd runs last of all, as it slows every process started after it.
 *
 * auditd's ratios are paired with baselines that run after its first
 * start, on the syscall path audit leaves every new process on: they are
 * its cost beyond that path, a lower bound of what it costs a job.
 *
 * @module
 */

import { rootShell, timed } from "./_agent.ts";
import { WORKLOAD as FILE_WORKLOAD } from "./file_storm.ts";
import { journaledDir } from "./journaled_dir.ts";
import { npmCiJob, type NpmCiResult } from "./npm_ci.ts";
import {
  type BenchRow,
  pairRatio,
  type Peer,
  peerMissing,
  peerPairRows,
  type PeerPairs,
  peerPairs,
} from "./peers.ts";

const CONNECTS = new URL("./connect_workload.py", import.meta.url).pathname;

/** What the phase runs: which workloads, how many pairs, their sizes. */
export interface PeerPhaseOptions {
  peers: Peer[];
  pairs: number;
  execs: number;
  connects: number;
  files: number;
  /** Benches selected in this run: a peer runs their workloads only. */
  selected: (bench: string) => boolean;
  /** The npm_ci bench's result (with bpftrace's runs), when it ran. */
  npm?: NpmCiResult;
}

/** The phase's figures: rows for the table, ratios for the comparison. */
export interface PeerPhaseResult {
  /** Rows, each named `workload: peer: ...`. */
  rows: BenchRow[];
  /** Overhead ratio (median of pairs) by workload, then by peer. */
  ratios: Record<string, Partial<Record<Peer, number>>>;
}

async function loopTime(shell: string, command: string): Promise<number> {
  const output = await new Deno.Command(shell, {
    args: ["-c", command],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const elapsed = text.match(/elapsed=([\d.]+)/);
  if (!output.success || !elapsed) throw new Error(`workload failed: ${text}`);
  return Number(elapsed[1]);
}

/** Runs the peers' phase (see the module's doc). */
export async function peerPhase(
  options: PeerPhaseOptions,
): Promise<PeerPhaseResult> {
  const result: PeerPhaseResult = { rows: [], ratios: {} };
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  const npm = options.npm;
  const npmRan = npm !== undefined && !("skipped" in npm);
  const npmJob = npmRan && options.peers.includes("auditd")
    ? await npmCiJob()
    : undefined;
  const files = await journaledDir("ringfence-bench-");
  try {
    const shell = await rootShell(dir, "rfpeers");
    const fileWorkload = `${dir}/file_workload.py`;
    await Deno.writeTextFile(fileWorkload, FILE_WORKLOAD);
    const loop = `for ((i=0; i<${options.execs}; i++)); do /bin/true; done`;
    const workloads: [string, () => Promise<number>][] = [];
    if (options.selected("exec_storm")) {
      workloads.push(["exec_storm", () => timed(shell, loop)]);
    }
    if (options.selected("connect_storm")) {
      workloads.push([
        "connect_storm",
        () =>
          loopTime(shell, `/usr/bin/python3 ${CONNECTS} ${options.connects}`),
      ]);
    }
    if (options.selected("file_storm")) {
      workloads.push([
        "file_storm",
        () =>
          loopTime(
            shell,
            `/usr/bin/python3 ${fileWorkload} ${files.path} ${options.files}`,
          ),
      ]);
    }
    const add = (workload: string, peer: Peer, pairs: PeerPairs) => {
      for (const row of peerPairRows(peer, pairs)) {
        result.rows.push({ ...row, name: `${workload}: ${row.name}` });
      }
      (result.ratios[workload] ??= {})[peer] = pairRatio(pairs);
    };
    if (npmRan && npm.bpftrace) {
      // Its rows are the npm_ci bench's.
      result.ratios.npm_ci = {
        bpftrace: pairRatio({
          baselineSeconds: npm.baselineSeconds,
          runs: npm.bpftrace,
          place: { index: 1, of: 2 },
        }),
      };
    }
    for (const peer of options.peers) {
      const missing = await peerMissing(peer);
      if (missing) {
        result.rows.push({
          name: `${peer}: skipped`,
          value: "-",
          target: missing,
        });
        continue;
      }
      const own = [...workloads];
      if (peer === "auditd" && npmJob && !("skipped" in npmJob)) {
        own.push(["npm_ci", async () => (await npmJob.run()).seconds]);
      }
      for (const [workload, work] of own) {
        // A warm-up, so that the first pair's baseline is not the coldest.
        await work();
        add(workload, peer, await peerPairs(peer, dir, work, options.pairs));
      }
    }
    return result;
  } finally {
    await files.close();
    if (npmJob && !("skipped" in npmJob)) await npmJob.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The side-by-side markdown table: one row per workload, the overhead
 * ratios of ringfence, bpftrace and auditd (a dash where one did not run;
 * no row where none did).
 */
export function comparisonTable(
  workloads: { name: string; label: string; ringfence?: string }[],
  ratios: PeerPhaseResult["ratios"],
): string {
  const cell = (ratio?: number) =>
    ratio === undefined ? "-" : `${ratio.toFixed(2)}x`;
  const lines = [
    "| workload | ringfence | bpftrace | auditd |",
    "| --- | ---: | ---: | ---: |",
  ];
  for (const { name, label, ringfence } of workloads) {
    const peers = ratios[name] ?? {};
    if (!ringfence && !peers.bpftrace && !peers.auditd) continue;
    lines.push(
      `| ${label} | ${ringfence ?? "-"} | ${cell(peers.bpftrace)} | ${
        cell(peers.auditd)
      } |`,
    );
  }
  return lines.join("\n");
}
