/**
 * Protected files against io_uring, end to end through `ringfence run` in
 * block mode: requests that never pass the open, write, unlink or rename
 * syscalls (tests/helpers/uring_file.c) are judged at submission, their
 * submitter killed before the request is issued, and the file left as it
 * was; a secret opened by IORING_OP_OPENAT is reported.
 */
import assert from "node:assert/strict";
import type { FileSystemEvent } from "../sensors/file_system_event.ts";
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
      const helper = `${dir}/uring_file`;
      const error = await clang([
        "-O2",
        "-o",
        helper,
        `${ROOT}tests/helpers/uring_file.c`,
      ]);
      if (error) throw new Error(`building uring_file.c: ${error}`);
      await Deno.mkdir(`${dir}/tree`);
      for (const file of [...FILES, "single.conf"]) {
        await Deno.writeTextFile(`${dir}/${file}`, CONTENT);
      }
      await Deno.writeTextFile(`${dir}/secret.key`, "s3cr3t\n");
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
        [...STEPS.map(({ name }) => `${name}: 137\n`), "read: 0\n"].join(""),
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
      await assert.rejects(Deno.stat(`${dir}/moved`));
      assert.match(outputs.read, /read: s3cr3t\n/);

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
          events.filter((event) => event.path === `${dir}/${file}`).length,
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
