/**
 * The in-kernel run time of BPF programs over some work, from the kernel's
 * own counters (`kernel.bpf_stats_enabled`, read with bpftool). Turning
 * the counters on adds two clock reads to every program run, so the bench
 * turns them on only around a run whose time it does not compare, and puts
 * the setting back.
 *
 * @module
 */

/** One program's run time and runs over the work. */
export interface ProgramTime {
  name: string;
  /** Nanoseconds spent in the program. */
  ns: number;
  /** Times it ran. */
  runs: number;
  /** Programs of this name that ran (their times and runs summed). */
  count: number;
}

const STATS = "/proc/sys/kernel/bpf_stats_enabled";

/** Whether the kernel counts program run time now. */
export async function bpfStatsEnabled(): Promise<boolean> {
  return (await Deno.readTextFile(STATS).catch(() => "0")).trim() === "1";
}

async function counters(): Promise<
  Map<number, { name: string; ns: number; runs: number }>
> {
  const output = await new Deno.Command("bpftool", {
    args: ["-j", "prog", "show"],
    stdout: "piped",
    stderr: "null",
  }).output();
  if (!output.success) throw new Error("bpftool prog show failed");
  const programs = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    id: number;
    name?: string;
    run_time_ns?: number;
    run_cnt?: number;
  }[];
  return new Map(
    programs.map((program) => [program.id, {
      name: program.name ?? `#${program.id}`,
      ns: program.run_time_ns ?? 0,
      runs: program.run_cnt ?? 0,
    }]),
  );
}

/**
 * Runs `work` with the kernel's counters on and returns, with its result,
 * the run time of every program that ran meanwhile, by name (programs of
 * one name summed), longest first.
 */
export async function withBpfStats<T>(
  work: () => Promise<T>,
): Promise<{ result: T; programs: ProgramTime[] }> {
  const before = await Deno.readTextFile(STATS);
  await Deno.writeTextFile(STATS, "1");
  try {
    const start = await counters();
    const result = await work();
    const end = await counters();
    const byName = new Map<string, ProgramTime>();
    for (const [id, now] of end) {
      const then = start.get(id) ?? { ns: 0, runs: 0 };
      const runs = now.runs - then.runs;
      if (runs <= 0) continue;
      const sum = byName.get(now.name) ??
        { name: now.name, ns: 0, runs: 0, count: 0 };
      sum.ns += now.ns - then.ns;
      sum.runs += runs;
      sum.count++;
      byName.set(now.name, sum);
    }
    const programs = [...byName.values()].sort((a, b) => b.ns - a.ns);
    return { result, programs };
  } finally {
    await Deno.writeTextFile(STATS, before.trim());
  }
}
