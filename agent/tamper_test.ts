import assert from "node:assert/strict";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import type { Step } from "./steps.ts";
import {
  diffSnapshots,
  type FileState,
  isCheckout,
  TamperTracker,
} from "./tamper.ts";
import { MAX_LINES, tamperLines } from "../report/tamper_lines.ts";

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

const CLONE: Step = { name: "git clone origin w", pid: 300, ci: "command" };
const EDIT: Step = { name: "sed -i s/a/b/ w/x.c", pid: 400, ci: "command" };
const BUILD: Step = { name: "make", pid: 500, ci: "command" };

const byGit = (kind: FileSystemEvent["kind"], path: string) =>
  fileEvent(kind, 301, path, { comm: "git", step: CLONE });

Deno.test("isCheckout() knows git and actions/checkout steps", () => {
  assert.ok(isCheckout(fileEvent("create", 1, "/w/a", { comm: "git" })));
  assert.ok(
    isCheckout(fileEvent("create", 1, "/w/a", { comm: "git-remote-htt" })),
  );
  assert.ok(
    isCheckout(
      fileEvent("create", 1, "/w/a", { comm: "x", exe: "/usr/bin/git" }),
    ),
  );
  assert.ok(
    isCheckout(
      fileEvent("create", 1, "/w/a", {
        comm: "node",
        step: {
          name: "__actions_checkout",
          pid: 9,
          ci: "github",
          action: "actions/checkout",
        },
      }),
    ),
  );
  assert.ok(!isCheckout(fileEvent("create", 1, "/w/a", { comm: "sed" })));
  assert.ok(!isCheckout(fileEvent("create", 1, "/w/a", { comm: "gitleaks" })));
});

Deno.test("TamperTracker flags checked-out files changed by anything else", () => {
  const tracker = new TamperTracker();
  assert.equal(tracker.record(byGit("create", "/w/x.c")), undefined);
  assert.equal(tracker.record(byGit("create", "/w/README")), undefined);
  assert.equal(tracker.record(byGit("create", "/w/gone.c")), undefined);
  // sed -i: a new temporary file renamed over the source.
  assert.equal(
    tracker.record(fileEvent("create", 400, "/w/sedAbc", { step: EDIT })),
    undefined,
  );
  assert.equal(
    tracker.record(
      fileEvent("rename", 400, "/w/sedAbc", {
        new_path: "/w/x.c",
        comm: "sed",
        exe: "/usr/bin/sed",
        step: EDIT,
      }),
    ),
    CLONE.name,
  );
  // The build's own outputs are changes, not tampering.
  assert.equal(
    tracker.record(fileEvent("create", 500, "/w/out.o", { step: BUILD })),
    undefined,
  );
  assert.equal(
    tracker.record(fileEvent("unlink", 500, "/w/gone.c", { step: BUILD })),
    CLONE.name,
  );
  // A later checkout (git pull) is still the checkout.
  assert.equal(tracker.record(byGit("open", "/w/README")), undefined);
  // Reads and secrets are not changes.
  tracker.record(fileEvent("read", 400, "/w/.npmrc"));
  tracker.record(
    fileEvent("open", 400, "/w/token", { reason: 'files.secrets "**/token"' }),
  );
  const files = tracker.files();
  assert.deepEqual(
    files.map((entry) => [entry.path, entry.kind]),
    [["/w/x.c", "rename"], ["/w/gone.c", "unlink"]],
  );
  // sedAbc's create and its rename away, and out.o.
  assert.equal(tracker.otherChanges, 3);
  assert.equal(files[0].checkout, CLONE.name);
  assert.equal(files[0].step, EDIT.name);
  assert.equal(files[0].exe, "/usr/bin/sed");
  assert.equal(files[0].changes, 1);
  const lines = tamperLines({
    files,
    protected: [],
    otherChanges: tracker.otherChanges,
  });
  assert.deepEqual(lines, [
    'ringfence: tampered /w/x.c (rename) by pid 400 sed (/usr/bin/sed) in step "sed -i s/a/b/ w/x.c", after checkout by "git clone origin w"',
    'ringfence: tampered /w/gone.c (unlink) by pid 500 x in step "make", after checkout by "git clone origin w"',
    "ringfence: 3 other changes under files.watch (see the events)",
  ]);
});

Deno.test("TamperTracker names a GitHub step with its action", () => {
  const tracker = new TamperTracker();
  const checkout: Step = {
    name: "__actions_checkout",
    pid: 10,
    ci: "github",
    action: "actions/checkout",
  };
  tracker.record(fileEvent("create", 11, "/w/a.c", { step: checkout }));
  const step: Step = { name: "__run_2", pid: 20, ci: "github" };
  assert.equal(
    tracker.record(fileEvent("open", 21, "/w/a.c", { step, comm: "python3" })),
    "__actions_checkout (actions/checkout)",
  );
  assert.equal(
    tamperLines({ files: tracker.files(), protected: [] })[0],
    'ringfence: tampered /w/a.c (open) by pid 21 python3 in step "__run_2", after checkout by "__actions_checkout (actions/checkout)"',
  );
});

Deno.test("TamperTracker remembers checkouts up to its limit and counts the rest", () => {
  const tracker = new TamperTracker(2);
  for (const name of ["a", "b", "c"]) {
    tracker.record(byGit("create", `/w/${name}`));
  }
  assert.equal(tracker.omitted, 1);
  for (const name of ["a", "b", "c"]) {
    tracker.record(fileEvent("open", 400, `/w/${name}`, { step: EDIT }));
  }
  assert.deepEqual(tracker.files().map((entry) => entry.path), [
    "/w/a",
    "/w/b",
  ]);
  assert.equal(tracker.otherChanges, 1, "c was never remembered");
});

Deno.test("tamperLines() caps the tampered list and says how many more", () => {
  const tracker = new TamperTracker();
  for (let index = 0; index < MAX_LINES + 3; index++) {
    tracker.record(byGit("create", `/w/${index}`));
    tracker.record(fileEvent("open", 400, `/w/${index}`, { step: EDIT }));
  }
  const lines = tamperLines({ files: tracker.files(), protected: [] });
  assert.equal(lines.length, MAX_LINES + 1);
  assert.equal(
    lines.at(-1),
    "ringfence: ... and 3 more tampered files (see the events)",
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

/** lstat over a fake file system: path → [dev, ino]. */
function fakeLstat(files: Record<string, [number, number]>) {
  return (path: string) => {
    const found = files[path];
    return found ? { dev: found[0], ino: found[1] } : null;
  };
}

// 254:0 as lstat encodes it (glibc), "254:0" as events give it.
const DEV = 0xfe00;
const inode = (ino: number) => ({ inode: { dev: "254:0", ino } });

Deno.test("sweep() finds checked-out files gone or replaced with no event", () => {
  const tracker = new TamperTracker();
  for (const [path, ino] of [["/w/src/a.c", 11], ["/w/src/b.c", 12]] as const) {
    tracker.record(
      fileEvent("create", 301, path, {
        comm: "git",
        step: CLONE,
        ...inode(ino),
      }),
    );
  }
  tracker.record(
    fileEvent("create", 301, "/w/src/c.c", {
      comm: "git",
      step: CLONE,
      ...inode(13),
    }),
  );
  const found = tracker.sweep(fakeLstat({
    "/w": [DEV, 1],
    "/w/src": [DEV, 2],
    // a.c gone; b.c another file; c.c as the checkout left it
    "/w/src/b.c": [DEV, 99],
    "/w/src/c.c": [DEV, 13],
  }));
  assert.deepEqual(
    found.map((
      entry,
    ) => [entry.path, entry.kind, entry.atStop, entry.checkout]),
    [
      ["/w/src/a.c", "unlink", true, CLONE.name],
      ["/w/src/b.c", "rename", true, CLONE.name],
    ],
  );
  // Listed with the others, and only once however often it is asked.
  assert.equal(tracker.files().length, 2);
  assert.equal(tracker.sweep(fakeLstat({})).length, 0);
  assert.match(
    tamperLines({ files: tracker.files(), protected: [] })[0],
    /tampered \/w\/src\/a\.c \(unlink\) by a process no event named \(found when the agent stopped\)/,
  );
});

Deno.test("sweep() leaves what a checkout removed, moved or an event named", () => {
  const tracker = new TamperTracker();
  const git = (kind: FileSystemEvent["kind"], path: string, extra = {}) =>
    tracker.record(
      fileEvent(kind, 301, path, { comm: "git", step: CLONE, ...extra }),
    );
  git("create", "/w/gone-by-git.c", inode(21));
  git("unlink", "/w/gone-by-git.c");
  git("create", "/w/tmp.lock", inode(22));
  git("rename", "/w/tmp.lock", { new_path: "/w/moved.c" });
  git("create", "/w/edited.c", inode(23));
  git("create", "/w/no-inode.c");
  // Named by an event: already tampered, not found again by the sweep.
  tracker.record(fileEvent("unlink", 401, "/w/edited.c", { step: EDIT }));
  const found = tracker.sweep(fakeLstat({
    "/w": [DEV, 1],
    "/w/moved.c": [DEV, 22], // the renamed file, as the checkout left it
  }));
  assert.deepEqual(found, []);
  assert.deepEqual(tracker.files().map((entry) => entry.path), ["/w/edited.c"]);
});

Deno.test("sweep() judges no path the agent cannot see (a container's)", () => {
  const tracker = new TamperTracker();
  tracker.record(
    fileEvent("create", 301, "/__w/repo/a.c", {
      comm: "git",
      step: CLONE,
      ...inode(31),
    }),
  );
  tracker.record(
    fileEvent("create", 301, "/other-dev/a.c", {
      comm: "git",
      step: CLONE,
      ...inode(32),
    }),
  );
  // Neither /__w nor anything under it exists here; /other-dev is on
  // another device than the checkout's file was.
  assert.deepEqual(
    tracker.sweep(fakeLstat({ "/other-dev": [0x801, 5] })),
    [],
  );
});
