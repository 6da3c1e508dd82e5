/**
 * The ways around sensor.file-system's cached directory verdicts and paths
 * (bpf/lib/dir_verdict.h, bpf/lib/dir_path.h), each performed for real
 * through `ringfence run`: a directory whose children were judged
 * uninteresting is moved into a watched tree (by rename(2), by the i386
 * ABI, by io_uring, by a process outside the scope), its inode number is
 * reused by a new watched directory, a watched tree is reached through a
 * bind mount first, a protected file is written through a hard link in a
 * judged directory, a directory whose path was cached has an ancestor
 * renamed, and one is moved into a protected tree. Each asserts the event
 * (or the kill) that must still happen.
 */
import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import {
  clang,
  kernelTest,
  readJsonLines,
  ringfence,
  ROOT,
} from "./helpers/kernel.ts";

/** Builds a C helper of tests/helpers into dir; returns its path. */
async function build(dir: string, name: string): Promise<string> {
  const path = `${dir}/${name}`;
  const error = await clang([
    "-O2",
    "-o",
    path,
    `${ROOT}tests/helpers/${name}.c`,
  ]);
  if (error) throw new Error(`building ${name}.c: ${error}`);
  return path;
}

/** A temp dir (its real path), removed afterwards. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await fn(dir);
  } finally {
    await new Deno.Command("umount", { args: ["-q", `${dir}/alias`] })
      .output();
    await Deno.remove(dir, { recursive: true });
  }
}

/** A policy watching dir/watched/** (and protecting what `protect` names). */
function policy(dir: string, mode: string, protect: string[] = []): string {
  return [
    "version: 1",
    `mode: ${mode}`,
    "files:",
    `  watch: [${JSON.stringify(`${dir}/watched/**`)}]`,
    ...(protect.length ? [`  protect: ${JSON.stringify(protect)}`] : []),
    "",
  ].join("\n");
}

/** `ringfence run` of a bash script; its file events and output. */
async function run(
  dir: string,
  text: string,
  script: string,
  meanwhile?: () => Promise<void>,
) {
  await Deno.writeTextFile(`${dir}/policy.yaml`, text);
  const running = ringfence([
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
  await meanwhile?.();
  const result = await running;
  const events = (await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`))
    .filter((event): event is FileSystemEvent =>
      event.type === "file_system_event"
    );
  return { ...result, events };
}

/** What the events say, as "kind path" lines below dir. */
function seen(events: FileSystemEvent[], dir: string): string[] {
  return events.map((event) =>
    `${event.kind} ${event.path.replace(dir, "")}${
      event.new_path ? ` ${event.new_path.replace(dir, "")}` : ""
    }`
  );
}

/** Waits for path to exist (the script's signal), up to 20 s. */
async function waitFor(path: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    try {
      await Deno.stat(path);
      return;
    } catch {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }
  throw new Error(`${path} never appeared`);
}

/**
 * The ways to rename a directory, as script lines: mv, the i386 ABI,
 * io_uring, and the test itself (outside: no process of the job), which
 * runMoving() does when the script waits for it.
 */
async function movers(
  dir: string,
): Promise<Record<string, (from: string, to: string) => string>> {
  const int80 = await build(dir, "dir_move");
  const uring = await build(dir, "uring_file");
  return {
    mv: (from, to) => `mv ${from} ${to}`,
    int80: (from, to) => `${int80} ${from} ${to}`,
    uring: (from, to) => `${uring} rename ${from} ${to} > /dev/null`,
    outside: () =>
      `: > ${dir}/ready; while [ ! -e ${dir}/go ]; do sleep 0.01; done`,
  };
}

/** run() of a script using movers(): the outside mover renames from to to. */
function runMoving(
  dir: string,
  text: string,
  script: string,
  from: string,
  to: string,
) {
  return run(dir, text, script, async () => {
    await waitFor(`${dir}/ready`);
    await Deno.rename(from, to);
    await Deno.writeTextFile(`${dir}/go`, "");
  });
}

/**
 * Warms the verdict of the current directory: files made and removed in
 * it, judged (and cached) as nothing the policy names.
 */
const WARM = "for w in 1 2 3; do : > warm$w; rm warm$w; done";

kernelTest(
  "a directory judged unwatched and then moved into a watched tree: creates and unlinks in it are reported (rename, int $0x80, io_uring, a mover outside the scope)",
  async () => {
    await withDir(async (dir) => {
      const ways = await movers(dir);
      await Deno.mkdir(`${dir}/out`);
      await Deno.mkdir(`${dir}/watched`);
      const script = Object.entries(ways).map(([name, move]) =>
        [
          `mkdir ${dir}/out/${name} && cd ${dir}/out/${name}`,
          WARM,
          move(`${dir}/out/${name}`, `${dir}/watched/${name}`),
          // relative names: the directory is the one whose verdict was cached
          ": > c",
          "rm c",
          `cd ${dir}`,
        ].join("\n")
      ).join("\n");
      const { code, events } = await runMoving(
        dir,
        policy(dir, "audit"),
        script,
        `${dir}/out/outside`,
        `${dir}/watched/outside`,
      );
      assert.equal(code, 0);
      const lines = seen(events, dir);
      for (const name of Object.keys(ways)) {
        assert.ok(
          lines.includes(`create /watched/${name}/c`),
          `${name}: ${lines}`,
        );
        assert.ok(
          lines.includes(`unlink /watched/${name}/c`),
          `${name}: ${lines}`,
        );
      }
      assert.ok(
        !lines.some((line) => line.includes("warm")),
        `nothing of the unwatched tree: ${lines}`,
      );
    });
  },
);

kernelTest(
  "a new watched directory that reuses a judged directory's inode number: creates in it are reported",
  async () => {
    await withDir(async (dir) => {
      await Deno.mkdir(`${dir}/out`);
      await Deno.mkdir(`${dir}/watched`);
      const rounds = 20;
      const script = [
        `for i in $(seq 1 ${rounds}); do`,
        `  mkdir ${dir}/out/r$i && cd ${dir}/out/r$i`,
        `  ${WARM}`,
        `  old=$(stat -c %i .); cd ${dir}; rmdir ${dir}/out/r$i`,
        `  mkdir ${dir}/watched/n$i && cd ${dir}/watched/n$i`,
        `  [ "$old" = "$(stat -c %i .)" ] && echo reused`,
        "  : > c; cd /",
        "done",
      ].join("\n");
      const { code, stdout, events } = await run(
        dir,
        policy(dir, "audit"),
        script,
      );
      assert.equal(code, 0);
      const lines = seen(events, dir);
      const reused = stdout.split("\n").filter((line) => line === "reused");
      console.log(`inode numbers reused: ${reused.length} of ${rounds}`);
      for (let i = 1; i <= rounds; i++) {
        assert.ok(lines.includes(`create /watched/n${i}/c`), `${i}: ${lines}`);
      }
    });
  },
);

kernelTest(
  "a watched tree reached first through a bind mount: creates by its own path are still reported",
  async () => {
    await withDir(async (dir) => {
      await Deno.mkdir(`${dir}/watched`);
      await Deno.mkdir(`${dir}/alias`);
      const script = [
        // a mount namespace of its own: no mount the agent judges
        `unshare -m --propagation private bash -c '`,
        `mount --bind ${dir}/watched ${dir}/alias && cd ${dir}/alias`,
        WARM,
        `cd ${dir}/watched && : > c && rm c'`,
      ].join("\n");
      const { code, stderr, events } = await run(
        dir,
        policy(dir, "audit"),
        script,
      );
      assert.equal(code, 0, stderr);
      const lines = seen(events, dir);
      assert.ok(lines.includes("create /watched/c"), `${lines}`);
      assert.ok(lines.includes("unlink /watched/c"), `${lines}`);
    });
  },
);

kernelTest(
  "block mode: a protected file's hard link in a judged directory is killed at its open (64-bit and int $0x80) and the file keeps its bytes",
  async () => {
    await withDir(async (dir) => {
      const bypass = await build(dir, "fs_bypass");
      await Deno.mkdir(`${dir}/out`);
      await Deno.mkdir(`${dir}/watched`);
      const secret = `${dir}/protected`;
      await Deno.writeTextFile(secret, "original\n");
      // made before the job: the agent knows the file by inode
      await Deno.link(secret, `${dir}/out/alias`);
      const script = [
        `cd ${dir}/out`,
        WARM,
        `sh -c 'echo evil >> alias'; echo "append: $?"`,
        `${bypass} int80-write ${dir}/out/alias open; echo "int80: $?"`,
      ].join("\n");
      const { stdout, events } = await run(
        dir,
        policy(dir, "block", [secret]),
        script,
      );
      assert.match(stdout, /append: 137\n/);
      assert.match(stdout, /int80: 137\n/);
      assert.equal(await Deno.readTextFile(secret), "original\n");
      const kills = events.filter((event) =>
        event.path === `${dir}/out/alias` && event.killed
      );
      // killed at the open, before any write (a mapping writes without one)
      assert.deepEqual(
        kills.map((event) => [event.kind, event.via]),
        [["open", "syscall"], ["open", "compat"]],
        JSON.stringify(seen(events, dir)),
      );
    });
  },
);

kernelTest(
  "a watched directory's verdict rules out its plain reads, not a secret's: by name, by a path below it, by inode (a hard link)",
  async () => {
    await withDir(async (dir) => {
      await Deno.mkdir(`${dir}/watched/keys`, { recursive: true });
      await Deno.writeTextFile(`${dir}/secret`, "key\n");
      // made before the job: the agent knows the file by inode
      await Deno.link(`${dir}/secret`, `${dir}/watched/alias`);
      for (const name of ["plain", ".npmrc", "keys/k"]) {
        await Deno.writeTextFile(`${dir}/watched/${name}`, "x\n");
      }
      const text = [
        "version: 1",
        "mode: audit",
        "files:",
        `  watch: [${JSON.stringify(`${dir}/watched/**`)}]`,
        `  secrets: ${
          JSON.stringify([
            "**/.npmrc",
            `${dir}/watched/keys/**`,
            `${dir}/secret`,
          ])
        }`,
        "",
      ].join("\n");
      const script = [
        `cd ${dir}/watched`,
        WARM,
        "cat plain .npmrc keys/k alias plain > /dev/null",
      ].join("\n");
      const { events } = await run(dir, text, script);
      const reads = seen(events.filter((event) => event.kind === "read"), dir);
      assert.deepEqual(
        reads.sort(),
        ["read /watched/.npmrc", "read /watched/alias", "read /watched/keys/k"],
      );
    });
  },
);

kernelTest(
  "a watched directory whose path is cached, then an ancestor renamed (rename, int $0x80, io_uring, a mover outside the scope): creates and unlinks in it carry the new path",
  async () => {
    await withDir(async (dir) => {
      const ways = await movers(dir);
      const script = Object.entries(ways).map(([name, move]) =>
        [
          `mkdir -p ${dir}/watched/${name}/a/b && cd ${dir}/watched/${name}/a/b`,
          // by fd (the open's file) and by name (the unlink): both cached
          ": > before",
          "rm before",
          move(`${dir}/watched/${name}`, `${dir}/watched/${name}-moved`),
          ": > after",
          "rm after",
          `cd ${dir}`,
        ].join("\n")
      ).join("\n");
      const { code, events } = await runMoving(
        dir,
        policy(dir, "audit"),
        script,
        `${dir}/watched/outside`,
        `${dir}/watched/outside-moved`,
      );
      assert.equal(code, 0);
      const lines = seen(events, dir);
      for (const name of Object.keys(ways)) {
        for (const kind of ["create", "unlink"]) {
          assert.ok(
            lines.includes(`${kind} /watched/${name}/a/b/before`),
            `${name}: ${lines}`,
          );
          assert.ok(
            lines.includes(`${kind} /watched/${name}-moved/a/b/after`),
            `${name}: ${lines}`,
          );
        }
      }
      assert.ok(
        !lines.some((line) =>
          line.includes(`/a/b/after`) && !/-moved/.test(line)
        ),
        `no stale path: ${lines}`,
      );
    });
  },
);

kernelTest(
  "block mode: a directory whose path is cached, moved into a protected tree: a create in it is killed and reported at its new path",
  async () => {
    await withDir(async (dir) => {
      await Deno.mkdir(`${dir}/watched/x`, { recursive: true });
      await Deno.mkdir(`${dir}/protected`);
      const script = [
        `cd ${dir}/watched/x`,
        ": > before && rm before",
        `mv ${dir}/watched/x ${dir}/protected/x`,
        `sh -c ': > after'; echo "create: $?"`,
      ].join("\n");
      const { stdout, events } = await run(
        dir,
        policy(dir, "block", [`${dir}/protected/**`]),
        script,
      );
      assert.match(stdout, /create: 137\n/);
      const lines = seen(events, dir);
      assert.ok(lines.includes("create /watched/x/before"), `${lines}`);
      const after = events.filter((event) => event.path.endsWith("/after"));
      assert.deepEqual(
        after.map((event) => [event.kind, event.path, event.killed]),
        [["create", `${dir}/protected/x/after`, true]],
        `${lines}`,
      );
    });
  },
);
