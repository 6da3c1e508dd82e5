import assert from "node:assert/strict";
import { processEvent as event } from "../tests/helpers/events.ts";
import { ProcessTree } from "./process_tree.ts";

const seed = [
  { pid: 1, ppid: 0, comm: "init", argv: ["/sbin/init"] },
  { pid: 10, ppid: 1, comm: "Runner.Worker", argv: ["Runner.Worker"] },
  { pid: 11, ppid: 10, comm: "bash", argv: ["bash"] },
];

Deno.test("ProcessTree.fromProc() links a /proc snapshot by parent", () => {
  const tree = ProcessTree.fromProc(seed);
  assert.equal(tree.size, 3);
  assert.deepEqual(tree.ancestors(11).map((node) => node.pid), [10, 1]);
  assert.equal(tree.get(10)?.source, "proc");
});

Deno.test("ProcessTree.apply() adds forks, updates execs and keeps exits", () => {
  const tree = ProcessTree.fromProc(seed);
  tree.apply(event("fork", 20, 11));
  tree.apply(
    event("exec", 20, 11, {
      comm: "curl",
      path: "/usr/bin/curl",
      argv: ["curl", "x"],
    }),
  );
  assert.deepEqual(tree.ancestors(20).map((node) => node.pid), [11, 10, 1]);
  assert.equal(tree.get(20)?.path, "/usr/bin/curl");
  tree.apply(event("exit", 20, 11, { exit_code: 3, signal: 0 }));
  assert.equal(tree.size, 3, "exited processes are not live");
  assert.equal(tree.get(20)?.exitCode, 3, "but still known");
  assert.deepEqual([...tree.get(11)!.children].map((node) => node.pid), [20]);
});

Deno.test("ProcessTree keeps the fork-time parent of an orphan", () => {
  const tree = ProcessTree.fromProc(seed);
  tree.apply(event("fork", 30, 11));
  tree.apply(event("fork", 31, 30));
  tree.apply(event("exit", 30, 11));
  // the kernel reports init as the parent: ancestry still says who forked it
  tree.apply(event("exec", 31, 1, { path: "/bin/sleep", argv: ["sleep"] }));
  assert.deepEqual(tree.ancestors(31).map((node) => node.pid), [30, 11, 10, 1]);
});

Deno.test("ProcessTree handles pid reuse without mixing ancestry", () => {
  const tree = ProcessTree.fromProc(seed);
  tree.apply(event("fork", 40, 11));
  tree.apply(event("exit", 40, 11));
  tree.apply(event("fork", 40, 10)); // pid 40 reused, forked by another parent
  assert.deepEqual(tree.ancestors(40).map((node) => node.pid), [10, 1]);
  const nodes = [...tree.nodes()].filter((node) => node.pid === 40);
  assert.equal(nodes.length, 2);
});

Deno.test("ProcessTree forgets the oldest exited processes beyond maxExited", () => {
  const tree = ProcessTree.fromProc(seed, { maxExited: 2 });
  for (const pid of [50, 51, 52]) {
    tree.apply(event("fork", pid, 11));
    tree.apply(event("exit", pid, 11));
  }
  assert.equal(tree.get(50), undefined);
  assert.equal(tree.get(52)?.pid, 52);
  assert.deepEqual([...tree.get(11)!.children].map((node) => node.pid), [
    51,
    52,
  ]);
});

Deno.test("ProcessTree keeps a batch's exits through the next batch, then minExited", () => {
  const tree = ProcessTree.fromProc(seed, { minExited: 2, maxExited: 10 });
  const exit = (pids: number[]) => {
    for (const pid of pids) {
      tree.apply(event("fork", pid, 11));
      tree.apply(event("exit", pid, 11));
    }
  };
  const kept = () =>
    [100, 101, 102, 103, 104, 200, 201, 202].filter((pid) => tree.get(pid));
  exit([100, 101, 102, 103, 104]);
  assert.deepEqual(kept(), [100, 101, 102, 103, 104]);
  tree.endBatch();
  // A record of another ring may still name them in the next batch.
  assert.deepEqual(kept(), [100, 101, 102, 103, 104]);
  exit([200, 201, 202]);
  assert.deepEqual(kept(), [100, 101, 102, 103, 104, 200, 201, 202]);
  tree.endBatch();
  assert.deepEqual(kept(), [200, 201, 202]);
  tree.endBatch();
  assert.deepEqual(kept(), [201, 202], "minExited stay");
  assert.deepEqual([...tree.get(11)!.children].map((node) => node.pid), [
    201,
    202,
  ]);
  // Batches that never end: maxExited, as without batches.
  exit(Array.from({ length: 20 }, (_, i) => 300 + i));
  assert.equal([...tree.get(11)!.children].length, 10);
  assert.equal(tree.get(309), undefined);
  assert.equal(tree.get(310)?.pid, 310);
});

Deno.test("ProcessTree shares one empty child set among processes that fork none", () => {
  const tree = ProcessTree.fromProc(seed);
  tree.apply(event("fork", 70, 11));
  tree.apply(event("fork", 71, 11));
  const [a, b] = [tree.get(70)!, tree.get(71)!];
  assert.equal(a.children.size, 0);
  assert.equal(a.children, b.children);
  tree.apply(event("fork", 72, 70));
  assert.deepEqual([...a.children].map((node) => node.pid), [72]);
  assert.equal(b.children.size, 0, "the shared set stays empty");
  tree.apply(event("exit", 72, 70));
});

Deno.test("ProcessTree.descendants() lists a subtree depth first", () => {
  const tree = ProcessTree.fromProc(seed);
  tree.apply(event("fork", 60, 11));
  tree.apply(event("fork", 61, 60));
  tree.apply(event("fork", 62, 11));
  const root = tree.get(10)!;
  assert.deepEqual(tree.descendants(root).map((node) => node.pid), [
    10,
    11,
    60,
    61,
    62,
  ]);
});

Deno.test("ProcessTree under a parent that forks 20,000 keeps only the last exited children", () => {
  const tree = ProcessTree.fromProc(seed, { maxExited: 100 });
  for (let pid = 1000; pid < 21_000; pid++) {
    tree.apply(event("fork", pid, 11));
    tree.apply(event("exit", pid, 11));
  }
  const children = [...tree.get(11)!.children].map((node) => node.pid);
  assert.equal(children.length, 100);
  assert.deepEqual(children, Array.from({ length: 100 }, (_, i) => 20_900 + i));
  assert.equal(tree.get(20_899), undefined);
  assert.equal(tree.get(20_999)?.pid, 20_999);
});

Deno.test("ProcessTree.ancestors() stops at the scope root and never passes the agent", () => {
  const tree = ProcessTree.fromProc(seed);
  tree.apply(event("fork", 20, 11));
  tree.apply(event("fork", 21, 20));
  const pids = (nodes: { pid: number }[]) => nodes.map((node) => node.pid);
  // Runner.Worker (10) is the root: init above it is not the job's
  assert.deepEqual(pids(tree.ancestors(21, Infinity, 10)), [20, 11, 10]);
  // the root itself has none
  assert.deepEqual(pids(tree.ancestors(10, Infinity, 10)), []);
  assert.deepEqual(pids(tree.ancestors(21, 2, 10)), [20, 11]);
  // `run`: the agent (11 here) and its parents are left out
  assert.deepEqual(pids(tree.ancestors(21, Infinity, undefined, 11)), [20]);
});
