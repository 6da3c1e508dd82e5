/**
 * process.deny: an exec of a forbidden program is killed before it can run
 * a single instruction in block mode, and only reported in audit mode.
 */
import assert from "node:assert/strict";
import type { ProcessEvent } from "../sensors/process.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  ROOT,
} from "./helpers/kernel.ts";

/**
 * Runs `script` as one step under `ringfence run`, in `mode`, with a policy
 * denying `deny` (DIR in an entry is `dir`): the result and its events.
 */
async function runDenied(
  dir: string,
  mode: string,
  deny: string[],
  script: string,
) {
  const policy = `${dir}/policy.yaml`;
  await Deno.writeTextFile(
    policy,
    `version: 1\nmode: ${mode}\nprocess:\n  deny: ${
      JSON.stringify(deny.map((entry) => entry.replaceAll("DIR", dir)))
    }\n`,
  );
  const result = await ringfence([
    "run",
    "--policy",
    policy,
    "--output",
    `${dir}/events.jsonl`,
    "--",
    "/bin/bash",
    "-c",
    script,
  ]);
  const events = await readJsonLines<ProcessEvent>(`${dir}/events.jsonl`);
  return { ...result, events };
}

async function runWithDeny(mode: string, deny: string[], script: string) {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["forbidden-echo", "other-echo"]) {
      await Deno.copyFile("/bin/echo", `${dir}/${name}`);
      await Deno.chmod(`${dir}/${name}`, 0o755);
    }
    const result = await runDenied(
      dir,
      mode,
      deny,
      script.replaceAll("DIR", dir),
    );
    return { ...result, dir };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

kernelTest(
  "a denied program is killed before it prints anything (by **/name and by path)",
  async () => {
    const result = await runWithDeny(
      "block",
      ["**/forbidden-echo", "DIR/other-echo"],
      "DIR/forbidden-echo one; DIR/other-echo two; /bin/echo three",
    );
    assert.equal(result.code, 0, result.stderr);
    assert.equal(
      result.stdout,
      "three\n",
      "the denied programs printed nothing",
    );
    for (const name of ["forbidden-echo", "other-echo"]) {
      const exec = result.events.find((event) =>
        event.kind === "exec" && event.path === `${result.dir}/${name}`
      );
      assert.ok(exec, `exec of ${name} reported`);
      assert.equal(exec.verdict, "deny");
      assert.equal(exec.killed, true);
      const exit = result.events.find((event) =>
        event.kind === "exit" && event.pid === exec.pid
      );
      assert.equal(exit?.signal, 9, `${name} died of SIGKILL`);
    }
    const allowed = result.events.find((event) =>
      event.kind === "exec" && event.path === "/bin/echo"
    );
    assert.equal(allowed?.verdict, undefined);
  },
);

/** The loader of dynamically linked x86-64 programs (glibc). */
const LD_SO = "/lib64/ld-linux-x86-64.so.2";

kernelTest(
  "audit mode lets ld.so run a denied program and reports it as loader",
  async () => {
    const result = await runWithDeny(
      "audit",
      ["DIR/forbidden-echo"],
      `${LD_SO} DIR/forbidden-echo one`,
    );
    assert.equal(result.stdout, "one\n");
    const load = result.events.find((event) => event.reason === "loader");
    assert.equal(load?.verdict, "audit");
    assert.equal(load?.killed, undefined);
    assert.equal(load?.rule, `${result.dir}/forbidden-echo`);
    assert.equal(load?.file, `${result.dir}/forbidden-echo`);
  },
);

kernelTest("audit mode lets a denied program run and reports it", async () => {
  const result = await runWithDeny(
    "audit",
    ["**/forbidden-echo"],
    "DIR/forbidden-echo one",
  );
  assert.equal(result.stdout, "one\n");
  const exec = result.events.find((event) =>
    event.kind === "exec" && event.path?.endsWith("/forbidden-echo")
  );
  assert.equal(exec?.verdict, "audit");
  assert.equal(exec?.killed, undefined);
});

/**
 * Runs `cases` (name → shell command) as one step in block mode with
 * `deny`, after the step's `setup` commands; each case's command is given
 * the marker file it would create if the program it runs got to run. DIR
 * is a temp dir holding `forbidden`, `allowed` and `globbed`, copies of
 * touch(1), and a symlink `bin` to itself (made before the policy is).
 */
async function runCases(
  deny: string[],
  cases: Record<string, string>,
  setup = "",
) {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["forbidden", "allowed", "globbed"]) {
      await Deno.copyFile("/usr/bin/touch", `${dir}/${name}`);
      await Deno.chmod(`${dir}/${name}`, 0o755);
    }
    await Deno.symlink(dir, `${dir}/bin`);
    const fill = (text: string) => text.replaceAll("DIR", dir);
    const script = [
      fill(setup),
      ...Object.entries(cases).map(([name, command]) =>
        `${fill(command)} ${dir}/marker-${name} || true`
      ),
    ].join("\n");
    const result = await runDenied(dir, "block", deny, script);
    assert.equal(result.code, 0, result.stderr);
    const { events } = result;
    const ran: Record<string, boolean> = {};
    const denied: Record<string, ProcessEvent | undefined> = {};
    for (const name of Object.keys(cases)) {
      const marker = `${dir}/marker-${name}`;
      ran[name] = await Deno.stat(marker).then(() => true, () => false);
      denied[name] = events.find((event) =>
        event.kind === "exec" && event.verdict === "deny" &&
        event.argv?.includes(marker)
      );
    }
    return { dir, ran, denied, events };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Asserts that every case was killed by `rule` before it ran, and that its
 * event names `file` (in DIR) as what the kernel resolved.
 */
function assertKilled(
  result: Awaited<ReturnType<typeof runCases>>,
  { rule, reason, file }: {
    rule: string;
    reason: "exec" | "loader";
    file: string;
  },
  names: string[],
) {
  for (const name of names) {
    assert.equal(result.ran[name], false, `${name}: the program ran`);
    const event = result.denied[name];
    assert.ok(event, `${name}: a denied exec is reported`);
    assert.equal(event.rule, rule.replaceAll("DIR", result.dir), name);
    assert.equal(event.killed, true, name);
    assert.equal(event.reason, reason, name);
    assert.equal(
      event.file,
      `${result.dir}/${file}`,
      `${name}: the path the kernel resolved`,
    );
    const exit = result.events.find((other) =>
      other.kind === "exit" && other.pid === event.pid
    );
    assert.equal(exit?.signal, 9, `${name} died of SIGKILL`);
  }
}

kernelTest(
  "a path rule denies the file whatever path reaches it",
  async () => {
    const result = await runCases(
      ["DIR/forbidden"],
      {
        symlink: "DIR/link",
        "double-slash": "/DIR//forbidden",
        "dot-segment": "DIR/./forbidden",
        relative: "cd DIR && ./forbidden",
        "hard-link": "DIR/hard",
        "symlinked-dir": "DIR/bin/forbidden",
        // a script whose interpreter is the denied file
        shebang: "DIR/script",
        // fexecve: execveat(fd, "", AT_EMPTY_PATH)
        "execveat-fd":
          `/usr/bin/python3 -c 'import os, sys; os.execve(os.open("DIR/forbidden", os.O_RDONLY), ["x", sys.argv[1]], {})'`,
        // a copy is another file: not recognised (name rules still see it)
        copy: "DIR/allowed",
      },
      "ln -s DIR/forbidden DIR/link; ln DIR/forbidden DIR/hard; " +
        "printf '#!DIR/forbidden\\n' > DIR/script; chmod +x DIR/script",
    );
    const rule = {
      rule: "DIR/forbidden",
      reason: "exec" as const,
      file: "forbidden",
    };
    assertKilled(result, rule, [
      "symlink",
      "double-slash",
      "dot-segment",
      "relative",
      "symlinked-dir",
      "shebang",
      "execveat-fd",
    ]);
    // another name for the same inode: the kernel resolves that name
    assertKilled(result, { ...rule, file: "hard" }, ["hard-link"]);
    assert.equal(result.ran.copy, true, "the test's program does run");
  },
);

kernelTest(
  "a path rule written through a symlink, or for a file made later, matches",
  async () => {
    const result = await runCases(["DIR/bin/forbidden", "DIR/later"], {
      real: "DIR/forbidden",
      later: "DIR/./later",
    }, "cp DIR/allowed DIR/later");
    assertKilled(
      result,
      { rule: "DIR/bin/forbidden", reason: "exec", file: "forbidden" },
      ["real"],
    );
    assertKilled(
      result,
      { rule: "DIR/later", reason: "exec", file: "later" },
      ["later"],
    );
  },
);

kernelTest(
  "ld.so PROG is killed when PROG is denied, by path or by **/name",
  async () => {
    const result = await runCases(["DIR/forbidden", "**/globbed"], {
      "ld.so": `${LD_SO} DIR/forbidden`,
      "ld.so-symlink": `${LD_SO} DIR/link`,
      "ld.so-glob": `${LD_SO} DIR/globbed`,
      "ld.so-allowed": `${LD_SO} DIR/allowed`,
    }, "ln -s DIR/forbidden DIR/link");
    assertKilled(
      result,
      { rule: "DIR/forbidden", reason: "loader", file: "forbidden" },
      ["ld.so", "ld.so-symlink"],
    );
    assertKilled(
      result,
      { rule: "**/globbed", reason: "loader", file: "globbed" },
      ["ld.so-glob"],
    );
    assert.equal(result.ran["ld.so-allowed"], true, "ld.so runs a program");
  },
);

kernelTest(
  "a denied file mapped executable through the ia32 mmap2 and old_mmap is killed",
  async () => {
    const map = `/usr/bin/python3 ${ROOT}tests/helpers/ia32_mmap.py`;
    const result = await runCases(["DIR/forbidden"], {
      "ia32-mmap2": `${map} mmap2 DIR/forbidden`,
      "ia32-old_mmap": `${map} old_mmap DIR/forbidden`,
      "ia32-mmap2-allowed": `${map} mmap2 DIR/allowed`,
      "ia32-old_mmap-allowed": `${map} old_mmap DIR/allowed`,
    });
    assertKilled(
      result,
      { rule: "DIR/forbidden", reason: "loader", file: "forbidden" },
      ["ia32-mmap2", "ia32-old_mmap"],
    );
    for (const name of ["ia32-mmap2-allowed", "ia32-old_mmap-allowed"]) {
      assert.equal(result.ran[name], true, `${name}: the call works`);
    }
  },
);
