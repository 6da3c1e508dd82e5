/**
 * sensor.file-system through the Agent API: what is reported for a watched
 * temp tree (and what is not for the rest), protected writes in block and
 * audit mode, reads of secrets, and the choice of enforcement.
 */
import assert from "node:assert/strict";
import { Agent } from "../agent/agent.ts";
import { LSM_REFUSAL_FILE } from "../agent/load.ts";
import { kernelDevOf } from "../agent/recent_writers.ts";
import { kernelDev } from "../sensors/device.ts";
import { cgroup2Mount } from "../sensors/system.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import { kernelTest, ROOT } from "./helpers/kernel.ts";

/** A files section that loads sensor.file-system and matches nothing. */
const WATCH_NOTHING = 'version: 1\nfiles:\n  watch: ["/nonexistent/**"]\n';

interface Run {
  events: FileSystemEvent[];
  all: RingfenceEvent[];
  status: Deno.CommandStatus;
  stdout: string;
  /** pid of the bash the test spawned. */
  pid: number;
  agent: Agent;
}

/** Runs `script` in bash (cwd `cwd`) under an agent on `policy`. */
async function watch(
  policy: string,
  script: string,
  cwd: string,
): Promise<Run> {
  const agent = await Agent.start({
    policy: parsePolicy(policy, "test.yaml"),
    spawner: true,
    sensorsDir: `${ROOT}bpf/build`,
  });
  const all: RingfenceEvent[] = [];
  agent.subscribe((event) => all.push(event));
  try {
    const child = new Deno.Command("/bin/bash", {
      args: ["-c", script],
      cwd,
      stdout: "piped",
      stderr: "inherit",
    }).spawn();
    const output = await child.output();
    agent.flush();
    return {
      events: all.filter((event): event is FileSystemEvent =>
        event.type === "file_system_event"
      ),
      all,
      status: output,
      stdout: new TextDecoder().decode(output.stdout),
      pid: child.pid,
      agent,
    };
  } finally {
    await agent.stop();
  }
}

kernelTest(
  "writes, renames, unlinks and chmods under a watched tree are reported; other writes are not",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.mkdir(`${dir}/watched/sub`, { recursive: true });
      await Deno.mkdir(`${dir}/elsewhere`);
      await Deno.writeTextFile(`${dir}/watched/existing.c`, "int x;\n");
      const run = await watch(
        `version: 1\nfiles:\n  watch: ["${dir}/watched/**"]\n`,
        [
          "cd watched",
          "echo new > sub/new.txt", // create, relative to the cwd
          "echo more >> existing.c", // open for writing, appended
          "mv sub/new.txt renamed.txt", // renameat2, relative
          "chmod 600 renamed.txt", // fchmodat
          "truncate -s 0 existing.c", // open + ftruncate
          "rm renamed.txt", // unlinkat
          "ln -s existing.c sym.c", // symlinkat
          "ln existing.c hard.c", // linkat
          "mkdir -m 750 dir && rmdir dir", // mkdirat, rmdir
          "cd ../elsewhere",
          "echo x > other.txt; mv other.txt other2.txt; rm other2.txt",
          "cat ../watched/existing.c > /dev/null", // a read: not a write
        ].join("\n"),
        dir,
      );
      assert.equal(run.status.code, 0);
      const seen = run.events.map((event) =>
        [
          event.kind,
          event.path.slice(dir.length),
          event.new_path?.slice(dir.length),
        ].filter(Boolean).join(" ")
      );
      for (
        const expected of [
          "create /watched/sub/new.txt",
          "open /watched/existing.c",
          "rename /watched/sub/new.txt /watched/renamed.txt",
          "chmod /watched/renamed.txt",
          "unlink /watched/renamed.txt",
          "symlink /watched/sym.c",
          "link /watched/existing.c /watched/hard.c",
          "mkdir /watched/dir",
          "rmdir /watched/dir",
        ]
      ) {
        assert.ok(seen.includes(expected), `${expected} in ${seen.join(", ")}`);
      }
      assert.ok(
        seen.some((line) => line.startsWith("truncate /watched/existing.c")),
        seen.join(", "),
      );
      assert.ok(
        !run.events.some((event) => event.path.includes("/elsewhere/")),
        "writes outside the watched tree are not reported",
      );
      assert.ok(!run.events.some((event) => event.kind === "read"));
      for (const event of run.events) {
        assert.equal(event.verdict, "allow");
        assert.match(event.reason, /^files\.watch /);
      }
      const chmod = run.events.find((event) => event.kind === "chmod")!;
      assert.equal(chmod.mode, 0o600);
      assert.equal(chmod.comm, "chmod");
      assert.equal(chmod.exe, "/usr/bin/chmod");
      const create = run.events.find((event) => event.kind === "create")!;
      assert.equal(create.pid, run.pid, "bash itself redirected");
      assert.deepEqual(create.flags, ["O_WRONLY", "O_CREAT", "O_TRUNC"]);
      // The file's device and inode, as the open saw them.
      const open = run.events.find((event) => event.kind === "open")!;
      const existing = await Deno.stat(`${dir}/watched/existing.c`);
      assert.equal(open.inode?.ino, existing.ino);
      assert.equal(kernelDevOf(open.inode!.dev), kernelDev(existing.dev));
      assert.equal(create.inode?.dev, open.inode?.dev);
      assert.ok(create.inode!.ino > 0);
      const rename = run.events.find((event) => event.kind === "rename")!;
      assert.equal(rename.comm, "mv");
      assert.equal(rename.ppid, run.pid);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "block mode: a write to a protected file kills the writer before its write()",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(`${dir}/hosts`, "127.0.0.1 localhost\n");
      const run = await watch(
        [
          "version: 1",
          "mode: block",
          "files:",
          `  protect: ["${dir}/hosts", "${dir}/locked/**"]`,
          "",
        ].join("\n"),
        // python: open for appending, so the file is not truncated by the
        // open; the kill lands on the way back from openat.
        `python3 -c 'f = open("${dir}/hosts", "a"); print("opened", flush=True); f.write("evil\\n")'; echo "status $?"`,
        dir,
      );
      assert.equal(run.stdout, "status 137\n", "SIGKILL, nothing printed");
      assert.equal(
        await Deno.readTextFile(`${dir}/hosts`),
        "127.0.0.1 localhost\n",
        "the write never happened",
      );
      const event = run.events.find((event) => event.path === `${dir}/hosts`);
      assert.ok(event, "the protected write is reported");
      assert.equal(event.verdict, "deny");
      assert.equal(event.killed, true);
      assert.equal(event.reason, `files.protect "${dir}/hosts"`);
      const exit = run.all.find((other) =>
        other.type === "process_event" && other.kind === "exit" &&
        other.pid === event.pid
      );
      assert.equal(exit?.type === "process_event" && exit.signal, 9);
      const report = run.agent.tamperReport();
      assert.equal(report.protected.length, 0, "content and size unchanged");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "block mode: a link or symlink that makes a protected name kills its maker",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(`${dir}/evil.so`, "");
      await Deno.writeTextFile(`${dir}/shadow`, "root:x\n");
      const run = await watch(
        [
          "version: 1",
          "mode: block",
          "files:",
          `  protect: ["${dir}/ld.so.preload", "${dir}/shadow"]`,
          "",
        ].join("\n"),
        [
          // The name is made before the signal lands: reported, and the
          // maker never runs another instruction.
          `ln -s ${dir}/evil.so ${dir}/ld.so.preload`,
          'echo "symlink: $?"',
          `ln ${dir}/shadow ${dir}/copy`,
          'echo "link: $?"',
        ].join("\n"),
        dir,
      );
      assert.equal(run.stdout, "symlink: 137\nlink: 137\n");
      const kinds = run.events.map((event) => [event.kind, event.verdict]);
      assert.deepEqual(kinds, [["symlink", "deny"], ["link", "deny"]]);
      assert.ok(run.events.every((event) => event.killed));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "audit mode: a protected write is reported with verdict audit and runs",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(`${dir}/hosts`, "a\n");
      const run = await watch(
        `version: 1\nmode: audit\nfiles:\n  protect: ["${dir}/hosts"]\n`,
        `echo b >> ${dir}/hosts; echo "status $?"`,
        dir,
      );
      assert.equal(run.stdout, "status 0\n");
      assert.equal(await Deno.readTextFile(`${dir}/hosts`), "a\nb\n");
      const event = run.events.find((event) => event.path === `${dir}/hosts`);
      assert.equal(event?.verdict, "audit");
      assert.equal(event?.killed, undefined);
      const [change] = run.agent.tamperReport().protected;
      assert.equal(change?.path, `${dir}/hosts`);
      assert.equal(change.before.size, 2);
      assert.equal(change.after.size, 4);
      assert.notEqual(change.before.sha256, change.after.sha256);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "secrets named by **/name alone are found without the path walk",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.mkdir(`${dir}/deep/er`, { recursive: true });
      await Deno.writeTextFile(`${dir}/deep/er/.npmrc`, "token\n");
      await Deno.writeTextFile(`${dir}/deep/er/npmrc`, "not a secret\n");
      const run = await watch(
        'version: 1\nfiles:\n  secrets: ["**/.npmrc"]\n',
        "cat deep/er/.npmrc deep/er/npmrc > /dev/null",
        dir,
      );
      assert.deepEqual(
        run.events.map((event) => [event.kind, event.path]),
        [["read", `${dir}/deep/er/.npmrc`]],
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "a read of a secrets path is reported; other reads are not",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.mkdir(`${dir}/home/ci/.ssh`, { recursive: true });
      await Deno.writeTextFile(`${dir}/home/ci/.ssh/id_ed25519`, "key\n");
      await Deno.writeTextFile(`${dir}/.npmrc`, "//registry/:_authToken=x\n");
      await Deno.writeTextFile(`${dir}/README`, "hello\n");
      const run = await watch(
        [
          "version: 1",
          "files:",
          `  secrets: ["${dir}/home/*/.ssh/**", "**/.npmrc"]`,
          "",
        ].join("\n"),
        "cat home/ci/.ssh/id_ed25519 .npmrc README > /dev/null",
        dir,
      );
      const reads = run.events.filter((event) => event.kind === "read");
      assert.deepEqual(
        reads.map((event) => [event.path, event.reason, event.comm]),
        [
          [
            `${dir}/home/ci/.ssh/id_ed25519`,
            `files.secrets "${dir}/home/*/.ssh/**"`,
            "cat",
          ],
          [`${dir}/.npmrc`, 'files.secrets "**/.npmrc"', "cat"],
        ],
      );
      assert.deepEqual(reads[0].flags, ["O_RDONLY"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "BPF LSM where the kernel takes it, else the signal path with the kernel's reason",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    // Tries the LSM programs whatever securityfs says: where the kernel
    // refuses them (here), the fallback must arm and enforce.
    Deno.env.set("RINGFENCE_LSM", "force");
    try {
      await Deno.writeTextFile(`${dir}/hosts`, "a\n");
      const run = await watch(
        `version: 1\nmode: block\nfiles:\n  protect: ["${dir}/hosts"]\n`,
        `sh -c 'echo b >> ${dir}/hosts; echo wrote'; echo "status $?"`,
        dir,
      );
      assert.equal(await Deno.readTextFile(`${dir}/hosts`), "a\n");
      const event = run.events.find((event) => event.path === `${dir}/hosts`);
      assert.equal(event?.verdict, "deny");
      const { method, reason } = run.agent.fileEnforcement!;
      if (method === "lsm") {
        // Refused with EPERM: the shell reports the failed redirection and
        // goes on; nothing was killed.
        assert.equal(run.stdout, "wrote\nstatus 0\n");
        assert.equal(event?.refused, true);
        assert.equal(event?.killed, undefined);
      } else {
        assert.match(
          reason,
          /^the kernel refused the BPF LSM programs: load sensor\.file-system \(lsm_\w+\): /,
        );
        assert.equal(run.stdout, "status 137\n", "killed before echo");
        assert.equal(event?.killed, true);
        assert.equal(event?.refused, undefined);
      }
    } finally {
      Deno.env.delete("RINGFENCE_LSM");
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "a kernel's refusal of BPF LSM is remembered for the boot",
  async () => {
    const start = async () => {
      const agent = await Agent.start({
        policy: parsePolicy(WATCH_NOTHING, "test.yaml"),
        spawner: true,
        sensorsDir: `${ROOT}bpf/build`,
      });
      await agent.stop();
      return agent.fileEnforcement!;
    };
    await Deno.remove(LSM_REFUSAL_FILE).catch(() => {});
    const first = await start();
    if (first.method === "lsm") {
      console.log("BPF LSM loaded on this host: nothing to remember");
      return;
    }
    if (!first.reason.startsWith("the kernel refused")) {
      // securityfs says no BPF LSM: nothing was tried, nothing remembered.
      await assert.rejects(Deno.stat(LSM_REFUSAL_FILE));
      return;
    }
    const second = await start();
    assert.equal(second.method, "signal");
    assert.equal(second.reason, `${first.reason} (earlier in this boot)`);
  },
);

kernelTest(
  "RINGFENCE_LSM=off arms the signal path without trying",
  async () => {
    Deno.env.set("RINGFENCE_LSM", "off");
    try {
      const agent = await Agent.start({
        policy: parsePolicy(WATCH_NOTHING, "test.yaml"),
        spawner: true,
        sensorsDir: `${ROOT}bpf/build`,
      });
      await agent.stop();
      assert.deepEqual(agent.fileEnforcement, {
        method: "signal",
        reason: "RINGFENCE_LSM=off",
      });
    } finally {
      Deno.env.delete("RINGFENCE_LSM");
    }
  },
);

kernelTest(
  "without a files section sensor.file-system is not loaded, and a reload that adds one is refused",
  async () => {
    const agent = await Agent.start({
      policy: parsePolicy("version: 1\n", "test.yaml"),
      spawner: true,
      sensorsDir: `${ROOT}bpf/build`,
    });
    try {
      assert.equal(agent.fileEnforcement, undefined);
      assert.deepEqual(agent.sensors, ["process", "network"]);
      const before = agent.policy;
      assert.throws(
        () => agent.updatePolicy(parsePolicy(WATCH_NOTHING, "new.yaml")),
        /files section .* restart the agent/,
      );
      assert.equal(agent.policy, before, "the old policy stays in force");
    } finally {
      await agent.stop();
    }
  },
);

kernelTest("updatePolicy() swaps the kernel's file maps", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const agent = await Agent.start({
    policy: parsePolicy(
      `version: 1\nfiles:\n  watch: ["${dir}/a/**"]\n`,
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
    await Deno.mkdir(`${dir}/a`);
    await Deno.mkdir(`${dir}/b`);
    const write = (path: string) =>
      new Deno.Command("/bin/sh", { args: ["-c", `echo x > ${path}`] })
        .output();
    await write(`${dir}/a/1`);
    await write(`${dir}/b/1`);
    agent.updatePolicy(
      parsePolicy(`version: 1\nfiles:\n  watch: ["${dir}/b/**"]\n`, "t.yaml"),
    );
    await write(`${dir}/a/2`);
    await write(`${dir}/b/2`);
    agent.flush();
    assert.deepEqual(
      events.map((event) => event.path.slice(dir.length)),
      ["/a/1", "/b/2"],
    );
  } finally {
    await agent.stop();
    await Deno.remove(dir, { recursive: true });
  }
});

kernelTest(
  "an event's header names the writer: its ids, parent, command and cgroup, as the kernel has them",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const cgroup = `${cgroup2Mount()}/rf-header-test-${Deno.pid}`;
    try {
      await Deno.chmod(dir, 0o755);
      await Deno.mkdir(`${dir}/watched`);
      await Deno.chmod(`${dir}/watched`, 0o777);
      await Deno.mkdir(cgroup);
      const run = await watch(
        `version: 1\nfiles:\n  watch: ["${dir}/watched/**"]\n`,
        // In a cgroup of its own, as another user: none of the test's ids.
        `echo $$ > ${cgroup}/cgroup.procs && ` +
          `setpriv --reuid 4321 --regid 4322 --clear-groups ` +
          `/usr/bin/touch ${dir}/watched/made-by-4321`,
        dir,
      );
      assert.equal(run.status.code, 0);
      const create = run.events.find((event) => event.kind === "create");
      assert.ok(create, JSON.stringify(run.events));
      assert.equal(create.uid, 4321);
      assert.equal(create.gid, 4322);
      assert.equal(create.comm, "touch");
      // bash runs the list's last command in its own process, or in a child
      assert.equal(
        create.ppid,
        create.pid === run.pid ? Deno.pid : run.pid,
        `pid ${create.pid}, bash ${run.pid}`,
      );
      assert.equal(create.tid, create.pid, "touch has one thread");
      // A cgroup's id is its directory's inode number on cgroup2.
      assert.equal(create.cgroup_id, (await Deno.stat(cgroup)).ino);
      const exec = run.all.find((event) =>
        event.type === "process_event" && event.kind === "exec" &&
        event.pid === create.pid && event.comm === "touch"
      );
      assert.ok(exec, "touch's exec");
      assert.equal(exec.uid, 4321);
      assert.equal(exec.cgroup_id, create.cgroup_id);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await Deno.remove(cgroup).catch(() => {});
    }
  },
);
