import assert from "node:assert/strict";
import { compileGlob } from "../policy/glob.ts";
import { FileClass, kernelDev } from "../sensors/file_system.ts";
import { readRecord, recordChanges } from "./file_snapshot.ts";
import { fdinfoFlags } from "./held_fds.ts";
import { InodeTable, patternRoots } from "./protected_inodes.ts";
import { diffSnapshots } from "./tamper.ts";

Deno.test("patternRoots: literal paths and exact trees only", () => {
  const roots = patternRoots(
    ["/etc/hosts", "/etc/app/**", "/a/*.conf", "**/.npmrc"].map(compileGlob),
  );
  assert.deepEqual(roots, { paths: ["/etc/hosts"], trees: ["/etc/app"] });
});

Deno.test("InodeTable: literal paths and every file and directory under a tree, capped", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
    await Deno.writeTextFile(`${dir}/tree/a`, "a");
    await Deno.writeTextFile(`${dir}/tree/sub/b`, "b");
    await Deno.writeTextFile(`${dir}/key`, "k");
    await Deno.symlink("/etc/passwd", `${dir}/tree/link`);
    const rules = {
      protect: [compileGlob(`${dir}/tree/**`)],
      secrets: [compileGlob(`${dir}/key`)],
      enforce: true,
    };
    const table = InodeTable.build(rules);
    const paths = [...table.paths()].map(([path]) => path).sort();
    assert.deepEqual(paths, [
      `${dir}/key`,
      `${dir}/tree/a`,
      `${dir}/tree/sub`,
      `${dir}/tree/sub/b`,
    ]);
    const info = await Deno.stat(`${dir}/tree/sub/b`);
    const record = table.byInode(kernelDev(info.dev), BigInt(info.ino!));
    assert.equal(record?.classes, FileClass.protect | FileClass.kill);
    assert.equal(table.byPath(`${dir}/key`)?.classes, FileClass.secret);
    assert.equal(table.capped, false);

    // A hard link is the same inode: forgetting one path keeps it.
    await Deno.link(`${dir}/tree/a`, `${dir}/tree/a2`);
    table.addPath(`${dir}/tree/a2`);
    assert.equal(table.size, 4);
    assert.equal(table.removePath(`${dir}/tree/a`), undefined);
    assert.ok(table.removePath(`${dir}/tree/a2`), "the last path: gone");

    const small = InodeTable.build(rules, 2);
    assert.equal(small.size, 2);
    assert.equal(small.capped, true);
    assert.deepEqual(small.cappedTrees, [`${dir}/tree`]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recordChanges: content, mode, removal and replacement", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    const path = `${dir}/f`;
    await Deno.writeTextFile(path, "one");
    const budget = { hash: 1 << 20, keep: 1 << 20 };
    const start = await readRecord(path, budget);
    assert.deepEqual(new TextDecoder().decode(start.content), "one");
    assert.deepEqual(
      recordChanges(start, await readRecord(path, undefined)),
      [],
    );
    await Deno.writeTextFile(path, "two");
    assert.deepEqual(
      recordChanges(start, await readRecord(path, undefined)),
      ["content"],
    );
    await Deno.chmod(path, 0o600);
    assert.deepEqual(
      recordChanges(start, await readRecord(path, undefined)),
      ["content", "mode"],
    );
    await Deno.writeTextFile(`${dir}/g`, "one");
    await Deno.rename(`${dir}/g`, path);
    assert.ok(
      recordChanges(start, await readRecord(path, undefined)).includes("inode"),
    );
    await Deno.remove(path);
    assert.deepEqual(
      recordChanges(start, await readRecord(path, undefined)),
      ["removed"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("diffSnapshots: changed, removed and added files", () => {
  const before = new Map([
    ["/t/a", { exists: true, size: 1, mtime: "m", sha256: "x" }],
    ["/t/b", { exists: true, size: 1, mtime: "m", sha256: "y" }],
    ["/t/c", { exists: true, size: 1, mtime: "m", sha256: "z", mode: 0o644 }],
  ]);
  const after = new Map([
    ["/t/a", { exists: true, size: 1, mtime: "m", sha256: "x" }],
    ["/t/c", { exists: true, size: 1, mtime: "m", sha256: "z", mode: 0o600 }],
    ["/t/new", { exists: true, size: 2, mtime: "n" }],
  ]);
  assert.deepEqual(
    diffSnapshots(before, after).map((change) => change.path),
    ["/t/b", "/t/c", "/t/new"],
  );
});

Deno.test("fdinfoFlags: the octal flags line", () => {
  assert.equal(
    fdinfoFlags("pos:\t0\nflags:\t0102001\nmnt_id:\t29\nino:\t12\n"),
    0o102001,
  );
  assert.equal(fdinfoFlags("pos:\t0\n"), undefined);
});
