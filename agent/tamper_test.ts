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
