import assert from "node:assert/strict";
import { compileGlob } from "../policy/glob.ts";
import type { FileSystemEvent, ProcessEvent } from "../sensors/events.ts";
import type { FileSystemSensor, SummaryEntry } from "../sensors/file_system.ts";
import { buildReport } from "../report/build.ts";
import { BulkDirs } from "./bulk_dirs.ts";

/** A real workspace: a root must be a directory (lstat). */
const W = Deno.realPathSync(Deno.makeTempDirSync());
for (
  const dir of ["node_modules", "build", "a/build", "node_modules/x/build"]
) {
  Deno.mkdirSync(`${W}/${dir}`, { recursive: true });
}
globalThis.addEventListener("unload", () => {
  Deno.removeSync(W, { recursive: true });
});

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
    reason: `files.watch "${W}/**"`,
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

function bulk(watch = [`${W}/**`], names = ["node_modules", "build"]) {
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
  dirs.observe(event("mkdir", 10, `${W}/node_modules`));
  assert.deepEqual([...sensor.roots], [[`${W}/node_modules/`, 1]]);
  // nested and unwatched directories are not roots
  dirs.observe(event("mkdir", 10, `${W}/node_modules/x/build`));
  dirs.observe(event("mkdir", 10, "/elsewhere/node_modules"));
  dirs.observe(event("mkdir", 10, `${W}/src`));
  assert.deepEqual(dirs.roots, [`${W}/node_modules`]);
  // a rename onto the name makes one too
  dirs.observe(event("rename", 10, `${W}/tmp1`, { new_path: `${W}/a/build` }));
  assert.deepEqual(dirs.roots, [`${W}/node_modules`, `${W}/a/build`]);
});

Deno.test("BulkDirs makes no root under a watch pattern that does not cover it all", () => {
  const { sensor, dirs } = bulk([`${W}/**/*.c`]);
  dirs.observe(event("mkdir", 10, `${W}/node_modules`));
  assert.equal(sensor.roots.size, 0);
});

Deno.test("BulkDirs makes no root of a checkout's directory, and retires one a checkout writes under", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, `${W}/build`, { comm: "git" }));
  assert.equal(sensor.roots.size, 0);
  dirs.observe(event("mkdir", 11, `${W}/node_modules`));
  dirs.observe(event("create", 12, `${W}/node_modules/x.c`, { comm: "git" }));
  assert.deepEqual(sensor.removed, [`${W}/node_modules/`]);
  assert.deepEqual(dirs.roots, []);
  // for good: made again, it stays full
  dirs.observe(event("mkdir", 11, `${W}/node_modules`));
  assert.deepEqual(dirs.roots, []);
});

Deno.test("BulkDirs sends a process's summary a read after its exit, with its first change's fields", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, `${W}/node_modules`));
  const step = { name: "install", pid: 5, ci: "command" };
  dirs.observe(
    event("create", 20, `${W}/node_modules/a.js`, {
      step,
      exe: "/usr/bin/node",
    }),
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
  assert.equal(summary.directory, `${W}/node_modules`);
  assert.deepEqual(summary.counts, { create: 99, mkdir: 3 });
  assert.equal(summary.total, 102);
  assert.equal(summary.exited, true);
  assert.equal(summary.reason, `files.watch "${W}/**"`);
  assert.equal(sensor.entries.size, 0);
  // the report counts them as the 102 events they stand for
  const report = buildReport([summary]);
  assert.equal(report.otherChanges, 102);
  assert.equal(report.written[0].count, 102);
});

Deno.test("BulkDirs.finish() sends what live processes counted", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, `${W}/node_modules`));
  dirs.observe(event("unlink", 30, `${W}/node_modules/a.js`));
  sensor.count(30, 1, 4, 7);
  sensor.count(30, 1, 5, 2); // renames count both their paths
  const [summary] = dirs.finish();
  assert.equal(summary.exited, false);
  assert.deepEqual(summary.counts, { unlink: 7, rename: 2 });
  assert.equal(buildReport([summary]).otherChanges, 11);
});

Deno.test("BulkDirs keeps a root across rm -rf and mkdir, drops it for a symlink in its place", () => {
  const { sensor, dirs } = bulk();
  dirs.observe(event("mkdir", 10, `${W}/node_modules`));
  dirs.observe(event("rmdir", 11, `${W}/node_modules`, { comm: "rm" }));
  assert.deepEqual(dirs.roots, [`${W}/node_modules`]);
  dirs.observe(event("symlink", 12, `${W}/node_modules`));
  assert.deepEqual(sensor.removed, [`${W}/node_modules/`]);
  assert.deepEqual(dirs.roots, []);
  // made again as a directory: a new root, with a new id
  dirs.observe(event("mkdir", 13, `${W}/node_modules`));
  assert.deepEqual([...sensor.roots], [[`${W}/node_modules/`, 2]]);
  // a rename onto the name: dropped, then the directory moved in is one
  dirs.observe(
    event("rename", 14, `${W}/tmp`, { new_path: `${W}/node_modules` }),
  );
  assert.deepEqual([...sensor.roots], [[`${W}/node_modules/`, 3]]);
});

Deno.test("BulkDirs takes no symbolic link to a directory as a root", () => {
  Deno.symlinkSync(`${W}/a`, `${W}/target`);
  const { sensor, dirs } = bulk([`${W}/**`], ["target"]);
  dirs.observe(event("rename", 10, `${W}/t1`, { new_path: `${W}/target` }));
  assert.equal(sensor.roots.size, 0);
});
