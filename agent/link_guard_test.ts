import assert from "node:assert/strict";
import { compileGlob } from "../policy/glob.ts";
import type { FileSystemEvent } from "../sensors/events.ts";
import type { FileFinding } from "./file_findings.ts";
import { LinkGuard } from "./link_guard.ts";

function link(path: string, newPath: string): FileSystemEvent {
  return {
    type: "file_system_event",
    kind: "link",
    time: "",
    pid: 42,
    tid: 42,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "ln",
    cgroup_id: 1,
    path,
    new_path: newPath,
    verdict: "deny",
    reason: "",
  };
}

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function guard(dir: string, repair = true) {
  const found: Omit<FileFinding, "time">[] = [];
  const patterns = [`${dir}/file`, `${dir}/tree/**`].map(compileGlob);
  const links = new LinkGuard(
    () => patterns,
    () => [`${dir}/file`],
    () => repair,
    (finding) => found.push(finding),
  );
  return { links, found };
}

Deno.test("LinkGuard: a new name of a protected file is removed, the same file only", () =>
  withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await Deno.mkdir(`${dir}/tree`);
    await Deno.writeTextFile(`${dir}/tree/key`, "k");
    await Deno.writeTextFile(`${dir}/other`, "o");
    const { links, found } = guard(dir);
    assert.deepEqual(found, [], "one name each at the start");
    await Deno.link(`${dir}/file`, `${dir}/a`);
    links.linked(link(`${dir}/file`, `${dir}/a`), { pid: 42, step: "s" });
    await Deno.link(`${dir}/tree/key`, `${dir}/b`);
    links.linked(link(`${dir}/tree/key`, `${dir}/b`), { pid: 43 });
    // Reached by another path (e.g. /proc/self/fd/N): the inode decides.
    await Deno.link(`${dir}/file`, `${dir}/c`);
    links.linked(link(`/proc/self/fd/3`, `${dir}/c`), { pid: 44 });
    // A link of an unprotected file is none of its business.
    await Deno.link(`${dir}/other`, `${dir}/d`);
    links.linked(link(`${dir}/other`, `${dir}/d`), { pid: 45 });
    assert.deepEqual(
      found.map(({ path, other_path, repaired, pid, step }) => ({
        path,
        other_path,
        repaired,
        pid,
        step,
      })),
      [
        {
          path: `${dir}/file`,
          other_path: `${dir}/a`,
          repaired: true,
          pid: 42,
          step: "s",
        },
        {
          path: `${dir}/tree/key`,
          other_path: `${dir}/b`,
          repaired: true,
          pid: 43,
          step: undefined,
        },
        {
          path: `${dir}/file`,
          other_path: `${dir}/c`,
          repaired: true,
          pid: 44,
          step: undefined,
        },
      ],
    );
    for (const name of ["a", "b", "c"]) {
      await assert.rejects(Deno.lstat(`${dir}/${name}`), Deno.errors.NotFound);
    }
    assert.ok(await Deno.lstat(`${dir}/d`));
    found.length = 0;
    links.check();
    links.check();
    assert.deepEqual(found, [], "the names are back to one");
  }));

Deno.test("LinkGuard: names moved away, made unseen, or there at the start", () =>
  withDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "x");
    await Deno.mkdir(`${dir}/tree`);
    await Deno.link(`${dir}/file`, `${dir}/planted`);
    const { links, found } = guard(dir, false);
    assert.equal(found.length, 1);
    assert.equal(found[0].repaired, false);
    assert.match(found[0].detail!, /2 names when the agent started/);
    found.length = 0;
    // Linked, then renamed before the agent looked.
    await Deno.link(`${dir}/file`, `${dir}/moved`);
    links.linked(link(`${dir}/file`, `${dir}/gone`), { pid: 42 });
    assert.equal(found.length, 1);
    assert.match(found[0].detail!, /moved before the agent could remove it/);
    found.length = 0;
    // A name no kernel report announced: reported at the second check.
    await Deno.link(`${dir}/file`, `${dir}/unseen`);
    links.check();
    assert.equal(
      found.length,
      0,
      "at the first check, a kernel report may follow",
    );
    links.check();
    assert.equal(found.length, 1);
    assert.equal(found[0].repaired, false);
    assert.match(found[0].detail!, /1 new name \(4 in all\)/);
    // Audit: nothing removed.
    found.length = 0;
    await Deno.link(`${dir}/file`, `${dir}/kept`);
    links.linked(link(`${dir}/file`, `${dir}/kept`), { pid: 42 });
    assert.equal(found[0].repaired, false);
    assert.ok(await Deno.lstat(`${dir}/kept`));
  }));
