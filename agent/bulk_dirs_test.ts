import assert from "node:assert/strict";
import { compileGlob } from "../policy/glob.ts";
import type { FileSystemEvent, ProcessEvent } from "../sensors/events.ts";
import type { FileSystemSensor, SummaryEntry } from "../sensors/file_system.ts";
import { buildReport } from "../report/build.ts";
import { BulkDirs } from "./bulk_dirs.ts";

/** A sensor that keeps roots and summaries in memory. */
class FakeSensor {
  roots = new Map<string, number>();
  removed: string[] = [];
  entries = new Map<string, SummaryEntry>();
  setBulkRoot(prefix: string, id: number): boolean {
    this.roots.set(prefix, id);
    return true;
  }
  removeBulkRoot(prefix: string): void {
    this.roots.delete(prefix);
    this.removed.push(prefix);
  }
  summaries(): SummaryEntry[] {
    return [...this.entries.values()];
  }
  takeSummary(tgid: number, root: number): SummaryEntry | undefined {
    const key = `${tgid}/${root}`;
    const entry = this.entries.get(key);
    this.entries.delete(key);
    return entry;
  }
  count(tgid: number, root: number, kind: number, n: number): void {
    const key = `${tgid}/${root}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = { tgid, root, first: 1n, last: 2n, count: Array(16).fill(0) };
      this.entries.set(key, entry);
    }
    entry.count[kind] += n;
  }
}

function event(
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
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "npm",
    cgroup_id: 1,
    path,
    verdict: "allow",
    reason: 'files.watch "/w/**"',
    ...extra,
  };
}

function exit(pid: number): ProcessEvent {
  return {
    type: "process_event",
    kind: "exit",
    time: "2026-11-25T00:00:02.000000000Z",
    pid,
    tid: pid,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "npm",
    cgroup_id: 1,
  } as ProcessEvent;
}

function bulk(watch = ["/w/**"], names = ["node_modules", "build"]) {
  const sensor = new FakeSensor();
  const dirs = new BulkDirs(sensor as unknown as FileSystemSensor, {
    names,
    summary: true,
    watch: watch.map(compileGlob),
  });
  return { sensor, dirs };
}

Deno.test("BulkDirs learns a root from a mkdir under a watched tree", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, "/w/node_modules"));
  assert.deepEqual([...sensor.roots], [["/w/node_modules/", 1]]);
  // nested and unwatched directories are not roots
  dirs.observe(event("mkdir", 10, "/w/node_modules/x/build"));
  dirs.observe(event("mkdir", 10, "/elsewhere/node_modules"));
  dirs.observe(event("mkdir", 10, "/w/src"));
  assert.deepEqual(dirs.roots, ["/w/node_modules"]);
  // a rename onto the name makes one too
  dirs.observe(event("rename", 10, "/w/tmp1", { new_path: "/w/a/build" }));
  assert.deepEqual(dirs.roots, ["/w/node_modules", "/w/a/build"]);
});

Deno.test("BulkDirs makes no root under a watch pattern that does not cover it all", () => {
  const { sensor, dirs } = bulk(["/w/**/*.c"]);
  dirs.observe(event("mkdir", 10, "/w/node_modules"));
  assert.equal(sensor.roots.size, 0);
});

Deno.test("BulkDirs makes no root of a checkout's directory, and retires one a checkout writes under", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, "/w/build", { comm: "git" }));
  assert.equal(sensor.roots.size, 0);
  dirs.observe(event("mkdir", 11, "/w/node_modules"));
  dirs.observe(event("create", 12, "/w/node_modules/x.c", { comm: "git" }));
  assert.deepEqual(sensor.removed, ["/w/node_modules/"]);
  assert.deepEqual(dirs.roots, []);
  // for good: made again, it stays full
  dirs.observe(event("mkdir", 11, "/w/node_modules"));
  assert.deepEqual(dirs.roots, []);
});

Deno.test("BulkDirs sends a process's summary a read after its exit, with its first change's fields", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, "/w/node_modules"));
  const step = { name: "install", pid: 5, ci: "command" };
  dirs.observe(
    event("create", 20, "/w/node_modules/a.js", { step, exe: "/usr/bin/node" }),
  );
  sensor.count(20, 1, 2, 99); // create
  sensor.count(20, 1, 11, 3); // mkdir
  dirs.noteExit(exit(20));
  assert.deepEqual(dirs.read(), []);
  const [summary, ...rest] = dirs.read();
  assert.deepEqual(rest, []);
  assert.equal(summary.type, "file_system_summary");
  assert.equal(summary.pid, 20);
  assert.equal(summary.exe, "/usr/bin/node");
  assert.deepEqual(summary.step, step);
  assert.equal(summary.directory, "/w/node_modules");
  assert.deepEqual(summary.counts, { create: 99, mkdir: 3 });
  assert.equal(summary.total, 102);
  assert.equal(summary.exited, true);
  assert.equal(summary.reason, 'files.watch "/w/**"');
  assert.equal(sensor.entries.size, 0);
  // the report counts them as the 102 events they stand for
  const report = buildReport([summary]);
  assert.equal(report.otherChanges, 102);
  assert.equal(report.written[0].count, 102);
});

Deno.test("BulkDirs.finish() sends what live processes counted", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, "/w/node_modules"));
  dirs.observe(event("unlink", 30, "/w/node_modules/a.js"));
  sensor.count(30, 1, 4, 7);
  sensor.count(30, 1, 5, 2); // renames count both their paths
  const [summary] = dirs.finish();
  assert.equal(summary.exited, false);
  assert.deepEqual(summary.counts, { unlink: 7, rename: 2 });
  assert.equal(buildReport([summary]).otherChanges, 11);
});

Deno.test("BulkDirs drops a root whose directory goes, and learns none from a symlink", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, "/w/node_modules"));
  dirs.observe(event("rmdir", 11, "/w/node_modules", { comm: "rm" }));
  assert.deepEqual(sensor.removed, ["/w/node_modules/"]);
  dirs.observe(event("symlink", 12, "/w/node_modules"));
  assert.deepEqual(dirs.roots, []);
  // made again: a new root, with a new id
  dirs.observe(event("mkdir", 13, "/w/node_modules"));
  assert.deepEqual([...sensor.roots], [["/w/node_modules/", 2]]);
});
