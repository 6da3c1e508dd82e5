/**
 * `deno task bench`: speed and memory of ringfence, each figure printed as a
 * ratio against a baseline measured in the same run. Not a test: nothing
 * here fails on a slow machine; the targets are printed beside the figures.
 * It ends with every figure as one markdown table (metric | figure |
 * target), the table docs/performance.md keeps.
 *
 * Environment: BENCH_EXECS (default 3000), BENCH_CONNECTS (default 10000),
 * BENCH_FILES (create/write/unlink cycles, default 3000), BENCH_PAIRS
 * (default 5), BENCH_BULK_MB (default 100), BENCH_ONLY (a comma list of
 * ring_decode, startup, exec_storm, connect_storm, bulk_transfer,
 * file_storm, agent_cpu, and soak and hook_floor, which run only when
 * named), BENCH_SOAK_MINUTES (default 60), BENCH_CPU_ROUNDS (agent_cpu's
 * runs of each kind, default 3), BENCH_FLOOR_CYCLES (hook_floor's loop,
 * default 20000; its rounds are BENCH_PAIRS), BENCH_AGENT_V8_FLAGS (V8
 * flags added after the shipped ones for every agent the bench starts: an
 * experiment, not what users run).
 *
 * npm_ci, a real job (a BENCH_ONLY name too): BENCH_NPM_PAIRS (default
 * BENCH_PAIRS if set, else 25), BENCH_NPM_ROUNDS (npm ci + tsc rounds a run,
 * default 1), BENCH_CACHE (where it keeps its prepared project, default
 * /var/tmp/ringfence-bench). BENCH_PEERS (bpftrace, auditd or 1 for both)
 * runs the peers around the same workloads, auditd last (peer_phase.ts).
 *
 * @module
 */

import { type AgentRun, median } from "./_agent.ts";
import { medianInterval, type Place, roundRatios } from "./rounds.ts";
import { agentCpu } from "./agent_cpu.ts";
import { bulkTransfer, connectStorm } from "./connect_storm.ts";
import { execStorm } from "./exec_storm.ts";
import { fileStorm, type FileTreeResult } from "./file_storm.ts";
import {
  connectFloor,
  execFloor,
  hookFloor,
  type StormFloor,
} from "./hook_floor.ts";
import { npmCi, type NpmCiResult, npmCiRows } from "./npm_ci.ts";
import { comparisonTable, peerPhase } from "./peer_phase.ts";
import { wantedPeers } from "./peers.ts";
import { ringDecode } from "./ring_decode.ts";
import { soak } from "./soak.ts";
import { startup } from "./startup.ts";

/** One printed figure, kept for the closing markdown table. */
interface Figure {
  metric: string;
  figure: string;
  target: string;
  met?: boolean;
}

const figures: Figure[] = [];
let section = "";

/** Starts a benchmark's block of rows; `name` prefixes its table rows. */
function heading(name: string, detail: string): void {
  section = name;
  console.log(`\n== ${name}: ${detail}`);
}

function row(name: string, value: string, target: string, met?: boolean) {
  const mark = met === undefined ? "" : met ? "  ok" : "  MISSED";
  console.log(`${name.padEnd(44)} ${value.padStart(16)}   ${target}${mark}`);
  figures.push({ metric: `${section}: ${name}`, figure: value, target, met });
}

/** The figures as a markdown table, with the machine they were taken on. */
function printTable(): void {
  const cell = (text: string) => text.replaceAll("|", "\\|");
  const date = new Date().toISOString().slice(0, 10);
  const machine =
    `Linux ${Deno.osRelease()}, ${navigator.hardwareConcurrency} CPUs`;
  console.log(`\n${date}, ${machine}, Deno ${Deno.version.deno}:\n`);
  console.log("| metric | figure | target |");
  console.log("| --- | ---: | --- |");
  for (const { metric, figure, target, met } of figures) {
    const mark = met === undefined ? "" : met ? " (met)" : " (MISSED)";
    const goal = target.replace(/^target /, "") + mark;
    console.log(`| ${cell(metric)} | ${cell(figure)} | ${cell(goal)} |`);
  }
}

const rssTarget = "target <= 64 MB";

/**
 * Prints the rows every storm shares: loop times, the median of the
 * per-pair overhead ratios, delivered events per second and drops.
 */
function printPairs(
  storm: { baselineSeconds: number[]; agentRuns: AgentRun[]; place?: Place },
  overheadTarget: string,
  overheadMet?: (ratio: number) => boolean,
  rssNote?: string,
): void {
  const ratios = roundRatios(
    storm.baselineSeconds,
    storm.agentRuns.map((run) => run.seconds),
    storm.place,
  );
  const ratio = median(ratios);
  const interval = medianInterval(ratios);
  row(
    "baseline loop (median)",
    `${median(storm.baselineSeconds).toFixed(3)} s`,
    "",
  );
  row(
    "with agent (median)",
    `${median(storm.agentRuns.map((run) => run.seconds)).toFixed(3)} s`,
    "",
  );
  row(
    "overhead ratio (median of pairs)",
    `${ratio.toFixed(3)}x`,
    overheadTarget,
    overheadMet?.(ratio),
  );
  row(
    "overhead ratio: where the median lies",
    `${interval.low.toFixed(3)}..${interval.high.toFixed(3)}x`,
    `${
      (100 * interval.coverage).toFixed(1)
    } % interval (pairs' order statistics)`,
  );
  const rates = storm.agentRuns.map((run) => run.events / run.seconds);
  row("events delivered per second", `${Math.round(median(rates))}/s`, "");
  const drops = storm.agentRuns.reduce((sum, run) => sum + run.drops, 0);
  row("drops (all pairs)", String(drops), "target 0", drops === 0);
  const rss = Math.max(...storm.agentRuns.map((run) => run.peakRssMb));
  // The RSS target is the exec storm's; the others say what differs.
  row(
    "agent peak RSS (max of pairs)",
    `${rss.toFixed(1)} MB`,
    rssNote ?? rssTarget,
    rssNote ? undefined : rss <= 64,
  );
}

/**
 * Prints the file_system_events each agent run delivered against the count
 * expected; a count far off is a WARNING row (a sensor bug, not slowness).
 */
function printFileEvents(
  tree: FileTreeResult,
  expected: number,
  farOff: (count: number) => boolean,
): void {
  const counts = tree.agentRuns.map((run) => run.fileEvents);
  const low = Math.min(...counts), high = Math.max(...counts);
  row(
    "file_system_events per run (min..max)",
    low === high ? String(low) : `${low}..${high}`,
    `expected ${expected}`,
    low === expected && high === expected,
  );
  const kinds = (run: { kinds: Record<string, number> }) =>
    Object.entries(run.kinds).map(([kind, count]) => `${kind} ${count}`)
      .join(", ") || "none";
  if (counts.some(farOff)) {
    row(
      "WARNING: file_system_event count far off",
      `${counts.join(" ")}`,
      `per run; by kind: ${tree.agentRuns.map(kinds).join(" | ")}`,
    );
  }
}

if (Deno.uid() !== 0) {
  console.error("bench: needs root (it loads BPF programs)");
  Deno.exit(2);
}

const execs = Number(Deno.env.get("BENCH_EXECS") ?? 3000);
const connects = Number(Deno.env.get("BENCH_CONNECTS") ?? 10_000);
const files = Number(Deno.env.get("BENCH_FILES") ?? 3000);
const pairs = Number(Deno.env.get("BENCH_PAIRS") ?? 5);
const only = Deno.env.get("BENCH_ONLY")?.split(",");
const selected = (name: string) => !only || only.includes(name);
const peers = wantedPeers(Deno.env.get("BENCH_PEERS"));

if (selected("ring_decode")) {
  heading("ring_decode", "decoded process_events per second, full ring");
  const decode = ringDecode();
  row("records per drain", String(decode.records), "");
  row(
    "direct reader (mmap + Atomics)",
    `${(decode.directPerSecond / 1e6).toFixed(2)} M/s`,
    "target >= 1 M/s",
    decode.directPerSecond >= 1e6,
  );
  row(
    "baseline: libbpf ring_buffer__consume + callback",
    `${(decode.libbpfPerSecond / 1e6).toFixed(2)} M/s`,
    "",
  );
  row(
    "ratio direct / baseline",
    `${(decode.directPerSecond / decode.libbpfPerSecond).toFixed(1)}x`,
    "",
  );
}

if (selected("startup")) {
  heading("startup", `${pairs} starts from source and from the bundle`);
  const result = await startup(pairs);
  const { deno } = result;
  row(
    "baseline: Deno alone, ready after spawn (median)",
    `${deno.readyAfterSpawnMs} ms`,
    "(an empty script, same flags)",
  );
  row(
    "baseline: Deno alone, peak RSS (max)",
    `${deno.peakRssMb.toFixed(1)} MB`,
    "",
  );
  for (const form of ["source", "bundle"] as const) {
    const { first, runs } = result[form];
    row(
      `${form}: first start: armed / peak RSS`,
      `${first.armedMs} ms / ${first.peakRssMb.toFixed(1)} MB`,
      form === "bundle" ? "(empty DENO_DIR: a fresh machine)" : "",
    );
    const armed = median(runs.map((run) => run.armedMs));
    row(
      `${form}: armed after process start (median)`,
      `${armed} ms`,
      "target <= 100 ms",
      armed <= 100,
    );
    const spawn = median(runs.map((run) => run.readyAfterSpawnMs));
    row(
      `${form}: ready after spawn, wall clock (median)`,
      `${spawn} ms`,
      `${(spawn / deno.readyAfterSpawnMs).toFixed(1)}x Deno alone`,
    );
    const wrapped = Math.round(result[form].wrappedTrueMs);
    row(
      `${form}: run -- /bin/true, spawn to exit (median)`,
      `${wrapped} ms`,
      `${
        (wrapped / deno.exitAfterSpawnMs).toFixed(1)
      }x Deno alone (an empty script: ${Math.round(deno.exitAfterSpawnMs)} ms)`,
    );
    const rss = Math.max(...runs.map((run) => run.peakRssMb));
    row(
      `${form}: agent peak RSS (max)`,
      `${rss.toFixed(1)} MB`,
      `${rssTarget}; Deno alone + ${(rss - deno.peakRssMb).toFixed(1)} MB`,
      rss <= 64,
    );
  }
  row(
    "source: armed with the default policy (median)",
    `${result.defaultPolicyArmedMs} ms`,
    "(its files section adds sensor.file-system)",
  );
}

if (selected("exec_storm")) {
  heading("exec_storm", `${execs} x fork+exec /bin/true, ${pairs} pairs`);
  const storm = await execStorm(execs, pairs);
  printPairs(storm, "target <= 1.03x", (ratio) => ratio <= 1.03);
  const { burst } = storm;
  if (burst.fallback) {
    row("burst: exec_burst not built", burst.fallback, "(a bash loop instead)");
  }
  const fast = burst.execsPerSecond >= 10_000;
  const unwatched = burst.execsPerSecond * burst.seconds /
    burst.baselineSeconds;
  row(
    `burst: execs per second (${burst.driver}, one per core)`,
    `${Math.round(burst.execsPerSecond)}/s`,
    fast
      ? ""
      : unwatched < 10_000
      ? "below 10k/s: this machine cannot make 10k execs/s"
      : "below 10k/s with the agent taking its share of the cores",
  );
  row(
    "burst: overhead ratio (one burst each way)",
    `${(burst.seconds / burst.baselineSeconds).toFixed(3)}x`,
    `without the agent: ${
      Math.round(burst.execsPerSecond * burst.seconds / burst.baselineSeconds)
    } execs/s`,
  );
  row(
    "burst: drops",
    String(burst.drops),
    "target 0 at 10k execs/s",
    fast ? burst.drops === 0 : undefined,
  );
  row(
    "burst: events delivered per second",
    `${Math.round(burst.events / burst.seconds)}/s`,
    "",
  );
  row("burst: agent peak RSS", `${burst.peakRssMb.toFixed(1)} MB`, "");
}

if (selected("connect_storm")) {
  heading(
    "connect_storm",
    `${connects} x loopback TCP connect, block mode, 1,000 allow entries, ${pairs} pairs`,
  );
  const storm = await connectStorm(connects, pairs);
  printPairs(
    storm,
    "target <= 1.05x",
    (ratio) => ratio <= 1.05,
    "(its peak: parsing and compiling 1,000 rules at start)",
  );
}

if (selected("bulk_transfer")) {
  const megabytes = Number(Deno.env.get("BENCH_BULK_MB") ?? 100);
  heading(
    "bulk_transfer",
    `one ${megabytes} MB loopback TCP stream, block mode, 1,000 allow entries, ${pairs} pairs`,
  );
  printPairs(
    await bulkTransfer(megabytes, pairs),
    "every packet passes cgroup_skb/egress",
    undefined,
    "(its peak: parsing and compiling 1,000 rules at start)",
  );
}

if (selected("file_storm")) {
  heading(
    "file_storm",
    `${files} x create+write+unlink in one python3 loop, ${pairs} pairs`,
  );
  const storm = await fileStorm(files, pairs);
  row("trees on", storm.where, "(as a hosted runner's disk)");
  heading("file_storm (watched)", "a tree under files.watch");
  printPairs(
    storm.watched,
    "target <= 1.10x",
    (ratio) => ratio <= 1.10,
    "(with sensor.file-system)",
  );
  printFileEvents(
    storm.watched,
    2 * files,
    (count) => count < files || count > 3 * files,
  );
  heading("file_storm (unwatched)", "a tree outside files.watch");
  printPairs(
    storm.unwatched,
    "target <= 1.02x",
    (ratio) => ratio <= 1.02,
    "(with sensor.file-system)",
  );
  printFileEvents(storm.unwatched, 0, (count) => count > 0);
}

if (selected("agent_cpu")) {
  heading(
    "agent_cpu",
    "agent CPU (all threads) per delivered event at about 30,000 events/s",
  );
  const result = await agentCpu(Number(Deno.env.get("BENCH_CPU_ROUNDS") ?? 3));
  const kinds = [
    ["process events", `${result.process.driver}, one per core`],
    ["file events", "watched create+write+unlink, paced"],
  ] as const;
  for (const [index, kind] of [result.process, result.file].entries()) {
    const [name, how] = kinds[index];
    row(
      `${name}: CPU per event (median)`,
      `${kind.usPerEvent.toFixed(2)} us`,
      "target <= 5 us",
      kind.usPerEvent <= 5,
    );
    row(
      `${name}: events delivered per second`,
      `${Math.round(kind.eventsPerSecond)}/s`,
      `(${how})`,
    );
    row(`${name}: drops`, String(kind.drops), "target 0", kind.drops === 0);
  }
}

if (only?.includes("soak")) {
  const minutes = Number(Deno.env.get("BENCH_SOAK_MINUTES") ?? 60);
  heading(
    "soak",
    `${minutes} min of 20 execs, 50 connects, 100 file events a second`,
  );
  const result = await soak(minutes);
  for (const { minute, rssMb } of result.samples) {
    row(`agent RSS at ${minute} min`, `${rssMb.toFixed(1)} MB`, rssTarget);
  }
  const tenth = result.samples.find((sample) => sample.minute === 10);
  const last = result.samples.at(-1)!;
  if (tenth && last.minute > 10) {
    const growth = last.rssMb - tenth.rssMb;
    row(
      `RSS growth, 10 to ${last.minute} min`,
      `${growth.toFixed(1)} MB`,
      "target <= 4 MB (levels off)",
      growth <= 4,
    );
  }
  row("events delivered", String(result.events), "");
  row("drops", String(result.drops), "target 0", result.drops === 0);
}

if (only?.includes("hook_floor")) {
  const cycles = Number(Deno.env.get("BENCH_FLOOR_CYCLES") ?? 20_000);
  heading(
    "hook_floor",
    `the unwatched file storm's loop (${cycles} cycles) under empty raw_tp/sys_enter and sys_exit programs, the connect and exec storms' under empty programs on the agent's hooks on their paths, ${pairs} rounds`,
  );
  const result = await hookFloor(cycles, pairs);
  const none = result.seconds.none;
  row("no program (median)", `${median(none).toFixed(3)} s`, "");
  for (const set of ["pair", "five"] as const) {
    const ratios = result.seconds[set].map((seconds, index) =>
      seconds / none[index]
    );
    const low = Math.min(...ratios), high = Math.max(...ratios);
    const name = set === "pair" ? "one pair" : "five programs";
    row(
      `${name}: ratio (median of rounds)`,
      `${median(ratios).toFixed(3)}x`,
      `(rounds ${low.toFixed(3)}..${high.toFixed(3)})`,
    );
    // The machine's own pauses only lengthen loops: the fastest loop of
    // each set is the least disturbed.
    row(
      `${name}: ratio of the fastest loops`,
      `${(Math.min(...result.seconds[set]) / Math.min(...none)).toFixed(3)}x`,
      "",
    );
  }
  row(
    "an empty program's run time (counters on)",
    `${result.emptyNsPerRun.toFixed(0)} ns`,
    "",
  );
  row(
    "loops beside another raw tracepoint program",
    String(result.crowded),
    "target 0 (else the ratios understate)",
    result.crowded === 0,
  );
  /** A storm's floor: its loop alone, under empty programs, crowded loops. */
  const floorRows = (
    storm: string,
    { seconds, crowded }: StormFloor,
    hooks: string,
  ) => {
    const ratios = seconds.all.map((all, index) => all / seconds.none[index]);
    row(
      `${storm}, no program (median)`,
      `${median(seconds.none).toFixed(3)} s`,
      "",
    );
    row(
      `${storm}, empty programs on the agent's hooks: ratio (median of rounds)`,
      `${median(ratios).toFixed(3)}x`,
      `(rounds ${Math.min(...ratios).toFixed(3)}..${
        Math.max(...ratios).toFixed(3)
      }; ${hooks})`,
    );
    row(
      `${storm}: loops beside another raw tracepoint program`,
      String(crowded),
      "target 0 (else the ratio understates)",
      crowded === 0,
    );
  };
  floorRows(
    `connect storm (${connects} connects)`,
    await connectFloor(connects, pairs),
    "syscall pair, inet_sock_set_state, sock_create, connect4, egress, ingress",
  );
  floorRows(
    `exec storm (${execs} execs)`,
    await execFloor(execs, pairs),
    "syscall pair, fork, exec, exit, signal_generate",
  );
}

let npm: NpmCiResult | undefined;
if (selected("npm_ci")) {
  // A real job's time varies more than a storm's loop: enough pairs that
  // the median's interval is narrow beside the target's margin
  // (docs/performance.md, npm ci).
  const npmPairs = Number(
    Deno.env.get("BENCH_NPM_PAIRS") ?? Deno.env.get("BENCH_PAIRS") ?? 25,
  );
  heading(
    "npm_ci",
    `npm ci --offline (234 packages) + tsc, default policy in block mode, workspace watched, ${npmPairs} pairs`,
  );
  const rounds = Number(Deno.env.get("BENCH_NPM_ROUNDS") ?? 1);
  npm = await npmCi(npmPairs, rounds, peers);
  if ("skipped" in npm) row("skipped", "-", npm.skipped);
  else {
    printPairs(
      npm,
      "target <= 1.02x",
      (ratio) => ratio <= 1.02,
      "(default policy: three sensors)",
    );
    for (const r of npmCiRows(npm)) row(r.name, r.value, r.target, r.met);
  }
}

if (peers.length) {
  heading("peers", `${peers.join(", ")} around the same work, ${pairs} pairs`);
  const phase = await peerPhase({
    peers,
    pairs,
    execs,
    connects,
    files,
    selected,
    npm,
  });
  for (const r of phase.rows) row(r.name, r.value, r.target, r.met);
  // Rounded as the peers' cells are, not cut: 1.009x is 1.01x.
  const ours = (bench: string) => {
    const figure = figures.find((figure) =>
      figure.metric === `${bench}: overhead ratio (median of pairs)`
    )?.figure;
    return figure && `${parseFloat(figure).toFixed(2)}x`;
  };
  console.log(`\nOverhead ratios, same run (median of pairs):\n`);
  console.log(comparisonTable(
    [
      { name: "exec_storm", label: `exec storm, ${execs} execs` },
      { name: "connect_storm", label: `connect storm, ${connects} connects` },
      {
        name: "file_storm",
        label: `file storm, ${files} cycles, watched`,
        ringfence: ours("file_storm (watched)"),
      },
      {
        name: "file_storm (unwatched)",
        label: `file storm, ${files} cycles, unwatched`,
        ringfence: ours("file_storm (unwatched)"),
      },
      { name: "npm_ci", label: "npm ci + tsc (default policy, block)" },
    ].map((w) => ({ ...w, ringfence: w.ringfence ?? ours(w.name) })),
    phase.ratios,
  ));
}

printTable();
