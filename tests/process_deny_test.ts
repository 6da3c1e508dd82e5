/**
 * process.deny: an exec of a forbidden program is killed before it can run
 * a single instruction in block mode, and only reported in audit mode.
 */
import assert from "node:assert/strict";
import type { ProcessEvent } from "../sensors/process.ts";
import { kernelTest, readJsonLines, ringfence } from "./helpers/kernel.ts";

async function runWithDeny(mode: string, deny: string[], script: string) {
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["forbidden-echo", "other-echo"]) {
      await Deno.copyFile("/bin/echo", `${dir}/${name}`);
      await Deno.chmod(`${dir}/${name}`, 0o755);
    }
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      `version: 1\nmode: ${mode}\nprocess:\n  deny: ${
        JSON.stringify(deny.map((entry) => entry.replace("DIR", dir)))
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
      script.replaceAll("DIR", dir),
    ]);
    const events = await readJsonLines<ProcessEvent>(`${dir}/events.jsonl`);
    return { ...result, events, dir };
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
