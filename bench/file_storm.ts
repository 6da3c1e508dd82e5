/**
 * file storm: N create/write/unlink cycles in a tree under `files.watch`
 * and in one outside it, with and without the agent, each agent run between
 * two runs without it (`rounds.ts`), one tree after the other, on a
 * journaled ext4 (`journaled_dir.ts`). Each loop is one python3 process
 * timing itself, so the ratio is the cost of the syscalls, not of forks;
 * the agent's JSON lines are counted to check that a watched cycle is two
 * file_system_events (create, unlink) and an unwatched one none.
 *
 * @module
 */

import { type AgentRun, rootShell, withAgent } from "./_agent.ts";
import { journaledDir } from "./journaled_dir.ts";
import { bracketed } from "./rounds.ts";

/** Which tree a loop works in. */
export type FileTree = "watched" | "unwatched";

/** One agent run of the file storm, with the events it wrote. */
export interface FileStormRun extends AgentRun {
  /** file_system_events in the agent's output. */
  fileEvents: number;
  /** file_system_events by kind, e.g. `{ create: 3000, unlink: 3000 }`. */
  kinds: Record<string, number>;
}

/** Baseline loop times and agent runs of one tree, pair by pair. */
export interface FileTreeResult {
  /** The loops without the agent, one more than the pairs (`rounds.ts`). */
  baselineSeconds: number[];
  agentRuns: FileStormRun[];
}

/** What the file storm measured. */
export interface FileStormResult {
  cycles: number;
  pairs: number;
  /** What the trees are on (`journaled_dir.ts`). */
  where: string;
  watched: FileTreeResult;
  unwatched: FileTreeResult;
}

/** argv: directory, cycles. Prints its own loop time as elapsed=SECONDS. */
export const WORKLOAD = `import os, sys, time
os.chdir(sys.argv[1])
count = int(sys.argv[2])
flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC
start = time.perf_counter()
for i in range(count):
    name = f"f{i}"
    fd = os.open(name, flags, 0o644)
    os.write(fd, b"x\\n")
    os.close(fd)
    os.unlink(name)
print(f"elapsed={time.perf_counter() - start:.6f} n={count}")
`;

async function loopTime(
  shell: string,
  workload: string,
  dir: string,
  cycles: number,
): Promise<number> {
  const output = await new Deno.Command(shell, {
    args: ["-c", `/usr/bin/python3 ${workload} ${dir} ${cycles}`],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const elapsed = text.match(/elapsed=([\d.]+)/);
  if (!output.success || !elapsed) throw new Error(`workload failed: ${text}`);
  return Number(elapsed[1]);
}

/** file_system_events of a JSON-lines file, by kind. */
async function countFileEvents(path: string): Promise<Record<string, number>> {
  const kinds: Record<string, number> = {};
  for (const line of (await Deno.readTextFile(path)).split("\n")) {
    if (!line) continue;
    const event = JSON.parse(line);
    if (event.type !== "file_system_event") continue;
    kinds[event.kind] = (kinds[event.kind] ?? 0) + 1;
  }
  return kinds;
}

/** Runs `pairs` baseline/agent pairs of `cycles` cycles in each tree. */
export async function fileStorm(
  cycles = 3000,
  pairs = 5,
): Promise<FileStormResult> {
  // The sensor reports canonical paths: the policy must name them so.
  const work = await journaledDir("ringfence-bench-");
  const dir = work.path;
  try {
    const shell = await rootShell(dir, "rffiles");
    const workload = `${dir}/file_workload.py`;
    await Deno.writeTextFile(workload, WORKLOAD);
    await Deno.writeTextFile(`${dir}/protected-file`, "unchanged\n");
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      [
        "version: 1",
        "mode: audit",
        "scope:",
        "  processes: [rffiles]",
        "files:",
        `  watch: [${JSON.stringify(`${dir}/watched/**`)}]`,
        `  protect: [${JSON.stringify(`${dir}/protected-file`)}]`,
        '  secrets: ["**/.npmrc"]',
        "",
      ].join("\n"),
    );
    const events = `${dir}/events.jsonl`;
    const result: FileStormResult = {
      cycles,
      pairs,
      where: work.where,
      watched: { baselineSeconds: [], agentRuns: [] },
      unwatched: { baselineSeconds: [], agentRuns: [] },
    };
    for (const tree of ["watched", "unwatched"] as const) {
      await Deno.mkdir(`${dir}/${tree}`);
      const loop = () => loopTime(shell, workload, `${dir}/${tree}`, cycles);
      await loop(); // warm up
      await bracketed(
        pairs,
        async () => result[tree].baselineSeconds.push(await loop()),
        [async () => {
          const run = await withAgent(policy, loop, "source", events);
          const kinds = await countFileEvents(events);
          const fileEvents = Object.values(kinds).reduce((a, b) => a + b, 0);
          result[tree].agentRuns.push({ ...run, fileEvents, kinds });
        }],
      );
    }
    return result;
  } finally {
    await work.close();
  }
}
