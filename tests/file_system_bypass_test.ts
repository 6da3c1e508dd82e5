/**
 * The ways around a path check on a protected file, each performed by a
 * policed process on the real kernel: the i386 syscall ABI, file handles,
 * another process's descriptor (pidfd_getfd, SCM_RIGHTS), writes through
 * a descriptor the step did not open, hard-link and bind-mount aliases,
 * and a bind mount over the file. Each asserts the file afterwards and
 * the event that says what happened.
 */
import assert from "node:assert/strict";
import { Agent } from "../agent/agent.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import { FileClass } from "../sensors/file_system_maps.ts";
import { kernelDev } from "../sensors/device.ts";
import {
  clang,
  kernelTest,
  readJsonLines,
  ringfence,
  ROOT,
} from "./helpers/kernel.ts";

const ORIGINAL = "original\n";

/** Builds tests/helpers/fs_bypass.c into dir; returns its path. */
async function helper(dir: string): Promise<string> {
  const path = `${dir}/fs_bypass`;
  const source = new URL("./helpers/fs_bypass.c", import.meta.url).pathname;
  const error = await clang(["-O2", "-o", path, source]);
  if (error) throw new Error(`building fs_bypass.c: ${error}`);
  return path;
}

/** Builds tests/helpers/ia32_write.c, an ia32 program, into dir. */
async function ia32Helper(dir: string): Promise<string> {
  const path = `${dir}/ia32_write`;
  const source = new URL("./helpers/ia32_write.c", import.meta.url).pathname;
  const error = await clang([
    "-m32",
    "-O2",
    "-nostdlib",
    "-static",
    "-ffreestanding",
    "-fno-pic",
    "-o",
    path,
    source,
  ]);
  if (error) throw new Error(`building ia32_write.c: ${error}`);
  return path;
}

/** A temp dir with the helper built in it, removed afterwards. */
async function withDir(
  fn: (dir: string, bypass: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await fn(dir, await helper(dir));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** `ringfence run` of a bash script on a policy. */
async function run(dir: string, policy: string, script: string) {
  await Deno.writeTextFile(`${dir}/policy.yaml`, policy);
  const result = await ringfence([
    "run",
    "--policy",
    `${dir}/policy.yaml`,
    "--output",
    `${dir}/events.jsonl`,
    "--",
    "/bin/bash",
    "-c",
    script,
  ]);
  const events = (await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`))
    .filter((event): event is FileSystemEvent =>
      event.type === "file_system_event"
    );
  return { ...result, events };
}

/** A block-mode policy protecting `protect` and naming `secrets`. */
function blockPolicy(protect: string[], secrets: string[] = []): string {
  return [
    "version: 1",
    "mode: block",
    "files:",
    `  protect: ${JSON.stringify(protect)}`,
    ...(secrets.length ? [`  secrets: ${JSON.stringify(secrets)}`] : []),
    "  action: kill",
    "",
  ].join("\n");
}

/** The one event of kind on path; fails when there is none. */
function eventOf(
  events: FileSystemEvent[],
  kind: string,
  path: string,
  call?: string,
): FileSystemEvent {
  const found = events.find((event) =>
    event.kind === kind && event.path === path &&
    (call === undefined || event.call === call)
  );
  assert.ok(
    found,
    `${kind} ${path} ${call ?? ""} in ${
      JSON.stringify(events.map((e) => [e.kind, e.path, e.call, e.via]))
    }`,
  );
  return found;
}

/** A process holding path open for writing (or reading), outside any scope. */
async function holder(
  bypass: string,
  path: string,
  socket: string,
  readOnly = false,
) {
  const child = new Deno.Command(bypass, {
    args: ["hold", path, socket, ...(readOnly ? ["ro"] : [])],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let line = "";
  while (!line.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error("holder exited");
    line += value;
  }
  const [, pid, fd] = line.trim().split(" ");
  return {
    pid: Number(pid),
    fd: Number(fd),
    async stop() {
      child.kill("SIGKILL");
      await child.status;
      reader.releaseLock();
      await child.stdout.cancel().catch(() => {});
    },
  };
}

kernelTest(
  "block mode: an ia32 program's or int $0x80 open of a protected file is killed before its write; a secret read is reported as compat",
  async () => {
    await withDir(async (dir, bypass) => {
      const protectedFile = `${dir}/protected`;
      const secret = `${dir}/secret`;
      await Deno.writeTextFile(protectedFile, ORIGINAL);
      await Deno.writeTextFile(secret, "token\n");
      const ia32 = await ia32Helper(dir);
      const result = await run(
        dir,
        blockPolicy([protectedFile], [secret]),
        [
          `${ia32} ${protectedFile}; echo "ia32: $?"`,
          `${bypass} int80-write ${protectedFile} open; echo "open: $?"`,
          `${bypass} int80-write ${protectedFile} openat; echo "openat: $?"`,
          `${bypass} int80-read ${secret}; echo "read: $?"`,
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        "ia32: 137\nopen: 137\nopenat: 137\nread token\nread: 0\n",
      );
      assert.equal(await Deno.readTextFile(protectedFile), ORIGINAL);
      for (
        const [comm, call] of [
          ["ia32_write", "open"],
          ["fs_bypass", "open"],
          ["fs_bypass", "openat"],
        ]
      ) {
        const open = result.events.find((event) =>
          event.kind === "open" && event.path === protectedFile &&
          event.comm === comm && event.call === call
        );
        assert.ok(open, `${comm} ${call}`);
        assert.equal(open.via, "compat");
        assert.equal(open.killed, true);
        assert.equal(open.verdict, "deny");
      }
      const read = eventOf(result.events, "read", secret, "open");
      assert.equal(read.via, "compat");
      assert.match(read.reason, /^files\.secrets /);
    });
  },
);

kernelTest(
  "block mode: open_by_handle_at is judged as an open; name_to_handle_at is reported",
  async () => {
    await withDir(async (dir, bypass) => {
      const protectedFile = `${dir}/protected`;
      const secret = `${dir}/secret`;
      await Deno.writeTextFile(protectedFile, ORIGINAL);
      await Deno.writeTextFile(secret, "token\n");
      const result = await run(
        dir,
        blockPolicy([protectedFile], [secret]),
        [
          `${bypass} handle-write ${protectedFile}; echo "write: $?"`,
          `${bypass} handle-read ${secret}; echo "read: $?"`,
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "write: 137\nread token\nread: 0\n");
      assert.equal(await Deno.readTextFile(protectedFile), ORIGINAL);
      const open = eventOf(
        result.events,
        "open",
        protectedFile,
        "open_by_handle_at",
      );
      assert.equal(open.killed, true);
      assert.equal(open.via, "syscall");
      const handle = eventOf(result.events, "handle", protectedFile);
      assert.equal(handle.call, "name_to_handle_at");
      assert.ok(!handle.killed, "a handle alone changes nothing");
      assert.match(handle.reason, /^files\.protect /);
      eventOf(result.events, "handle", secret);
      const read = eventOf(result.events, "read", secret, "open_by_handle_at");
      assert.match(read.reason, /^files\.secrets /);
    });
  },
);

kernelTest(
  "block mode: pidfd_getfd of another process's writable fd to a protected file kills before the write; of a secret, is a read",
  async () => {
    await withDir(async (dir, bypass) => {
      const protectedFile = `${dir}/protected`;
      const secret = `${dir}/secret`;
      await Deno.writeTextFile(protectedFile, ORIGINAL);
      await Deno.writeTextFile(secret, "token\n");
      const held = await holder(bypass, protectedFile, `${dir}/sock`);
      const reader = await holder(bypass, secret, `${dir}/sock2`, true);
      try {
        const result = await run(
          dir,
          blockPolicy([protectedFile], [secret]),
          [
            `${bypass} getfd-write ${held.pid} ${held.fd}; echo "getfd: $?"`,
            `${bypass} getfd-read ${reader.pid} ${reader.fd}`,
          ].join("\n"),
        );
        assert.equal(result.code, 0, result.stderr);
        assert.equal(result.stdout, "getfd: 137\nread token\n");
        const read = eventOf(result.events, "read", secret, "pidfd_getfd");
        assert.match(read.reason, /^files\.secrets /);
        assert.equal(await Deno.readTextFile(protectedFile), ORIGINAL);
        const open = eventOf(
          result.events,
          "open",
          protectedFile,
          "pidfd_getfd",
        );
        assert.equal(open.killed, true);
        assert.deepEqual(open.flags, ["O_WRONLY"]);
      } finally {
        await held.stop();
        await reader.stop();
      }
    });
  },
);

kernelTest(
  "block mode: a bind mount over a protected file in the host's mount namespace kills the mounter",
  async () => {
    await withDir(async (dir, bypass) => {
      const protectedFile = `${dir}/protected`;
      await Deno.writeTextFile(protectedFile, ORIGINAL);
      await Deno.writeTextFile(`${dir}/evil`, "evil\n");
      try {
        // a read-only bind of the file on itself, made outside the scope
        await mountAs(["--bind", protectedFile, protectedFile]);
        await mountAs(["-o", "remount,bind,ro", protectedFile]);
        const result = await run(
          dir,
          blockPolicy([protectedFile]),
          [
            `${bypass} setattr ${protectedFile}; echo "setattr: $?"`,
            `mount --bind ${dir}/evil ${protectedFile}; echo "mount: $?"`,
            `${bypass} tree-bind ${dir}/evil ${protectedFile}; echo "tree: $?"`,
            `mount --bind ${dir}/evil ${dir}/evil; echo "other: $?"`,
          ].join("\n"),
        );
        assert.equal(result.code, 0, result.stderr);
        assert.equal(
          result.stdout,
          "setattr: 137\nmount: 137\ntree: 137\nother: 0\n",
        );
        const setattr = eventOf(
          result.events,
          "mount",
          protectedFile,
          "mount_setattr",
        );
        assert.equal(setattr.killed, true);
        const mount = eventOf(result.events, "mount", protectedFile, "mount");
        assert.equal(mount.killed, true);
        assert.equal(mount.new_path, `${dir}/evil`);
        assert.equal(mount.verdict, "deny");
        const moved = eventOf(
          result.events,
          "mount",
          protectedFile,
          "move_mount",
        );
        assert.equal(moved.killed, true);
        assert.ok(
          !result.events.some((event) => event.path === `${dir}/evil`),
          "a mount away from protected paths is nobody's business",
        );
      } finally {
        await unmountAll(protectedFile, `${dir}/evil`);
      }
    });
  },
);

/** mount(8) with args, from the test: outside any scope. */
async function mountAs(args: string[]): Promise<void> {
  const output = await new Deno.Command("mount", { args, stderr: "piped" })
    .output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

/**
 * Takes down every mount stacked on paths: the mount is in place when
 * the kill lands, and the agent's repair is not under test here.
 */
async function unmountAll(...paths: string[]): Promise<void> {
  for (const path of paths) {
    while (
      (await new Deno.Command("umount", { args: [path], stderr: "null" })
        .output()).success
    );
  }
}

kernelTest(
  "block mode: a mount on or a rename of a directory above a protected file kills",
  async () => {
    await withDir(async (dir) => {
      const protectedFile = `${dir}/sub/file`;
      await Deno.mkdir(`${dir}/sub`);
      await Deno.writeTextFile(protectedFile, ORIGINAL);
      const agent = await Agent.start({
        policy: parsePolicy(blockPolicy([protectedFile]), "test.yaml"),
        spawner: true,
        sensorsDir: `${ROOT}bpf/build`,
      });
      const events: FileSystemEvent[] = [];
      agent.subscribe((event) => {
        if (event.type === "file_system_event") events.push(event);
      });
      try {
        // the rules' kernel maps with the directories above the file
        agent.fileSystemSensor!.setRules({
          prefixes: new Map([
            [`${protectedFile}\0`, FileClass.protect | FileClass.kill],
            [`${dir}/sub\0`, FileClass.above],
            [`${dir}\0`, FileClass.above],
          ]),
          names: new Map(),
          matchAll: 0,
          readClasses: 0,
          readPaths: false,
          kill: true,
        });
        const stdout = await bash(
          [
            // a bind copies the tree: every protected path stays put
            `mkdir ${dir}/copy && mount --bind ${dir}/sub ${dir}/copy`,
            `echo "bind: $?"; umount ${dir}/copy`,
            `mount -t tmpfs none ${dir}/sub; echo "mount: $?"`,
            `umount ${dir}/sub`,
            `mv ${dir}/sub ${dir}/moved; echo "rename: $?"`,
          ].join("\n"),
        );
        agent.flush();
        assert.equal(stdout, "bind: 0\nmount: 137\nrename: 137\n");
        const mount = eventOf(events, "mount", `${dir}/sub`);
        assert.equal(mount.killed, true);
        assert.equal(
          mount.reason,
          "files.protect, a directory at or above a protected tree",
        );
        const rename = eventOf(events, "rename", `${dir}/sub`);
        assert.equal(rename.killed, true);
        assert.equal(rename.new_path, `${dir}/moved`);
      } finally {
        await agent.stop();
        await unmountAll(`${dir}/sub`, `${dir}/copy`);
        await Deno.rename(`${dir}/moved`, `${dir}/sub`).catch(() => {});
      }
    });
  },
);

/**
 * An agent on a block-mode policy that protects nothing by path, with
 * inodes protected by device and inode, while fn runs.
 */
async function withInodes(
  paths: string[],
  fn: (agent: Agent, events: FileSystemEvent[]) => Promise<void>,
  mode = "block",
): Promise<void> {
  const agent = await Agent.start({
    policy: parsePolicy(
      `version: 1\nmode: ${mode}\nfiles:\n  protect: ["/nonexistent/x"]\n  action: kill\n`,
      "test.yaml",
    ),
    spawner: true,
    sensorsDir: `${ROOT}bpf/build`,
  });
  const events: FileSystemEvent[] = [];
  agent.subscribe((event) => {
    if (event.type === "file_system_event") events.push(event);
  });
  try {
    const entries = await Promise.all(paths.map(async (path) => {
      const stat = await Deno.stat(path);
      return {
        dev: kernelDev(stat.dev),
        ino: BigInt(stat.ino!),
        classes: FileClass.protect | FileClass.kill,
      };
    }));
    agent.fileSystemSensor!.setInodes(entries);
    await fn(agent, events);
  } finally {
    await agent.stop();
  }
}

async function bash(script: string): Promise<string> {
  const output = await new Deno.Command("/bin/bash", {
    args: ["-c", script],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  assert.ok(output.success);
  return new TextDecoder().decode(output.stdout);
}

/** [how fs_bypass writes, the call's name, its ABI] */
const WRITES: [string, string, "syscall" | "compat"][] = [
  ["write", "write", "syscall"],
  ["pwrite64", "pwrite64", "syscall"],
  ["writev", "writev", "syscall"],
  ["pwritev2", "pwritev2", "syscall"],
  ["sendfile", "sendfile", "syscall"],
  ["splice", "splice", "syscall"],
  ["copy_file_range", "copy_file_range", "syscall"],
  ["int80-write", "write", "compat"],
  ["int80-pwrite64", "pwrite64", "compat"],
  // vfs_fallocate() does not look for a pending SIGKILL: the blocks are
  // allocated (the size grows) and the writer dies on its way back
  ["fallocate", "fallocate", "syscall"],
];

kernelTest(
  "block mode: a write through an fd passed over a unix socket to a protected inode moves nothing",
  async () => {
    await withDir(async (dir, bypass) => {
      const file = `${dir}/protected`;
      await Deno.writeTextFile(file, ORIGINAL);
      // held open for writing before the agent starts, by a process out
      // of scope
      const held = await holder(bypass, file, `${dir}/sock`);
      try {
        await withInodes([file], async (agent, events) => {
          for (const [how, call, via] of WRITES) {
            const stdout = await bash(
              `${bypass} recv-write ${dir}/sock ${how}; echo "${how}: $?"`,
            );
            agent.flush();
            assert.equal(stdout, `${how}: 137\n`);
            const content = await Deno.readFile(file);
            const text = new TextDecoder().decode(content.subarray(0, 64));
            if (how === "fallocate") {
              assert.ok(text.startsWith(ORIGINAL), "the data is untouched");
              assert.equal(content.length, 1 << 20, "the allocation lands");
            } else {
              assert.equal(content.length, ORIGINAL.length, how);
              assert.equal(text, ORIGINAL, how);
            }
            const write = events.find((event) =>
              event.kind === "write" && event.call === call &&
              event.via === via
            );
            assert.ok(write, `${via} ${call} in ${JSON.stringify(events)}`);
            assert.equal(write.path, file);
            assert.equal(write.killed, true);
            assert.equal(write.by_inode, true);
            assert.equal(write.verdict, "deny");
            assert.equal(
              write.reason,
              "files.protect, matched by device and inode",
            );
            assert.equal(write.inode?.ino, (await Deno.stat(file)).ino);
          }
        });
      } finally {
        await held.stop();
      }
    });
  },
);

kernelTest(
  "audit mode: a write through a passed fd to a protected inode is reported and lands",
  async () => {
    await withDir(async (dir, bypass) => {
      const file = `${dir}/protected`;
      await Deno.writeTextFile(file, ORIGINAL);
      const held = await holder(bypass, file, `${dir}/sock`);
      try {
        await withInodes([file], async (agent, events) => {
          const stdout = await bash(
            `${bypass} recv-write ${dir}/sock pwrite64; echo "pwrite64: $?"`,
          );
          agent.flush();
          assert.equal(stdout, "wrote 5\npwrite64: 0\n");
          const write = eventOf(events, "write", file, "pwrite64");
          assert.ok(!write.killed);
          assert.equal(write.verdict, "audit");
        }, "audit");
      } finally {
        await held.stop();
      }
    });
  },
);

kernelTest(
  "block mode: a hard link or a private bind mount of a protected inode is caught at the open",
  async () => {
    await withDir(async (dir) => {
      const file = `${dir}/protected`;
      await Deno.writeTextFile(file, ORIGINAL);
      await Deno.link(file, `${dir}/alias`);
      await Deno.writeTextFile(`${dir}/mountpoint`, "");
      await withInodes([file], async (agent, events) => {
        const stdout = await bash(
          [
            `bash -c 'echo evil >> ${dir}/alias'; echo "link: $?"`,
            `unshare -m bash -c 'mount --bind ${file} ${dir}/mountpoint && echo evil >> ${dir}/mountpoint'; echo "bind: $?"`,
          ].join("\n"),
        );
        agent.flush();
        assert.equal(stdout, "link: 137\nbind: 137\n");
        assert.equal(await Deno.readTextFile(file), ORIGINAL);
        for (const path of [`${dir}/alias`, `${dir}/mountpoint`]) {
          const open = eventOf(events, "open", path);
          assert.equal(open.killed, true);
          assert.equal(open.by_inode, true);
          assert.equal(
            open.reason,
            "files.protect, matched by device and inode",
          );
        }
        assert.ok(
          !events.some((event) => event.kind === "mount"),
          "a mount in a private namespace is the process's own",
        );
      });
    });
  },
);
