import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { NetworkEvent } from "../sensors/network_event.ts";
import { processEvent } from "../tests/helpers/events.ts";
import { buildReport, renderMarkdown, type TreeEntry } from "./mod.ts";

/** A network event of `pid` at `time`, its ancestors as given. */
function connect(
  pid: number,
  ppid: number,
  time: string,
  ancestors?: { pid: number; comm: string }[],
): NetworkEvent {
  return {
    type: "network_event",
    kind: "connect",
    time,
    pid,
    tid: pid,
    ppid,
    uid: 0,
    gid: 0,
    comm: "git",
    cgroup_id: 1,
    protocol: "tcp",
    family: 4,
    daddr: "140.82.121.4",
    dport: 443,
    verdict: "allow",
    reason: "allowed_by_rule",
    ...(ancestors ? { ancestors } : {}),
  };
}

/** The tree as `pid comm` lines, indented, marks included. */
function lines(tree: TreeEntry[]): string[] {
  const out: string[] = [];
  const walk = (entry: TreeEntry, depth: number) => {
    out.push(
      `${"  ".repeat(depth)}${entry.pid} ${entry.comm}${
        entry.command ? " +" : ""
      }${entry.reparented ? " (reparented)" : ""}`,
    );
    for (const child of entry.children) walk(child, depth + 1);
  };
  for (const root of tree) walk(root, 0);
  return out;
}

Deno.test("tree: an event read after its process's exit is that process's, not a phantom", () => {
  const root = processEvent("exec", 100, 1, { comm: "bash", argv: ["bash"] });
  const fork = processEvent("fork", 101, 100, { comm: "bash" });
  const exec = processEvent("exec", 101, 100, {
    comm: "git",
    argv: ["git", "fetch"],
  });
  // git's connection, from the network ring, happened before its exit but
  // is read after it (and after its parent's)
  const during = connect(101, 100, exec.time);
  const exit = processEvent("exit", 101, 100, { comm: "git", exit_code: 0 });
  const rootExit = processEvent("exit", 100, 1, { comm: "bash" });
  const report = buildReport([root, fork, exec, exit, rootExit, during]);
  assert.deepEqual(lines(report.tree), ["100 bash +", "  101 git +"]);
  assert.equal(report.summary.processes, 2);
  assert.equal(report.egress[0].process, "git");
  // A later process with the pid (forked anew) is a new node.
  const again = processEvent("fork", 101, 100, { comm: "bash" });
  const tree = buildReport([root, fork, exec, exit, during, again]).tree;
  assert.deepEqual(lines(tree), ["100 bash +", "  101 git +", "  101 bash"]);
});

Deno.test("tree: a fork read after another event of its pid takes the node that event made", () => {
  const root = processEvent("exec", 200, 1, { comm: "bash", argv: ["bash"] });
  const fork = processEvent("fork", 201, 200, { comm: "bash" });
  const exec = processEvent("exec", 201, 200, {
    comm: "curl",
    argv: ["curl", "x"],
  });
  // the connection comes first (its ring was read first) with a time after
  // the fork's; its parent is then not live in the report
  const early = connect(201, 200, exec.time);
  const report = buildReport([root, early, fork, exec]);
  assert.deepEqual(lines(report.tree), ["200 bash +", "  201 curl +"]);
  assert.equal(report.summary.processes, 2);
});

Deno.test("tree: an orphan goes under its nearest known ancestor, marked", () => {
  const root = processEvent("exec", 300, 1, { comm: "bash", argv: ["bash"] });
  // 302's parent 301 was never seen (forked before, or its record lost)
  const orphan = connect(302, 301, "2026-01-01T00:00:09.000000000Z", [
    { pid: 301, comm: "sh" },
    { pid: 300, comm: "bash" },
  ]);
  const report = buildReport([root, orphan]);
  assert.deepEqual(lines(report.tree), [
    "300 bash +",
    "  302 git (reparented)",
  ]);
  assert.match(renderMarkdown(report), /\n {2}302 git \(reparented\)\n/);
  // No known ancestor: a root of its own, unmarked.
  const alone = buildReport([connect(402, 401, orphan.time, [])]);
  assert.deepEqual(lines(alone.tree), ["402 git"]);
});

Deno.test("tree: a child of an exited parent stays under it", () => {
  const root = processEvent("exec", 500, 1, { comm: "bash", argv: ["bash"] });
  const fork = processEvent("fork", 501, 500, { comm: "bash" });
  const exit = processEvent("exit", 500, 1, { comm: "bash" });
  // the child's first event is read after its parent exited, and its
  // fork after that
  const late = connect(501, 500, exit.time);
  const events: RingfenceEvent[] = [root, exit, late, fork];
  assert.deepEqual(lines(buildReport(events).tree), [
    "500 bash +",
    "  501 git",
  ]);
});

Deno.test("tree: children seen before their parent go under it once it shows", () => {
  // 601 (a hook's shell) started before the agent: its children's forks
  // are seen, then an event of its own
  const first = processEvent("fork", 602, 601, { comm: "sh" });
  const exec = processEvent("exec", 602, 601, {
    comm: "date",
    argv: ["date"],
  });
  const second = processEvent("fork", 603, 601, { comm: "sh" });
  const parentExit = processEvent("exit", 601, 600, { comm: "sh" });
  const report = buildReport([first, exec, second, parentExit]);
  assert.deepEqual(lines(report.tree), [
    "601 sh",
    "  602 date +",
    "  603 sh",
  ]);
  assert.equal(report.summary.processes, 3);
});
