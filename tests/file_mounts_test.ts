/**
 * Mounts and hard links that give a protected file a second path, or hide
 * it, made by a policed step through `ringfence run` in block mode: the
 * agent undoes each (unmount, unlink) and the report names it.
 *
 * Every mount a test makes is under its own temporary directory, and is
 * removed in `finally` should the agent not have removed it.
 */
import assert from "node:assert/strict";
import type { AgentEvent, RingfenceEvent } from "../sensors/events.ts";
import { kernelTest, readJsonLines, ringfence } from "./helpers/kernel.ts";

/** Mount points under `dir` in this (the host's) mount namespace. */
async function mountsUnder(dir: string): Promise<string[]> {
  const text = await Deno.readTextFile("/proc/self/mountinfo");
  return text.split("\n").map((line) => line.split(" ")[4])
    .filter((point) => point?.startsWith(`${dir}/`));
}

/** A temporary directory; whatever is still mounted under it is detached. */
async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.realPath(
    await Deno.makeTempDir({ dir: "/tmp", prefix: "ringfence-mounts-" }),
  );
  try {
    await fn(dir);
  } finally {
    for (const point of (await mountsUnder(dir)).reverse()) {
      await new Deno.Command("umount", { args: ["-l", point] }).output();
    }
    await Deno.remove(dir, { recursive: true });
  }
}

async function run(dir: string, protect: string[], script: string) {
  await Deno.writeTextFile(
    `${dir}/policy.yaml`,
    [
      "version: 1",
      "mode: block",
      "files:",
      `  protect: ${JSON.stringify(protect)}`,
      "  action: kill",
      "",
    ].join("\n"),
  );
  const result = await ringfence([
    "run",
    "--policy",
    `${dir}/policy.yaml`,
    "--output",
    `${dir}/events.jsonl`,
    "--report",
    `${dir}/report.md`,
    "--",
    "/bin/bash",
    "-c",
    script,
  ]);
  const events = await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`);
  const findings = events.flatMap((event) =>
    event.type === "agent" && (event as AgentEvent).kind === "file"
      ? [(event as AgentEvent).finding!]
      : []
  );
  const report = await Deno.readTextFile(`${dir}/report.md`);
  return { ...result, events, findings, report };
}

/** The kernel's mount event for `point`, when the kernel sends them. */
function mountEvent(events: RingfenceEvent[], point: string) {
  return events.find((event) =>
    event.type === "file_system_event" && event.kind === "mount" &&
    event.path === point
  );
}

kernelTest(
  "mounts: a bind mount of a protected directory elsewhere is unmounted within 1.5 s and reported",
  () =>
    withDir(async (dir) => {
      await Deno.mkdir(`${dir}/prot`);
      await Deno.mkdir(`${dir}/alias`);
      await Deno.writeTextFile(`${dir}/prot/key`, "original\n");
      const alias = `${dir}/alias`;
      const result = await run(
        dir,
        [`${dir}/prot/**`],
        [
          `mount --bind ${dir}/prot ${alias}`,
          "start=$(date +%s%N)",
          // The write through the alias, from a process of its own: by
          // inode, the kernel kills it as its open returns (an append, so
          // the open itself changes nothing).
          `sh -c 'echo evil >> ${alias}/key'`,
          "for i in $(seq 50); do",
          `  grep -q " ${alias} " /proc/self/mountinfo || break`,
          "  sleep 0.05",
          "done",
          'echo "gone after $(( ($(date +%s%N) - start) / 1000000 )) ms"',
          `grep -q " ${alias} " /proc/self/mountinfo && echo still mounted`,
          "true",
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.doesNotMatch(result.stdout, /still mounted/, result.stdout);
      const gone = Number(/gone after (\d+) ms/.exec(result.stdout)?.[1]);
      assert.ok(gone <= 1500, `the mount went after ${gone} ms`);
      assert.deepEqual(await mountsUnder(dir), []);
      const finding = result.findings.find((finding) =>
        finding.kind === "bind_mounted"
      );
      assert.ok(finding, JSON.stringify(result.findings));
      assert.equal(finding.path, `${dir}/prot/**`);
      assert.equal(finding.other_path, alias);
      assert.equal(finding.repaired, true);
      assert.match(result.report, /### Protected files/);
      assert.ok(
        result.report.includes(`| mounted elsewhere |`) &&
          result.report.includes(`\`${alias}\``),
        result.report,
      );
      assert.match(
        result.stderr,
        new RegExp(
          `ringfence: protected ${dir}/prot/\\*\\* mounted elsewhere \\(${alias}\\).*, repaired`,
        ),
      );
      // With protected files matched by inode (the kernel's write side and
      // the agent's inode fill), the write through the alias is killed
      // before it lands.
      const write = result.events.find((event) =>
        event.type === "file_system_event" && event.killed &&
        (event.path.startsWith(`${alias}/`) ||
          event.path.startsWith(`${dir}/prot/`))
      );
      if (write) {
        assert.equal(await Deno.readTextFile(`${dir}/prot/key`), "original\n");
      }
      // With the kernel's mount event (the syscall side), the mounter is
      // killed and named in the finding.
      const event = mountEvent(result.events, alias);
      if (event?.type === "file_system_event") {
        assert.equal(event.killed, true);
        assert.equal(finding.exe, "/usr/bin/mount");
        assert.match(finding.step ?? "", /^mount --bind /);
      }
    }),
);

kernelTest(
  "mounts: a bind mount over a protected file is removed; readers see the original",
  () =>
    withDir(async (dir) => {
      const file = `${dir}/hosts`;
      await Deno.writeTextFile(file, "original\n");
      await Deno.writeTextFile(`${dir}/attacker`, "attacker\n");
      const result = await run(
        dir,
        [file],
        [
          `mount --bind ${dir}/attacker ${file}`,
          "sleep 2",
          `cat ${file}`,
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "original\n", "unmounted while it ran");
      assert.equal(await Deno.readTextFile(file), "original\n");
      assert.deepEqual(await mountsUnder(dir), []);
      const finding = result.findings.find((finding) =>
        finding.kind === "mounted_over"
      );
      assert.ok(finding, JSON.stringify(result.findings));
      assert.equal(finding.path, file);
      assert.equal(finding.other_path, file);
      assert.equal(finding.repaired, true);
      assert.ok(result.report.includes("| mounted over |"), result.report);
      assert.doesNotMatch(result.report, /can no longer be vouched for/);
      const event = mountEvent(result.events, file);
      if (event?.type === "file_system_event") {
        assert.equal(event.killed, true);
        assert.equal(finding.exe, "/usr/bin/mount");
      }
    }),
);

kernelTest(
  "links: a new hard link to a protected file is removed and reported; a write through it reaches nothing",
  () =>
    withDir(async (dir) => {
      const file = `${dir}/config`;
      const alias = `${dir}/alias`;
      await Deno.writeTextFile(file, "original\n");
      const result = await run(
        dir,
        [file],
        [
          `ln ${file} ${alias}`,
          'echo "ln: $?"',
          "sleep 0.5",
          `sh -c 'echo evil >> ${alias}'`,
          "true",
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "ln: 137\n", "the kernel kills ln");
      assert.equal(await Deno.readTextFile(file), "original\n");
      // The write made a new file of that name, not a second name of the
      // protected one.
      assert.equal((await Deno.stat(file)).nlink, 1);
      const finding = result.findings.find((finding) =>
        finding.kind === "hard_linked"
      );
      assert.ok(finding, JSON.stringify(result.findings));
      assert.equal(finding.path, file);
      assert.equal(finding.other_path, alias);
      assert.equal(finding.repaired, true);
      assert.equal(finding.exe, "/usr/bin/ln");
      assert.equal(finding.step, `ln ${file} ${alias}`);
      assert.ok(finding.pid! > 0);
      assert.ok(result.report.includes("| hard-linked |"), result.report);
      assert.match(
        result.stderr,
        new RegExp(
          `ringfence: protected ${file} hard-linked \\(${alias}\\) by pid \\d+ /usr/bin/ln in step "ln .*", repaired`,
        ),
      );
    }),
);

kernelTest(
  "links: a protected file with a second name at the start is reported, not vouched for",
  () =>
    withDir(async (dir) => {
      const file = `${dir}/config`;
      await Deno.writeTextFile(file, "original\n");
      await Deno.link(file, `${dir}/planted`);
      const result = await run(dir, [file], "true");
      assert.equal(result.code, 0, result.stderr);
      const finding = result.findings.find((finding) =>
        finding.kind === "hard_linked"
      );
      assert.equal(finding?.repaired, false);
      assert.match(finding?.detail ?? "", /2 names when the agent started/);
      assert.ok(await Deno.stat(`${dir}/planted`), "left in place");
      assert.match(
        result.report,
        /Integrity of 1 protected file can no longer be vouched for/,
      );
      assert.match(
        result.stderr,
        /ringfence: integrity of 1 protected file can no longer be vouched for/,
      );
      assert.match(result.stderr, /1 protected file no longer vouched for/);
    }),
);

kernelTest(
  "mounts: a mount over a protected file that was a mount at the start goes; the start's stays",
  () =>
    withDir(async (dir) => {
      const file = `${dir}/hosts`;
      await Deno.writeTextFile(file, "underneath\n");
      await Deno.writeTextFile(`${dir}/runner`, "runner's\n");
      await Deno.writeTextFile(`${dir}/attacker`, "attacker\n");
      // The runner's own setup: a mount on the protected path.
      const setup = await new Deno.Command("mount", {
        args: ["--bind", `${dir}/runner`, file],
      }).output();
      assert.ok(setup.success);
      const result = await run(
        dir,
        [file],
        [`mount --bind ${dir}/attacker ${file}`, "sleep 2", `cat ${file}`]
          .join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "runner's\n");
      assert.deepEqual(await mountsUnder(dir), [file], "the start's mount");
      const finding = result.findings.find((finding) =>
        finding.kind === "mounted_over"
      );
      assert.equal(finding?.repaired, true, JSON.stringify(result.findings));
      assert.equal(result.findings.length, 1);
    }),
);

kernelTest(
  "mounts: a mount on a protected path there at the start, unmounted by a step, is reported unrepaired",
  () =>
    withDir(async (dir) => {
      const file = `${dir}/hosts`;
      await Deno.writeTextFile(file, "underneath\n");
      await Deno.writeTextFile(`${dir}/runner`, "runner's\n");
      const setup = await new Deno.Command("mount", {
        args: ["--bind", `${dir}/runner`, file],
      }).output();
      assert.ok(setup.success);
      const result = await run(dir, [file], `umount ${file}; sleep 1.5`);
      assert.equal(result.code, 0, result.stderr);
      const finding = result.findings.find((finding) =>
        finding.kind === "removed"
      );
      assert.ok(finding, JSON.stringify(result.findings));
      assert.equal(finding.repaired, false);
      assert.equal(finding.other_path, file);
      assert.match(
        result.report,
        /Integrity of 1 protected file can no longer be vouched for/,
      );
    }),
);
