/**
 * The files and process sections end to end through `ringfence run`: the
 * tamper report after a checkout and a later edit, a protected write
 * killed in block mode, and a denied program killed before it prints.
 */
import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import { kernelTest, readJsonLines, ringfence } from "./helpers/kernel.ts";
import { git } from "./helpers/git.ts";

async function run(
  dir: string,
  policy: string,
  script: string,
  options: string[] = [],
) {
  await Deno.writeTextFile(`${dir}/policy.yaml`, policy);
  const result = await ringfence([
    "run",
    "--policy",
    `${dir}/policy.yaml`,
    "--output",
    `${dir}/events.jsonl`,
    ...options,
    "--",
    "/bin/bash",
    "-c",
    script,
  ]);
  const events = await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`);
  return { ...result, events };
}

kernelTest(
  "ringfence run: the tamper report names a source edited after checkout and its step",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.mkdir(`${dir}/origin`);
      await Deno.writeTextFile(`${dir}/origin/main.c`, "int main() {}\n");
      await Deno.writeTextFile(`${dir}/origin/README`, "docs\n");
      await git(`${dir}/origin`, "init", "-q");
      await git(`${dir}/origin`, "add", ".");
      await git(`${dir}/origin`, "commit", "-q", "-m", "initial");
      Deno.env.set("RINGFENCE_TEST_WORKSPACE", `${dir}/workspace`);
      let result;
      try {
        result = await run(
          dir,
          'version: 1\nfiles:\n  watch: ["${RINGFENCE_TEST_WORKSPACE}/**"]\n',
          [
            `git clone -q ${dir}/origin ${dir}/workspace`,
            `cd ${dir}/workspace`,
            "sed -i s/main/evil/ main.c",
            "cc_output=build.o; echo object > $cc_output",
          ].join("\n"),
          ["--report", `${dir}/report.md`],
        );
      } finally {
        Deno.env.delete("RINGFENCE_TEST_WORKSPACE");
      }
      assert.equal(result.code, 0, result.stderr);
      const lines = result.stderr.split("\n");
      const summary = lines.findIndex((line) =>
        /^ringfence: \d+ processes/.test(line)
      );
      assert.ok(summary >= 0, result.stderr);
      const tampered = lines.slice(summary + 1).filter((line) =>
        line.startsWith("ringfence: tampered ")
      );
      // Only main.c: README was checked out and left alone, build.o is
      // the build's own output.
      assert.equal(tampered.length, 1, result.stderr);
      assert.match(
        tampered[0],
        new RegExp(
          `^ringfence: tampered ${dir}/workspace/main\\.c \\(rename\\) by pid \\d+ sed \\(/usr/bin/sed\\) in step "sed -i s/main/evil/ main\\.c", after checkout by "git clone -q `,
        ),
      );
      assert.match(
        result.stderr,
        /ringfence: \d+ other changes under files\.watch/,
      );
      // sed -i writes a temporary file and renames it over the source.
      const rename = result.events.find((event) =>
        event.type === "file_system_event" && event.kind === "rename" &&
        event.new_path === `${dir}/workspace/main.c`
      );
      assert.ok(rename?.type === "file_system_event");
      assert.equal(rename.comm, "sed");
      assert.equal(rename.tamper, true);
      assert.match(rename.checked_out_by ?? "", /^git clone -q /);
      assert.ok(
        !result.events.some((event) =>
          event.type === "file_system_event" && event.tamper &&
          event.path !== rename.path
        ),
        "nothing else is tampering",
      );
      // The job summary names the file and the step too.
      const markdown = await Deno.readTextFile(`${dir}/report.md`);
      const row = markdown.split("\n").find((line) =>
        line.includes(`${dir}/workspace/main.c`)
      );
      assert.ok(markdown.includes("### Files tampered"), markdown);
      assert.match(
        row ?? "",
        /\| rename \| `\/usr\/bin\/sed` \| sed -i s\/main\/evil\/ main\.c \| {2}\| git clone -q /,
      );
      // The same report from the saved events.
      const offline = await ringfence(["report", `${dir}/events.jsonl`]);
      assert.equal(offline.code, 0, offline.stderr);
      assert.ok(offline.stdout.includes(row!), offline.stdout);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "ringfence run: block mode kills a protected write and a denied exec; nothing they would print appears",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(`${dir}/resolv.conf`, "nameserver 1.1.1.1\n");
      await Deno.copyFile("/bin/echo", `${dir}/xmrig`);
      await Deno.chmod(`${dir}/xmrig`, 0o755);
      const result = await run(
        dir,
        [
          "version: 1",
          "mode: block",
          "files:",
          `  protect: ["${dir}/resolv.conf"]`,
          "  action: kill",
          "process:",
          '  deny: ["**/xmrig"]',
          "  action: kill",
          "",
        ].join("\n"),
        [
          `${dir}/xmrig mining`,
          'echo "xmrig: $?"',
          `sh -c 'exec 3>>${dir}/resolv.conf; echo written; echo bad >&3'`,
          'echo "writer: $?"',
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "xmrig: 137\nwriter: 137\n");
      assert.equal(
        await Deno.readTextFile(`${dir}/resolv.conf`),
        "nameserver 1.1.1.1\n",
      );
      const write = result.events.find((event) =>
        event.type === "file_system_event" &&
        event.path === `${dir}/resolv.conf`
      );
      assert.equal(write?.verdict, "deny");
      assert.ok(write?.type === "file_system_event" && write.killed);
      const exec = result.events.find((event) =>
        event.type === "process_event" && event.kind === "exec" &&
        event.path === `${dir}/xmrig`
      );
      assert.equal(exec?.verdict, "deny");
      // The agent's blocked count is of file and network verdicts.
      assert.match(result.stderr, /1 blocked/);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "ringfence validate: an undefined variable in files is an error at its line and column",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      Deno.env.delete("RINGFENCE_TEST_UNDEFINED");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        'version: 1\nfiles:\n  watch:\n    - "${RINGFENCE_TEST_UNDEFINED}/**"\n',
      );
      const result = await ringfence(["validate", `${dir}/policy.yaml`]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /policy\.yaml:4:8: "files\.watch": environment variable RINGFENCE_TEST_UNDEFINED is not set/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
