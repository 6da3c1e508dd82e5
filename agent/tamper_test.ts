import assert from "node:assert/strict";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import { ProcessTree } from "./process_tree.ts";
import {
  diffSnapshots,
  type FileState,
  MAX_LINES,
  stepOf,
  tamperLines,
  TamperTracker,
} from "./tamper.ts";

const AGENT = 100;

function processEvent(
  kind: ProcessEvent["kind"],
  pid: number,
  ppid: number,
  argv?: string[],
): ProcessEvent {
  return {
    type: "process_event",
    kind,
    time: "2026-11-25T00:00:00.000000000Z",
    pid,
    tid: pid,
    ppid,
    uid: 0,
    gid: 0,
    comm: argv?.[0].split("/").pop() ?? "bash",
    cgroup_id: 1,
    ...(argv && { path: argv[0], argv }),
  };
}

function fileEvent(
  kind: FileSystemEvent["kind"],
  pid: number,
  path: string,
  extra: Partial<FileSystemEvent> = {},
): FileSystemEvent {
  return {
    type: "file_system_event",
    kind,
    time: "2026-11-25T00:00:01.000000000Z",
    pid,
    tid: pid,
    ppid: 0,
    uid: 0,
    gid: 0,
    comm: "x",
    cgroup_id: 1,
    path,
    verdict: "allow",
    reason: 'files.watch "/w/**"',
    ...extra,
  };
}

/**
 * agent(100) → bash(200, the root) → git clone(300) → git-index-pack(301);
 * bash → sed(400).
 */
function job(): ProcessTree {
  const tree = new ProcessTree();
  const events: ProcessEvent[] = [
    processEvent("exec", 200, AGENT, ["/bin/bash", "-c", "job"]),
    processEvent("fork", 300, 200),
    processEvent("exec", 300, 200, ["/usr/bin/git", "clone", "origin", "w"]),
    processEvent("fork", 301, 300),
    processEvent("exec", 301, 300, ["/usr/lib/git-core/git", "index-pack"]),
    processEvent("fork", 400, 200),
    processEvent("exec", 400, 200, ["/usr/bin/sed", "-i", "s/a/b/", "w/x.c"]),
  ];
  events.forEach((event) => tree.apply(event));
  return tree;
}

const isRoot = (node: { ppid: number }) => node.ppid === AGENT;

Deno.test("stepOf() is the child of the scope root the writer descends from", () => {
  const tree = job();
  assert.deepEqual(stepOf(tree, 301, isRoot), {
    pid: 300,
    argv: ["/usr/bin/git", "clone", "origin", "w"],
  });
  assert.equal(stepOf(tree, 400, isRoot)?.pid, 400);
  assert.equal(stepOf(tree, 200, isRoot)?.pid, 200, "the root is its own step");
  assert.equal(stepOf(tree, 999, isRoot), undefined);
});

Deno.test("TamperTracker lists files rewritten by a later step first", () => {
  const tree = job();
  const tracker = new TamperTracker(tree, isRoot);
  tracker.record(fileEvent("create", 301, "/w/x.c", { comm: "git" }));
  tracker.record(fileEvent("create", 301, "/w/README", { comm: "git" }));
  tracker.record(
    fileEvent("rename", 400, "/w/sedAbc", {
      new_path: "/w/x.c",
      comm: "sed",
      exe: "/usr/bin/sed",
    }),
  );
  tracker.record(fileEvent("read", 400, "/w/.npmrc"));
  tracker.record(
    fileEvent("open", 400, "/w/token", { reason: 'files.secrets "**/token"' }),
  );
  const files = tracker.files();
  assert.deepEqual(
    files.map((entry) => [entry.path, entry.kind, entry.step?.pid]),
    [
      ["/w/x.c", "rename", 400],
      ["/w/README", "create", 300],
      ["/w/sedAbc", "rename", 400],
    ],
  );
  assert.deepEqual(files[0].steps.map((step) => step.pid), [300, 400]);
  assert.equal(files[0].exe, "/usr/bin/sed");
  assert.equal(files[0].changes, 2);
  const [first] = tamperLines({ files, protected: [] });
  assert.equal(
    first,
    'ringfence: tampered /w/x.c (rename) by pid 400 sed (/usr/bin/sed) in step "/usr/bin/sed -i s/a/b/ w/x.c" (first written in step "/usr/bin/git clone origin w")',
  );
});

Deno.test("TamperTracker stops listing at its limit", () => {
  const tracker = new TamperTracker(job(), isRoot, 2);
  for (const name of ["a", "b", "c"]) {
    tracker.record(fileEvent("create", 400, `/w/${name}`));
  }
  assert.equal(tracker.files().length, 2);
});

Deno.test("tamperLines() caps the list and says how many more", () => {
  const tracker = new TamperTracker(job(), isRoot);
  for (let index = 0; index < MAX_LINES + 3; index++) {
    tracker.record(fileEvent("create", 400, `/w/${index}`));
  }
  const lines = tamperLines({ files: tracker.files(), protected: [] });
  assert.equal(lines.length, MAX_LINES + 1);
  assert.equal(
    lines.at(-1),
    "ringfence: ... and 3 more changed files (see the events)",
  );
});

Deno.test("diffSnapshots() reports size, mtime, hash and existence changes", () => {
  const state = (size: number, sha256: string): FileState => ({
    exists: true,
    size,
    mtime: "2026-11-25T00:00:00.000Z",
    sha256,
  });
  const before = new Map([
    ["/etc/hosts", state(10, "aa")],
    ["/etc/same", state(1, "bb")],
    ["/etc/gone", state(1, "cc")],
  ]);
  const after = new Map([
    ["/etc/hosts", state(12, "dd")],
    ["/etc/same", state(1, "bb")],
    ["/etc/gone", { exists: false }],
  ]);
  const changes = diffSnapshots(before, after);
  assert.deepEqual(changes.map((change) => change.path), [
    "/etc/hosts",
    "/etc/gone",
  ]);
  assert.match(
    tamperLines({ files: [], protected: changes })[0],
    /^ringfence: protected \/etc\/hosts changed: 10 bytes, .* sha256 aa -> 12 bytes, .* sha256 dd$/,
  );
});
