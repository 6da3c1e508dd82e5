import assert from "node:assert/strict";
import type { ProcessEvent } from "../sensors/process.ts";
import { processEvent } from "../tests/helpers/events.ts";
import { ReportBuilder, type TreeEntry } from "./mod.ts";

/** A small deterministic PRNG (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), seed | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * A job of `count` processes forked by random live ones (by the oldest
 * live one, a build loop's shell, with odds `loop`), some exiting, with pids
 * reused once free: what a long build looks like to the report.
 */
function randomJob(count: number, seed: number, loop = 0): ProcessEvent[] {
  const next = random(seed);
  const events: ProcessEvent[] = [];
  const live: number[] = [];
  const free: number[] = [];
  let nextPid = 100;
  for (let made = 0; made < count; made++) {
    const roll = next();
    if (live.length > 1 && roll < 0.45) {
      const index = 1 + Math.floor(next() * (live.length - 1));
      const pid = live[index];
      live.splice(index, 1);
      free.push(pid);
      events.push(processEvent("exit", pid, 0, { exit_code: pid % 3 }));
    }
    const parent = !live.length || next() >= 0.97
      ? 1
      : next() < loop
      ? live[0]
      : live[Math.floor(next() * live.length)];
    const pid = free.length && next() < 0.5 ? free.shift()! : nextPid++;
    live.push(pid);
    events.push(processEvent("fork", pid, parent));
    events.push(
      processEvent("exec", pid, parent, { argv: [`cmd${made}`], path: "/x" }),
    );
  }
  return events;
}

/** The first `limit` processes of the whole tree, depth first, unpruned. */
function referenceTree(events: ProcessEvent[], limit: number) {
  interface Node {
    pid: number;
    exit?: number;
    command?: string;
    children: Node[];
  }
  const live = new Map<number, Node>();
  const roots: Node[] = [];
  let processes = 0;
  for (const event of events) {
    let node = live.get(event.pid);
    if (event.kind === "fork" || !node) {
      processes++;
      node = { pid: event.pid, children: [] };
      const parent = live.get(event.ppid);
      if (parent) parent.children.push(node);
      else roots.push(node);
      live.set(event.pid, node);
    }
    if (event.kind === "exec") node.command = event.argv?.join(" ");
    if (event.kind === "exit") {
      node.exit = event.exit_code;
      live.delete(event.pid);
    }
  }
  const flat: string[] = [];
  const walk = (node: Node, depth: number) => {
    if (flat.length >= limit) return;
    flat.push(`${depth} ${node.pid} ${node.command} ${node.exit}`);
    for (const child of node.children) walk(child, depth + 1);
  };
  for (const root of roots) walk(root, 0);
  return { flat, processes };
}

function flatten(tree: TreeEntry[]): string[] {
  const flat: string[] = [];
  const walk = (entry: TreeEntry, depth: number) => {
    const exit = entry.exit?.replace("exit ", "");
    flat.push(`${depth} ${entry.pid} ${entry.command} ${exit}`);
    for (const child of entry.children) walk(child, depth + 1);
  };
  for (const entry of tree) walk(entry, 0);
  return flat;
}

Deno.test("ReportBuilder shows the same first 500 of a large tree as an unbounded one would", () => {
  for (const count of [999, 1_000, 1_700, 20_000]) {
    for (const [seed, loop] of [[1, 0], [2, 0.5], [3, 0.9], [4, 1]]) {
      const events = randomJob(count, seed, loop);
      const builder = new ReportBuilder();
      for (const event of events) builder.add(event);
      const report = builder.build();
      const reference = referenceTree(events, 500);
      const what = `${count} processes, seed ${seed}, loop ${loop}`;
      assert.equal(reference.flat.length, 500, what);
      assert.deepEqual(flatten(report.tree), reference.flat, what);
      assert.equal(report.summary.processes, reference.processes, what);
      assert.equal(report.treeOmitted, reference.processes - 500, what);
    }
  }
});

Deno.test("ReportBuilder counts a reused pid as another process", () => {
  const builder = new ReportBuilder();
  for (const kind of ["fork", "exit", "fork", "exit"] as const) {
    builder.add(processEvent(kind, 7, 1));
  }
  const report = builder.build();
  assert.equal(report.summary.processes, 2);
  assert.equal(report.tree.length, 2);
});

Deno.test("the agent's tamper and adoption events have their own section", async () => {
  const { agentEvent } = await import("../sensors/agent_event.ts");
  const { renderMarkdown } = await import("./markdown.ts");
  const builder = new ReportBuilder();
  builder.add(
    agentEvent("adopted", { previous_pid: 41, refused: 2, killed: 1 }),
  );
  builder.add(
    agentEvent("tamper", {
      what: "link_detached",
      name: "network/connect4",
      repaired: true,
    }),
  );
  const report = builder.build();
  assert.equal(
    report.summary.processes,
    0,
    "the agent is no process of the job",
  );
  assert.deepEqual(report.agent?.map((entry) => entry.kind), [
    "adopted",
    "tamper",
  ]);
  const markdown = renderMarkdown(report);
  assert.match(markdown, /Agent integrity/);
  assert.match(markdown, /link_detached `network\/connect4` \(repaired\)/);
  assert.match(
    markdown,
    /adopted the pins of agent pid 41: while no agent ran, 2 refused, 1 killed/,
  );
});
