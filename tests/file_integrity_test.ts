/**
 * Protected files' integrity end to end through `ringfence run` and
 * `ringfence start`: a change that lands (from a process out of scope, or
 * through a hard link made before the start) is found at once and, with
 * `files.restore: true`, put back in place; the stop's comparison covers
 * files added and removed under a `/**` tree; an fd held open for writing
 * from before the start is reported.
 */
import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { FileIntegrityEvent } from "../sensors/file_integrity_event.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  rootShell,
  startAgent,
} from "./helpers/kernel.ts";

function policy(dir: string, extra: string[] = []): string {
  return [
    "version: 1",
    "mode: block",
    "files:",
    `  protect: ["${dir}/tree/**"]`,
    "  action: kill",
    ...extra,
    "",
  ].join("\n");
}

async function makeTree(dir: string): Promise<void> {
  await Deno.mkdir(`${dir}/tree/sub`, { recursive: true });
  await Deno.writeTextFile(`${dir}/tree/a.conf`, "original a\n");
  await Deno.writeTextFile(`${dir}/tree/sub/b.conf`, "original b\n");
}

function runArgs(dir: string, script: string): string[] {
  return [
    "run",
    "--policy",
    `${dir}/policy.yaml`,
    "--output",
    `${dir}/events.jsonl`,
    "--",
    "/bin/bash",
    "-c",
    script,
  ];
}

async function waitFor(
  test: () => Promise<boolean> | boolean,
  ms: number,
): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (await test()) return true;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  return await test();
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.lstat(path);
    return true;
  } catch {
    return false;
  }
}

function integrityEvents(events: RingfenceEvent[]): FileIntegrityEvent[] {
  return events.filter((event): event is FileIntegrityEvent =>
    event.type === "file_integrity"
  );
}

kernelTest(
  "files.restore: a change by a process out of scope under /** is found at once and put back in place",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await makeTree(dir);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy(dir, ["  restore: true"]),
      );
      const file = `${dir}/tree/sub/b.conf`;
      const ino = (await Deno.stat(file)).ino;
      // A second name outside the tree: no directory watch sees it.
      await Deno.link(file, `${dir}/alias`);
      // The step waits while the test (out of scope) changes the file.
      const running = ringfence(runArgs(
        dir,
        `touch ${dir}/go; while [ ! -f ${dir}/done ]; do sleep 0.05; done`,
      ));
      let restored = false;
      try {
        assert.ok(await waitFor(() => exists(`${dir}/go`), 20_000), "ran");
        // Well within the 2 s of the periodic check: inotify saw it.
        const back = () =>
          waitFor(
            async () => (await Deno.readTextFile(file)) === "original b\n",
            1000,
          );
        await Deno.writeTextFile(file, "changed by an outsider\n");
        restored = await back();
        await Deno.writeTextFile(`${dir}/alias`, "through the alias\n");
        restored &&= await back();
      } finally {
        await Deno.writeTextFile(`${dir}/done`, "");
      }
      const result = await running;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(restored, "put back within 1 s, twice");
      assert.equal((await Deno.stat(file)).ino, ino, "in place: same inode");
      const events = integrityEvents(
        await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`),
      );
      const changes = events.filter((event) => event.path === file);
      assert.equal(changes.length, 2, JSON.stringify(events));
      const changed = changes[0];
      assert.equal(changed.kind, "changed");
      assert.deepEqual(changed.changes, ["content"]);
      assert.equal(changed.repaired, true);
      assert.equal(changed.writer, undefined);
      assert.equal(
        changed.detail,
        "unknown writer; restored from the start snapshot",
      );
      // Put back: nothing left for the stop's comparison.
      assert.ok(
        !result.stderr.includes(`protected ${file} changed:`),
        result.stderr,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "files.restore: a write through a hard link made before the start kills the step and the file is put back",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await makeTree(dir);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy(dir, ["  restore: true"]),
      );
      const file = `${dir}/tree/a.conf`;
      await Deno.link(file, `${dir}/alias`);
      const result = await ringfence(runArgs(
        dir,
        `echo evil > ${dir}/alias; echo survived`,
      ));
      assert.notEqual(result.code, 0, result.stderr);
      assert.ok(!result.stdout.includes("survived"), result.stdout);
      // The open by the alias truncated the file before the kill: it is
      // put back. (Once writes are judged at sys_enter by inode, an append
      // through such a link moves nothing at all.)
      assert.ok(
        await waitFor(
          async () => (await Deno.readTextFile(file)) === "original a\n",
          2000,
        ),
        await Deno.readTextFile(file),
      );
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const open = events.find((event) =>
        event.type === "file_system_event" && event.path === `${dir}/alias`
      );
      assert.ok(open?.type === "file_system_event", JSON.stringify(events));
      assert.equal(open.killed, true);
      assert.equal(open.protected_path, file);
      const changed = integrityEvents(events).find((event) =>
        event.path === file
      );
      assert.ok(changed, JSON.stringify(events));
      assert.equal(changed.kind, "changed");
      assert.equal(changed.repaired, true);
      assert.equal(changed.writer?.comm, "bash");
      assert.equal(changed.writer?.killed, true);
      assert.equal(changed.detail, "restored from the start snapshot");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "files.protect /**: the stop reports a file added and a file removed, and the removal names its writer",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await makeTree(dir);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy(dir).replace("mode: block", "mode: audit"),
      );
      const result = await ringfence(runArgs(
        dir,
        `echo new > ${dir}/tree/new.conf; rm ${dir}/tree/sub/b.conf; sleep 0.3`,
      ));
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stderr,
        new RegExp(
          `^ringfence: protected ${dir}/tree/new\\.conf changed: absent -> 4 bytes`,
          "m",
        ),
      );
      assert.match(
        result.stderr,
        new RegExp(
          `^ringfence: protected ${dir}/tree/sub/b\\.conf changed: 11 bytes, .* -> absent$`,
          "m",
        ),
      );
      const events = integrityEvents(
        await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`),
      );
      const removed = events.find((event) =>
        event.path === `${dir}/tree/sub/b.conf`
      );
      assert.ok(removed, JSON.stringify(events));
      assert.equal(removed.kind, "removed");
      assert.equal(removed.writer?.comm, "rm");
      assert.equal(removed.repaired, false);
      assert.equal(removed.detail, "files.restore is off");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "ringfence start: an fd a scope root held open for writing to a protected file before the start is reported",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const root = await rootShell(dir, "rfholder");
    await makeTree(dir);
    const file = `${dir}/tree/a.conf`;
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      policy(dir).replace("mode: block", "mode: audit") +
        "scope:\n  processes: [rfholder]\n",
    );
    const holder = new Deno.Command(root, {
      args: [
        "-c",
        `exec 3>>${file}; while [ ! -f ${dir}/done ]; do /bin/sleep 0.05; done`,
      ],
      stdout: "null",
    }).spawn();
    let agent;
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      agent = await startAgent([
        "--policy",
        `${dir}/policy.yaml`,
        "--output",
        `${dir}/events.jsonl`,
      ]);
    } finally {
      await Deno.writeTextFile(`${dir}/done`, "");
      await holder.status;
    }
    try {
      const { code, stderr } = await agent.stop();
      assert.equal(code, 0, stderr);
      const events = integrityEvents(
        await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`),
      );
      const held = events.find((event) =>
        event.kind === "held_open" && event.writer?.pid === holder.pid
      );
      assert.ok(held, JSON.stringify(events));
      assert.equal(held.path, file);
      assert.equal(held.fd, 3);
      assert.deepEqual(held.flags?.slice(0, 1), ["O_WRONLY"]);
      assert.ok(held.flags?.includes("O_APPEND"));
      assert.equal(held.repaired, false);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "files.restore: after a SIGHUP that protects another tree, a change there is put back",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await makeTree(dir);
      await Deno.mkdir(`${dir}/other`);
      await Deno.writeTextFile(`${dir}/other/c.conf`, "original c\n");
      const file = `${dir}/other/c.conf`;
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy(dir, ["  restore: true"]),
      );
      const agent = await startAgent([
        "--policy",
        `${dir}/policy.yaml`,
        "--output",
        `${dir}/events.jsonl`,
      ]);
      let restored = false;
      try {
        await Deno.writeTextFile(
          `${dir}/policy.yaml`,
          policy(dir, ["  restore: true"]).replace("/tree/**", "/other/**"),
        );
        agent.kill("SIGHUP");
        await agent.waitFor("policy reloaded");
        // The rescan runs right after the reload.
        await new Promise((resolve) => setTimeout(resolve, 300));
        await Deno.writeTextFile(file, "changed\n");
        restored = await waitFor(
          async () => (await Deno.readTextFile(file)) === "original c\n",
          2000,
        );
      } finally {
        const { code, stderr } = await agent.stop();
        assert.equal(code, 0, stderr);
      }
      assert.ok(restored, "put back within 2 s");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "files.restore: a write through a shared mapping, which raises no inotify event, is put back by the periodic check",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await makeTree(dir);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy(dir, ["  restore: true"]),
      );
      const file = `${dir}/tree/a.conf`;
      const running = ringfence(runArgs(
        dir,
        `touch ${dir}/go; while [ ! -f ${dir}/done ]; do sleep 0.05; done`,
      ));
      let restored = false;
      let mapper: Deno.ChildProcess | undefined;
      try {
        assert.ok(await waitFor(() => exists(`${dir}/go`), 20_000), "ran");
        // Out of scope; the file stays open (no IN_CLOSE_WRITE) while the
        // agent looks.
        mapper = new Deno.Command("python3", {
          args: [
            "-c",
            `import mmap, time
f = open(${JSON.stringify(file)}, "r+b")
m = mmap.mmap(f.fileno(), 0)
m[0:8] = b"MAPPED a"
m.flush()
time.sleep(5)`,
          ],
        }).spawn();
        assert.ok(
          await waitFor(
            async () => (await Deno.readTextFile(file)).startsWith("MAPPED"),
            2000,
          ),
          "the mapping wrote",
        );
        restored = await waitFor(
          async () => (await Deno.readTextFile(file)) === "original a\n",
          3500,
        );
      } finally {
        await Deno.writeTextFile(`${dir}/done`, "");
        try {
          mapper?.kill();
        } catch { /* gone */ }
        await mapper?.status;
      }
      const result = await running;
      assert.equal(result.code, 0, result.stderr);
      assert.ok(restored, "put back within 3.5 s");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "files.restore: a removed file is created again and known by its new inode: a write through a new link to it is killed",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await makeTree(dir);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy(dir, ["  restore: true"]),
      );
      const file = `${dir}/tree/a.conf`;
      const running = ringfence(runArgs(
        dir,
        `touch ${dir}/go; while [ ! -f ${dir}/ready ]; do sleep 0.05; done; echo evil >> ${dir}/alias; echo survived`,
      ));
      let restored = false;
      try {
        assert.ok(await waitFor(() => exists(`${dir}/go`), 20_000), "ran");
        await Deno.remove(file);
        restored = await waitFor(
          async () =>
            await exists(file) &&
            (await Deno.readTextFile(file)) === "original a\n",
          1000,
        );
        await Deno.link(file, `${dir}/alias`);
      } finally {
        await Deno.writeTextFile(`${dir}/ready`, "");
      }
      const result = await running;
      assert.ok(restored, "created again within 1 s");
      assert.notEqual(result.code, 0, result.stderr);
      assert.ok(!result.stdout.includes("survived"), result.stdout);
      assert.equal(await Deno.readTextFile(file), "original a\n");
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const removed = integrityEvents(events).find((event) =>
        event.path === file
      );
      assert.equal(removed?.kind, "removed", JSON.stringify(events));
      assert.equal(removed.repaired, true);
      const open = events.find((event) =>
        event.type === "file_system_event" && event.path === `${dir}/alias`
      );
      assert.ok(open?.type === "file_system_event", JSON.stringify(events));
      assert.equal(open.killed, true);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "block mode: a write through an fd a policed process held open from before the start is killed and moves nothing",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const root = await rootShell(dir, "rfholder");
    await makeTree(dir);
    const file = `${dir}/tree/a.conf`;
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      policy(dir) + "scope:\n  processes: [rfholder]\n",
    );
    // The root (exempt) opens the file; its child, policed, inherits the
    // fd and writes once the agent runs.
    const holder = new Deno.Command(root, {
      args: [
        "-c",
        `exec 3>>${file}; /bin/sh -c 'while [ ! -f ${dir}/go ]; do /bin/sleep 0.05; done; echo evil >&3; echo wrote > ${dir}/out'; ` +
        `while [ ! -f ${dir}/done ]; do /bin/sleep 0.05; done`,
      ],
      stdout: "null",
    }).spawn();
    let agent;
    try {
      await new Promise((resolve) => setTimeout(resolve, 200));
      agent = await startAgent([
        "--policy",
        `${dir}/policy.yaml`,
        "--output",
        `${dir}/events.jsonl`,
      ]);
      await Deno.writeTextFile(`${dir}/go`, "");
      await waitFor(async () => {
        const events = await readJsonLines<RingfenceEvent>(
          `${dir}/events.jsonl`,
        );
        return events.some((event) =>
          event.type === "file_system_event" && event.kind === "write"
        );
      }, 5000);
    } finally {
      await Deno.writeTextFile(`${dir}/done`, "");
      await holder.status;
    }
    try {
      const { code, stderr } = await agent!.stop();
      assert.equal(code, 0, stderr);
      assert.equal(await Deno.readTextFile(file), "original a\n");
      assert.equal(
        await exists(`${dir}/out`),
        false,
        "the writer never ran on",
      );
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const write = events.find((event) =>
        event.type === "file_system_event" && event.kind === "write"
      );
      assert.ok(write?.type === "file_system_event", JSON.stringify(events));
      assert.equal(write.killed, true);
      assert.equal(write.path, file);
      assert.equal(write.call, "write");
      assert.equal(write.verdict, "deny");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "block mode: a write through a bind mount in a private mount namespace is killed by inode and moves nothing",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await makeTree(dir);
      await Deno.mkdir(`${dir}/alias`);
      const file = `${dir}/tree/a.conf`;
      await Deno.writeTextFile(`${dir}/policy.yaml`, policy(dir));
      const result = await ringfence(runArgs(
        dir,
        // A mount namespace of its own: the mount is no one else's
        // business, but the file behind the alias is the protected one.
        `unshare -m /bin/sh -c 'mount --bind ${dir}/tree ${dir}/alias && ` +
          `echo evil >> ${dir}/alias/a.conf; echo went on > ${dir}/out'; true`,
      ));
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await Deno.readTextFile(file), "original a\n");
      assert.equal(await exists(`${dir}/out`), false, "killed at the open");
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const open = events.find((event) =>
        event.type === "file_system_event" &&
        event.path === `${dir}/alias/a.conf`
      );
      assert.ok(open?.type === "file_system_event", JSON.stringify(events));
      assert.equal(open.killed, true);
      assert.equal(open.by_inode, true);
      assert.equal(open.protected_path, file);
      assert.match(open.reason, /matched by device and inode/);
      // A mount in another namespace is not killed: it changes no path
      // the agent's namespace sees.
      assert.ok(
        !events.some((event) =>
          event.type === "file_system_event" && event.kind === "mount"
        ),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "files.secrets: a read through a hard link made before the start is reported by inode",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(`${dir}/secret.txt`, "token\n");
      await Deno.link(`${dir}/secret.txt`, `${dir}/innocent.txt`);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        `version: 1\nmode: block\nfiles:\n  secrets: ["${dir}/secret.txt"]\n`,
      );
      const result = await ringfence(
        runArgs(dir, `cat ${dir}/innocent.txt > /dev/null`),
      );
      assert.equal(result.code, 0, result.stderr);
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const read = events.find((event) =>
        event.type === "file_system_event" && event.kind === "read"
      );
      assert.ok(read?.type === "file_system_event", JSON.stringify(events));
      assert.equal(read.path, `${dir}/innocent.txt`);
      assert.equal(read.by_inode, true);
      assert.equal(read.reason, "files.secrets, matched by device and inode");
      assert.equal(read.comm, "cat");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
