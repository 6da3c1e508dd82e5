/**
 * What each syscall kind of a package install costs the sensors in the
 * kernel: N calls of one kind at a time (bench/syscall_kinds.c), by a
 * process in scope of an agent on the default policy in block mode with a
 * watched workspace, the programs' run time read from the kernel's own
 * counters (kernel.bpf_stats_enabled). Prints, per kind, the nanoseconds
 * per call on sys_enter's chain, on sys_exit's, and their sum less a
 * getppid's (the price every syscall pays). A kind named "rel_…" works
 * by names relative to its directory, as the file storm does.
 *
 *   deno run -A bench/syscall_kinds.ts [ROUNDS]
 *
 * @module
 */

import { rootShell, withAgent } from "./_agent.ts";
import { withBpfStats } from "./bpf_stats.ts";
import { blockModePolicy } from "./npm_ci.ts";

const HERE = new URL("./", import.meta.url).pathname;
const DEFAULT_POLICY = new URL("../policy/default.yaml", import.meta.url)
  .pathname;

/**
 * A kind, where it runs ("ws": the watched workspace; "nm": a package
 * directory under its node_modules, whose changes the default policy
 * summarises), and how many calls.
 */
const KINDS: [string, "ws" | "nm" | "tmp", number][] = [
  ["null", "tmp", 200_000],
  ["futex", "tmp", 200_000],
  ["epoll", "tmp", 200_000],
  ["read_pipe", "tmp", 100_000],
  ["write", "tmp", 200_000],
  ["write", "ws", 200_000],
  ["read", "ws", 200_000],
  ["fstatat", "ws", 200_000],
  ["open_read", "tmp", 100_000],
  ["open_read", "ws", 100_000],
  ["open_write", "ws", 100_000],
  ["open_creat", "tmp", 50_000],
  ["unlink", "tmp", 50_000],
  ["rel_open_creat", "tmp", 50_000],
  ["rel_unlink", "tmp", 50_000],
  ["open_creat", "ws", 50_000],
  ["unlink", "ws", 50_000],
  ["mkdir", "ws", 20_000],
  ["mkdir_exists", "ws", 100_000],
  ["rmdir", "ws", 20_000],
  ["rename", "ws", 50_000],
  ["symlink", "ws", 20_000],
  ["chmod", "ws", 100_000],
  ["open_write", "nm", 100_000],
  ["open_creat", "nm", 50_000],
  ["unlink", "nm", 50_000],
  ["rel_open_creat", "nm", 50_000],
  ["rel_unlink", "nm", 50_000],
  ["mkdir", "nm", 20_000],
  ["rmdir", "nm", 20_000],
  ["rename", "nm", 50_000],
];

/** sys_enter's and sys_exit's programs, by the names they are loaded under. */
const ENTER = "handle_mmap";
const EXIT = "handle_sys_exit";

async function main(rounds: number): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ringfence-kinds-" });
  const binary = `${dir}/syscall_kinds`;
  const built = await new Deno.Command("cc", {
    args: ["-O2", "-o", binary, `${HERE}syscall_kinds.c`],
  }).output();
  if (!built.success) throw new Error("cc failed");
  const workspace = `${dir}/workspace`;
  const outside = await Deno.makeTempDir({ prefix: "ringfence-kinds-tmp-" });
  await Deno.mkdir(workspace);
  const shell = await rootShell(dir, "Runner.Worker");
  const policy = `${dir}/policy.yaml`;
  await Deno.writeTextFile(
    policy,
    blockModePolicy(await Deno.readTextFile(DEFAULT_POLICY)),
  );
  const results = new Map<string, { enter: number[]; exit: number[] }>();
  try {
    await withAgent(
      policy,
      async () => {
        for (let round = 0; round < rounds; round++) {
          // each round in directories of its own: the kinds leave files
          const inside = `${workspace}/${round}`;
          const elsewhere = `${outside}/${round}`;
          // Beside the round's directory, not in it: a directory that holds
          // a bulk root has a deeper prefix, and its own verdict is unusable.
          const dependency = `${workspace}/deps${round}/node_modules/package`;
          // Made by a process in scope: node_modules becomes a bulk root
          // as it does when a package manager makes it.
          const made = await new Deno.Command(shell, {
            args: ["-c", `mkdir -p ${dependency}`],
          }).output();
          if (!made.success) throw new Error("mkdir failed");
          await new Promise((resolve) => setTimeout(resolve, 100));
          await Deno.mkdir(inside);
          await Deno.mkdir(elsewhere);
          for (const [kind, where, n] of KINDS) {
            const target = where === "ws"
              ? inside
              : where === "nm"
              ? dependency
              : elsewhere;
            const { programs } = await withBpfStats(async () => {
              const run = await new Deno.Command(shell, {
                args: ["-c", `exec ${binary} ${kind} ${target} ${n}`],
              }).output();
              if (!run.success) throw new Error(`${kind} failed`);
            });
            const ns = (name: string) =>
              (programs.find((program) => program.name === name)?.ns ?? 0) / n;
            const key = `${kind} (${where})`;
            const sums = results.get(key) ?? { enter: [], exit: [] };
            sums.enter.push(ns(ENTER));
            sums.exit.push(ns(EXIT));
            results.set(key, sums);
          }
        }
        return 0;
      },
      "source",
      "/dev/null",
      { GITHUB_WORKSPACE: workspace },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
    await Deno.remove(outside, { recursive: true });
  }
  const median = (values: number[]) =>
    [...values].sort((a, b) => a - b)[values.length >> 1];
  const nul = results.get("null (tmp)")!;
  const base = median(nul.enter) + median(nul.exit);
  console.log("kind\tenter ns\texit ns\tsum less null");
  for (const [key, sums] of results) {
    const enter = median(sums.enter), exit = median(sums.exit);
    console.log(
      `${key}\t${enter.toFixed(0)}\t${exit.toFixed(0)}\t${
        (enter + exit - base).toFixed(0)
      }`,
    );
  }
}

if (import.meta.main) await main(Number(Deno.args[0] ?? 3));
