/**
 * Protected files against io_uring, end to end through `ringfence run` in
 * block mode: requests that never pass the open, write, unlink or rename
 * syscalls (tests/helpers/uring_file.c) are judged at submission, their
 * submitter killed before the request is issued, and the file left as it
 * was; a secret opened by IORING_OP_OPENAT is reported. Through the Agent
 * API: an alias (hard link) of a file in fs_inodes opened for writing is
 * killed at the open's completion, and audit mode reports without killing.
 */
import assert from "node:assert/strict";
import { Agent } from "../agent/agent.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { FileSystemEvent } from "../sensors/file_system_event.ts";
import { encodeInodeKey } from "../sensors/file_system_maps.ts";
import { kernelDev } from "../sensors/device.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import {
  clang,
  kernelTest,
  readJsonLines,
  ringfence,
  ROOT,
  runInDir,
} from "./helpers/kernel.ts";

const CONTENT = "original\n";

/**
 * The steps, each run as `uring_file ARGS` with its output in out.NAME:
 * the call it is killed at, the event's kind and the file's name under
 * the test's directory. fd 3 is single.conf (O_APPEND) and fd 4 is
 * tree/e.conf (O_RDWR), both inherited.
 */
const STEPS: {
  name: string;
  args: string;
  kind: string;
  call: string;
  file: string;
}[] = [
  step(
    "open_write",
    "open-write tree/a.conf EVIL",
    "open",
    "OPENAT",
    "tree/a.conf",
  ),
  // one submission: the write on the fd the open is to get
  step(
    "linked",
    "open-write-linked tree/b.conf EVIL",
    "open",
    "OPENAT",
    "tree/b.conf",
  ),
  step("inherited", "write 3 EVIL", "write", "WRITE", "single.conf"),
  step("fixed", "write-fixed 3 EVIL", "write", "WRITE", "single.conf"),
  // an idle io-wq worker takes the punted write: it is killed too
  step("async", "--warm --async write 3 EVIL", "write", "WRITE", "single.conf"),
  // the ring's iou-sqp thread submits
  step("sqpoll", "--sqpoll write 3 EVIL", "write", "WRITE", "single.conf"),
  step(
    "sqpoll_open",
    "--sqpoll open-write tree/f.conf EVIL",
    "open",
    "OPENAT",
    "tree/f.conf",
  ),
  step("splice", "splice 4 EVIL", "write", "SPLICE", "tree/e.conf"),
  step("ftruncate", "ftruncate 4", "truncate", "FTRUNCATE", "tree/e.conf"),
  step("fallocate", "fallocate 4", "write", "FALLOCATE", "tree/e.conf"),
  step("trunc", "open-trunc tree/g.conf", "truncate", "OPENAT", "tree/g.conf"),
  step("unlink", "unlink tree/c.conf", "unlink", "UNLINKAT", "tree/c.conf"),
  step(
    "rename",
    "rename tree/d.conf moved",
    "rename",
    "RENAMEAT",
    "tree/d.conf",
  ),
  step("link", "link tree/a.conf hard", "link", "LINKAT", "tree/a.conf"),
  step(
    "symlink",
    "symlink /etc/passwd tree/sym",
    "symlink",
    "SYMLINKAT",
    "tree/sym",
  ),
  step("mkdir", "mkdir tree/sub", "mkdir", "MKDIRAT", "tree/sub"),
  // A worker at work takes the unlink before it sees the kill: the
  // unlink may land (docs/threat-model/io_uring.md), and is reported.
  step(
    "busy_unlink",
    "--warm unlink tree/h.conf",
    "unlink",
    "UNLINKAT",
    "tree/h.conf",
  ),
];

function step(
  name: string,
  args: string,
  kind: string,
  call: string,
  file: string,
) {
  return { name, args, kind, call: `IORING_OP_${call}`, file };
}

const FILES = ["a", "b", "c", "d", "e", "f", "g"].map((name) =>
  `tree/${name}.conf`
);

kernelTest(
  "io_uring: block mode kills protected writes, unlinks and renames at submission; nothing lands",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      const helper = await buildHelper(dir);
      await Deno.mkdir(`${dir}/tree`);
      for (const file of [...FILES, "single.conf", "tree/h.conf"]) {
        await Deno.writeTextFile(`${dir}/${file}`, CONTENT);
      }
      await Deno.writeTextFile(`${dir}/secret.key`, "s3cr3t\n");
      await Deno.writeTextFile(`${dir}/free.txt`, "");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "mode: block",
          "files:",
          `  protect: ["${dir}/tree/**", "${dir}/single.conf"]`,
          `  secrets: ["${dir}/secret.key"]`,
          "  action: kill",
          "",
        ].join("\n"),
      );
      const script = [
        `cd ${dir}`,
        ...STEPS.map(({ name, args }) =>
          `${helper} ${args} >out.${name} 2>&1; echo "${name}: $?"`
        ),
        `${helper} read secret.key >out.read 2>&1; echo "read: $?"`,
        // io_uring itself is no offence
        `${helper} open-write free.txt FINE >/dev/null; echo "free: $?"`,
      ].join("\n");
      // fds 3 and 4 are protected files opened for writing by this
      // unpoliced test (through the shell that starts the agent) and
      // inherited by the step: no open of the step's own to kill.
      const result = await ringfence(
        [...runInDir(dir), "/bin/bash", "-c", script],
        {
          wrap: [
            "/bin/sh",
            "-c",
            'exec 3>>"$0/single.conf" 4<>"$0/tree/e.conf"; exec "$@"',
            dir,
          ],
        },
      );
      assert.equal(result.code, 0, result.stderr);
      const outputs: Record<string, string> = {};
      for (const { name } of [...STEPS, { name: "read" }]) {
        outputs[name] = await Deno.readTextFile(`${dir}/out.${name}`);
      }
      const detail = `${result.stdout}\n${JSON.stringify(outputs, null, 2)}`;
      assert.equal(
        result.stdout,
        [...STEPS.map(({ name }) => `${name}: 137\n`), "read: 0\n", "free: 0\n"]
          .join(""),
        detail,
      );
      // Each step got as far as its last submission and no further.
      for (const { name } of STEPS) {
        assert.ok(outputs[name].endsWith("submitted\n"), detail);
      }
      // Nothing moved: the files are as they were, where they were.
      for (const file of [...FILES, "single.conf"]) {
        assert.equal(
          await Deno.readTextFile(`${dir}/${file}`),
          CONTENT,
          `${file}\n${detail}`,
        );
      }
      for (const made of ["moved", "hard", "tree/sym", "tree/sub"]) {
        await assert.rejects(Deno.lstat(`${dir}/${made}`), made);
      }
      assert.match(outputs.read, /read: s3cr3t\n/);
      assert.equal(await Deno.readTextFile(`${dir}/free.txt`), "FINE");

      const events = (await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      )).filter((event): event is FileSystemEvent =>
        event.type === "file_system_event" && event.via === "io_uring"
      );
      const all = JSON.stringify(events);
      for (const { name, kind, call, file } of STEPS) {
        const matching = events.filter((event) =>
          event.kind === kind && event.path === `${dir}/${file}` &&
          event.call === call
        );
        assert.ok(matching.length, `${name}: ${kind} ${file} ${call}: ${all}`);
        for (const event of matching) {
          assert.equal(event.killed, true, `${name}: ${all}`);
          assert.equal(event.verdict, "deny");
        }
      }
      // One event per kill: the completion of an open killed at its
      // submission says nothing more.
      for (const file of ["tree/a.conf", "tree/b.conf", "tree/f.conf"]) {
        assert.equal(
          events.filter((event) =>
            event.path === `${dir}/${file}` && event.kind === "open"
          ).length,
          1,
          all,
        );
      }
      // The four writes of single.conf, one of them from iou-sqp.
      const writes = events.filter((event) =>
        event.path === `${dir}/single.conf`
      );
      assert.equal(writes.length, 4, all);
      assert.ok(writes.some((event) => event.comm.startsWith("iou-sqp")), all);
      assert.equal(
        events.find((event) => event.kind === "rename")?.new_path,
        `${dir}/moved`,
      );
      assert.equal(
        events.find((event) => event.kind === "link")?.new_path,
        `${dir}/hard`,
      );
      const read = events.find((event) =>
        event.kind === "read" && event.path === `${dir}/secret.key`
      );
      assert.ok(read, all);
      assert.equal(read.call, "IORING_OP_OPENAT");
      assert.ok(!read.killed);
      assert.equal(read.reason, `files.secrets "${dir}/secret.key"`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** uring_file built into `dir`. */
async function buildHelper(dir: string): Promise<string> {
  const helper = `${dir}/uring_file`;
  const error = await clang([
    "-O2",
    "-o",
    helper,
    `${ROOT}tests/helpers/uring_file.c`,
  ]);
  if (error) throw new Error(`building uring_file.c: ${error}`);
  return helper;
}

/**
 * Puts `path`'s device and inode in the newest fs_inodes map (the agent's:
 * tests run one at a time) with `classes`, as the agent does for protected
 * files.
 */
async function addInode(path: string, classes: number): Promise<void> {
  const maps = JSON.parse(
    new TextDecoder().decode(
      (await new Deno.Command("bpftool", { args: ["-j", "map", "show"] })
        .output()).stdout,
    ),
  ) as { id: number; name?: string }[];
  const ids = maps.filter((map) => map.name === "fs_inodes").map((map) =>
    map.id
  );
  assert.ok(ids.length, "an fs_inodes map is loaded");
  const info = await Deno.stat(path);
  const hex = (bytes: Uint8Array) =>
    [...bytes].map((byte) => byte.toString(16).padStart(2, "0"));
  const key = encodeInodeKey({
    dev: kernelDev(info.dev),
    ino: BigInt(info.ino!),
  });
  const value = new Uint8Array(new Uint32Array([classes]).buffer);
  const output = await new Deno.Command("bpftool", {
    args: [
      "map",
      "update",
      "id",
      String(Math.max(...ids)),
      "key",
      "hex",
      ...hex(key),
      "value",
      "hex",
      ...hex(value),
    ],
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

/**
 * Runs `script` in bash (cwd `dir`) under an agent on `policy`, after
 * `prepare` (with the agent loaded); its stdout and io_uring events.
 */
async function underAgent(
  policy: string,
  script: string,
  dir: string,
  prepare: () => Promise<void> = async () => {},
) {
  const agent = await Agent.start({
    policy: parsePolicy(policy, "test.yaml"),
    spawner: true,
    sensorsDir: `${ROOT}bpf/build`,
  });
  const all: RingfenceEvent[] = [];
  agent.subscribe((event) => all.push(event));
  try {
    await prepare();
    const output = await new Deno.Command("/bin/bash", {
      args: ["-c", script],
      cwd: dir,
      stdout: "piped",
      stderr: "null",
    }).output();
    agent.flush();
    return {
      stdout: new TextDecoder().decode(output.stdout),
      events: all.filter((event): event is FileSystemEvent =>
        event.type === "file_system_event" && event.via === "io_uring"
      ),
    };
  } finally {
    await agent.stop();
  }
}

/** FS_CLASS_PROTECT | FS_CLASS_KILL (bpf/file_system.h) */
const PROTECT_KILL = 2 | 8;

kernelTest(
  "io_uring: an open for writing of a hard link to a protected inode is killed at its completion, or at the write linked to it",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      const helper = await buildHelper(dir);
      await Deno.writeTextFile(`${dir}/protected.conf`, CONTENT);
      await Deno.link(`${dir}/protected.conf`, `${dir}/alias.conf`);
      const run = await underAgent(
        [
          "version: 1",
          "mode: block",
          // bpftool, a child of this test, fills fs_inodes
          "runner:",
          "  bpf: allow",
          "files:",
          `  protect: ["${dir}/protected.conf"]`,
          "  action: kill",
          "",
        ].join("\n"),
        [
          `${helper} open-write alias.conf EVIL >out.separate 2>&1`,
          'echo "separate: $?"',
          `${helper} open-write-linked alias.conf EVIL >out.linked 2>&1`,
          'echo "linked: $?"',
          `${helper} --skip open-write-linked alias.conf EVIL >out.skip 2>&1`,
          'echo "skip: $?"',
          // both issued by an io-wq worker
          `${helper} --skip --async open-write-linked alias.conf EVIL >out.skip_async 2>&1`,
          'echo "skip_async: $?"',
          `${helper} open-write-slot alias.conf EVIL >out.slot 2>&1`,
          'echo "slot: $?"',
        ].join("\n"),
        dir,
        () => addInode(`${dir}/protected.conf`, PROTECT_KILL),
      );
      const outputs = {
        separate: await Deno.readTextFile(`${dir}/out.separate`),
        linked: await Deno.readTextFile(`${dir}/out.linked`),
        skip: await Deno.readTextFile(`${dir}/out.skip`),
        skip_async: await Deno.readTextFile(`${dir}/out.skip_async`),
        slot: await Deno.readTextFile(`${dir}/out.slot`),
      };
      const detail = `${run.stdout}\n${JSON.stringify(outputs)}`;
      assert.equal(
        run.stdout,
        "separate: 137\nlinked: 137\nskip: 137\nskip_async: 137\nslot: 137\n",
        detail,
      );
      // killed inside the open's io_uring_enter: the write of the first
      // is never submitted, the linked ones move nothing
      assert.deepEqual(outputs, {
        separate: "submitted\n",
        linked: "submitted\n",
        skip: "submitted\n",
        skip_async: "submitted\n",
        // a direct descriptor: found in the ring's file table
        slot: "submitted\n",
      });
      assert.equal(await Deno.readTextFile(`${dir}/protected.conf`), CONTENT);
      const opens = run.events.filter((event) =>
        event.kind === "open" && event.path === `${dir}/alias.conf`
      );
      assert.equal(opens.length, 3, JSON.stringify(run.events));
      for (const open of opens) {
        assert.equal(open.call, "IORING_OP_OPENAT");
        assert.equal(open.killed, true);
        assert.equal(open.verdict, "deny");
      }
      // The open whose completion is skipped (IOSQE_CQE_SKIP_SUCCESS) is
      // not seen; the write linked to it is, as it gets its file.
      const writes = run.events.filter((event) =>
        event.kind === "write" && event.path === `${dir}/alias.conf`
      );
      assert.equal(writes.length, 2, JSON.stringify(run.events));
      for (const write of writes) {
        assert.equal(write.call, "IORING_OP_WRITE");
        assert.equal(write.killed, true);
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "io_uring: audit mode reports an open and a write of a protected file once each, and lets them run",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      const helper = await buildHelper(dir);
      await Deno.writeTextFile(`${dir}/protected.conf`, CONTENT);
      const run = await underAgent(
        [
          "version: 1",
          "mode: audit",
          "files:",
          `  protect: ["${dir}/protected.conf"]`,
          "",
        ].join("\n"),
        `${helper} open-write protected.conf EVIL >/dev/null; echo "audit: $?"`,
        dir,
      );
      assert.equal(run.stdout, "audit: 0\n");
      assert.equal(
        await Deno.readTextFile(`${dir}/protected.conf`),
        `${CONTENT}EVIL`,
      );
      const seen = run.events.map((event) =>
        `${event.kind} ${event.call} ${event.verdict} ${!!event.killed}`
      );
      assert.deepEqual(seen, [
        "open IORING_OP_OPENAT audit false",
        "write IORING_OP_WRITE audit false",
      ]);
      assert.ok(
        run.events.every((event) => event.path === `${dir}/protected.conf`),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
