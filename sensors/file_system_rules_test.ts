import assert from "node:assert/strict";
import {
  aboveDirectories,
  FileSystemRules,
  kernelPlan,
  normalizePath,
} from "./file_system_rules.ts";
import type { RawFileSystemEvent } from "./file_system_event.ts";
import { FileClass } from "./file_system_maps.ts";

Deno.test("the kernel plan: prefix, name or everything; exact when sure", () => {
  assert.deepEqual(kernelPlan({ kind: "path", path: "/etc/hosts" }), {
    kind: "prefix",
    prefix: "/etc/hosts\0",
    exact: true,
  });
  assert.deepEqual(
    kernelPlan({ kind: "prefix", prefix: "/w/", exact: true }),
    { kind: "prefix", prefix: "/w/", exact: true },
  );
  assert.deepEqual(
    kernelPlan({ kind: "prefix", prefix: "/home/", exact: false }),
    { kind: "prefix", prefix: "/home/", exact: false },
  );
  assert.deepEqual(kernelPlan({ kind: "name", name: "xmrig", exact: true }), {
    kind: "name",
    name: "xmrig",
    exact: true,
  });
  assert.deepEqual(kernelPlan({ kind: "none" }), { kind: "all", exact: false });
  const plan = kernelPlan({
    kind: "prefix",
    prefix: "/" + "d".repeat(300) + "/",
    exact: true,
  });
  assert.equal(plan.kind, "prefix");
  assert.equal(plan.exact, false, "a cut prefix is not exact");
  assert.deepEqual(
    kernelPlan({ kind: "name", name: "n".repeat(64), exact: true }),
    { kind: "all", exact: false },
    "a name the map cannot hold leaves every path to user space",
  );
});

Deno.test("normalizePath resolves . and .. lexically", () => {
  assert.equal(normalizePath("/a/./b//c/../d"), "/a/b/d");
  assert.equal(normalizePath("/../x"), "/x");
  assert.equal(normalizePath("/"), "/");
});

Deno.test("aboveDirectories(): a tree's root and its ancestors; a path's ancestors", () => {
  assert.deepEqual(
    aboveDirectories({ kind: "prefix", prefix: "/srv/keys/", exact: true }),
    ["/srv/keys", "/srv", "/"],
  );
  assert.deepEqual(
    aboveDirectories({ kind: "path", path: "/etc/ssh/sshd_config" }),
    ["/etc/ssh", "/etc", "/"],
  );
  assert.deepEqual(
    aboveDirectories({ kind: "prefix", prefix: "/", exact: true }),
    [
      "/",
    ],
  );
  assert.deepEqual(
    aboveDirectories({ kind: "prefix", prefix: "/srv/", exact: false }),
    [],
    "/srv/*.pem: no tree the kernel holds exactly",
  );
  assert.deepEqual(
    aboveDirectories({ kind: "name", name: "x", exact: true }),
    [],
  );
  assert.deepEqual(
    aboveDirectories({
      kind: "prefix",
      prefix: "/" + "d".repeat(300) + "/",
      exact: true,
    }),
    [],
    "a prefix cut to fit is not exact",
  );
});

function literal(path: string) {
  return {
    text: path,
    matches: (candidate: string) => candidate === path,
    literal: { kind: "path" as const, path },
  };
}

function raw(fields: Partial<RawFileSystemEvent>): RawFileSystemEvent {
  return {
    type: "file_system_event",
    kind: "open",
    time: "",
    pid: 1,
    tid: 1,
    ppid: 0,
    uid: 0,
    gid: 0,
    comm: "x",
    cgroup_id: 0,
    path: "/alias",
    verdict: "allow",
    reason: "",
    classes: 0,
    ...fields,
  } as RawFileSystemEvent;
}

Deno.test("judge(): an inode match on an alias path is a protect match", () => {
  const rules = new FileSystemRules({
    watch: [],
    protect: [literal("/etc/hosts")],
    secrets: [literal("/run/token")],
    enforce: false,
  });
  const never = () => false;
  const write = rules.judge(
    raw({
      kind: "write",
      by_inode: true,
      classes: FileClass.protect | FileClass.kill,
    }),
    never,
  );
  assert.equal(write?.verdict, "audit");
  assert.equal(write?.reason, "files.protect, matched by device and inode");
  assert.equal(
    rules.judge(raw({ kind: "write", classes: FileClass.watch }), never),
    undefined,
    "no pattern and no inode match: dropped",
  );
  const read = rules.judge(
    raw({ kind: "read", by_inode: true, classes: FileClass.secret }),
    never,
  );
  assert.equal(read?.reason, "files.secrets, matched by device and inode");
  const above = rules.judge(
    raw({ kind: "mount", path: "/etc", classes: FileClass.above }),
    never,
  );
  assert.equal(
    above?.reason,
    "files.protect, a directory at or above a protected tree",
  );
  assert.equal(
    rules.judge(
      raw({ kind: "chmod", path: "/etc", classes: FileClass.above }),
      never,
    ),
    undefined,
    "a chmod of a directory above changes no protected path",
  );
  let killed = false;
  const enforcing = new FileSystemRules({
    watch: [],
    protect: [literal("/etc/hosts")],
    secrets: [],
    enforce: true,
  });
  const handle = enforcing.judge(
    raw({ kind: "handle", path: "/etc/hosts", classes: FileClass.protect }),
    () => (killed = true),
  );
  assert.equal(handle?.verdict, "allow");
  assert.equal(handle?.reason, 'files.protect "/etc/hosts"');
  assert.equal(killed, false, "a handle alone is never killed");
});
