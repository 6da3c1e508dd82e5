/**
 * hook floor: the file storm's unwatched loop (bench/file_storm.ts) with
 * empty programs on raw_tp/sys_enter and raw_tp/sys_exit
 * (bpf/fixtures/hook_floor.bpf.o) and without: none, one pair (an enter
 * and an exit), and five (three enters and two exits, as many as the
 * agent attaches there), in rotating order within each round, on a
 * journaled ext4 as the file storm (`journaled_dir.ts`). What the
 * five cost is the least any hook set of that shape costs this loop,
 * whatever its programs do. A last loop with the kernel's counters on
 * gives an empty program's own run time. Another agent on the machine
 * (a test, say) would hook every loop alike and hide the difference: each
 * loop waits, up to a minute, until no other raw tracepoint program is
 * loaded, and counts the loops that ran beside one.
 *
 * The connect floor ({@linkcode connectFloor}) does the same around the
 * connect storm's loop (bench/connect_storm.ts) with the hooks the agent
 * has on a loopback connect's path: the syscall pair, the socket's state
 * changes, and on the cgroup v2 root its birth, its connect and its
 * packets both ways. The exec floor ({@linkcode execFloor}) does it around
 * the exec storm's loop (bench/exec_storm.ts) with the syscall pair and
 * the process sensor's fork, exec, exit and signal hooks.
 *
 * @module
 */

import { BpfObject } from "../sensors/bpf_object.ts";
import type { BpfLink } from "../sensors/bpf_program.ts";
import { libbpf } from "../sensors/libbpf.ts";
import { timed } from "./_agent.ts";
import { cgroup2Mount } from "../sensors/system.ts";
import { withBpfStats } from "./bpf_stats.ts";
import { WORKLOAD } from "./file_storm.ts";
import { journaledDir } from "./journaled_dir.ts";

const ROOT = new URL("../", import.meta.url);

/** The hook sets compared, by the fixture's programs they attach. */
export const HOOK_SETS = {
  none: [],
  pair: ["floor_enter_1", "floor_exit_1"],
  five: [
    "floor_enter_1",
    "floor_enter_2",
    "floor_enter_3",
    "floor_exit_1",
    "floor_exit_2",
  ],
} as const;

/** A hook set's name. */
export type HookSet = keyof typeof HOOK_SETS;

/** What the hook floor measured. */
export interface HookFloorResult {
  cycles: number;
  /** Loop seconds by hook set, round by round. */
  seconds: Record<HookSet, number[]>;
  /** An empty program's run time per run, with the counters on. */
  emptyNsPerRun: number;
  /** Loops that ran while another raw tracepoint program was loaded. */
  crowded: number;
}

/** Raw tracepoint programs loaded that are not the fixture's. */
async function otherPrograms(): Promise<number> {
  const output = await new Deno.Command("bpftool", {
    args: ["-j", "prog", "show"],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!output.success) throw new Error("bpftool prog show failed");
  const programs = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    type?: string;
    name?: string;
  }[];
  return programs.filter((program) =>
    program.type === "raw_tracepoint" && !program.name?.startsWith("floor_")
  ).length;
}

/** Waits up to `seconds` for the machine to have no other such program. */
async function alone(seconds = 60): Promise<boolean> {
  for (let waited = 0; waited < seconds; waited++) {
    if (await otherPrograms() === 0) return true;
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  return false;
}

/** A python workload's own loop time, from the elapsed= it prints. */
async function pythonLoop(args: string[]): Promise<number> {
  const output = await new Deno.Command("/usr/bin/python3", {
    args,
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const elapsed = text.match(/elapsed=([\d.]+)/);
  if (!output.success || !elapsed) throw new Error(`workload failed: ${text}`);
  return Number(elapsed[1]);
}

function loopTime(workload: string, dir: string, cycles: number) {
  return pythonLoop([workload, dir, String(cycles)]);
}

/** bpf/fixtures/hook_floor.bpf.o, loaded; its programs not attached. */
function loadFixture(): BpfObject {
  libbpf();
  const object = BpfObject.open(
    Deno.readFileSync(
      new URL("bpf/build/fixtures/hook_floor.bpf.o", ROOT),
    ),
    "hook_floor",
  );
  try {
    object.load();
  } catch (error) {
    object.close();
    throw error;
  }
  return object;
}

/** Loop seconds with no program and under a storm's empty programs. */
export interface FloorSeconds {
  none: number[];
  all: number[];
}

/** What a storm's floor measured. */
export interface StormFloor {
  /** Loop seconds, no program and empty ones, round by round. */
  seconds: FloorSeconds;
  /** Loops that ran while another raw tracepoint program was loaded. */
  crowded: number;
}

/**
 * `rounds` rounds of `loop` with no program and under the links `attach`
 * makes, which goes first alternating round by round; with the loops that
 * ran beside another raw tracepoint program.
 */
async function alternating(
  rounds: number,
  loop: () => Promise<number>,
  attach: () => BpfLink[],
): Promise<StormFloor> {
  await loop(); // warm up
  const seconds: FloorSeconds = { none: [], all: [] };
  let crowded = 0;
  for (let round = 0; round < rounds; round++) {
    const order = round % 2
      ? ["all", "none"] as const
      : ["none", "all"] as const;
    for (const set of order) {
      if (!await alone()) crowded++;
      const links = set === "all" ? attach() : [];
      try {
        seconds[set].push(await loop());
      } finally {
        for (const link of links) link.destroy();
      }
    }
  }
  return { seconds, crowded };
}

/** Runs `rounds` rounds of every hook set, `cycles` cycles each. */
export async function hookFloor(
  cycles = 20000,
  rounds = 7,
): Promise<HookFloorResult> {
  const work = await journaledDir("ringfence-floor-");
  const dir = work.path;
  using object = loadFixture();
  const attach = (set: HookSet): BpfLink[] =>
    HOOK_SETS[set].map((name) => object.program(name).attach());
  try {
    const workload = `${dir}/file_workload.py`;
    await Deno.writeTextFile(workload, WORKLOAD);
    await loopTime(workload, dir, cycles); // warm up
    const sets = Object.keys(HOOK_SETS) as HookSet[];
    let crowded = 0;
    const seconds = { none: [], pair: [], five: [] } as Record<
      HookSet,
      number[]
    >;
    for (let round = 0; round < rounds; round++) {
      for (let index = 0; index < sets.length; index++) {
        const set = sets[(round + index) % sets.length];
        if (!await alone()) crowded++;
        const links = attach(set);
        try {
          seconds[set].push(await loopTime(workload, dir, cycles));
        } finally {
          for (const link of links) link.destroy();
        }
      }
    }
    const links = attach("pair");
    let emptyNsPerRun = NaN;
    try {
      const { programs } = await withBpfStats(() =>
        loopTime(workload, dir, cycles)
      );
      const empty = programs.filter((program) =>
        (HOOK_SETS.pair as readonly string[]).includes(program.name)
      );
      const ns = empty.reduce((sum, program) => sum + program.ns, 0);
      const runs = empty.reduce((sum, program) => sum + program.runs, 0);
      emptyNsPerRun = ns / runs;
    } finally {
      for (const link of links) link.destroy();
    }
    return { cycles, seconds, emptyNsPerRun, crowded };
  } finally {
    await work.close();
  }
}

/** The connect floor's hooks: raw tracepoints, then cgroup hooks. */
export const CONNECT_HOOKS = {
  raw: ["floor_enter_1", "floor_exit_1", "floor_state"],
  cgroup: [
    "floor_sock_create",
    "floor_connect4",
    "floor_egress",
    "floor_ingress",
  ],
} as const;

/**
 * Runs `rounds` rounds of the connect storm's loop (`connects` loopback
 * connects) with no program and with empty programs on every hook of the
 * agent's on that path, in alternating order.
 */
export async function connectFloor(
  connects = 10_000,
  rounds = 7,
): Promise<StormFloor> {
  using object = loadFixture();
  const root = cgroup2Mount();
  return await alternating(
    rounds,
    () =>
      pythonLoop([
        new URL("./connect_workload.py", import.meta.url).pathname,
        String(connects),
      ]),
    () => [
      ...CONNECT_HOOKS.raw.map((name) => object.program(name).attach()),
      ...CONNECT_HOOKS.cgroup.map((name) =>
        object.program(name).attachCgroupPath(root)
      ),
    ],
  );
}

/** The exec floor's hooks: every raw tracepoint sensor.process has. */
export const EXEC_HOOKS = [
  "floor_enter_1",
  "floor_exit_1",
  "floor_fork",
  "floor_exec",
  "floor_process_exit",
  "floor_signal",
] as const;

/**
 * Runs `rounds` rounds of the exec storm's loop (`execs` fork+execs of
 * /bin/true from bash) with no program and with empty programs on every
 * raw tracepoint the process sensor attaches, in alternating order.
 */
export async function execFloor(
  execs = 3000,
  rounds = 7,
): Promise<StormFloor> {
  using object = loadFixture();
  return await alternating(
    rounds,
    () =>
      timed("/bin/bash", `for ((i=0; i<${execs}; i++)); do /bin/true; done`),
    () => EXEC_HOOKS.map((name) => object.program(name).attach()),
  );
}
