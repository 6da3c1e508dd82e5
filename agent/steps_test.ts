import assert from "node:assert/strict";
import { readEnviron } from "./steps.ts";

Deno.test("readEnviron reads a process's environment, however large", async () => {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", "read line"],
    env: { RINGFENCE_BIG: "x".repeat(100_000), GITHUB_ACTION: "build" },
    stdin: "piped",
  }).spawn();
  try {
    // The shell's environment is readable once it has exec'd.
    let env: Map<string, string> | undefined;
    for (let tries = 0; tries < 100; tries++) {
      env = readEnviron(child.pid, ["GITHUB_ACTION", "RINGFENCE_BIG"]);
      if (env?.has("GITHUB_ACTION")) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.equal(env?.get("GITHUB_ACTION"), "build");
    assert.equal(env?.get("RINGFENCE_BIG")?.length, 100_000);
  } finally {
    await child.stdin.close();
    await child.status;
  }
});

Deno.test("readEnviron is undefined for a process that is gone", async () => {
  const child = new Deno.Command("/bin/true").spawn();
  await child.status;
  assert.equal(readEnviron(child.pid, ["PATH"]), undefined);
});

Deno.test("readEnviron of some names reads those alone", async () => {
  const child = new Deno.Command("/bin/sh", {
    args: ["-c", "read line"],
    env: {
      RINGFENCE_BIG: "x".repeat(100_000),
      GITHUB_ACTION: "build",
      XGITHUB_ACTION: "not this one",
      CI_JOB_NAME: "",
    },
    stdin: "piped",
  }).spawn();
  try {
    let env: Map<string, string> | undefined;
    for (let tries = 0; tries < 100; tries++) {
      env = readEnviron(child.pid, ["GITHUB_ACTION", "CI_JOB_NAME", "HOMEX"]);
      if (env?.has("GITHUB_ACTION")) break;
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(
      env,
      new Map([["GITHUB_ACTION", "build"], ["CI_JOB_NAME", ""]]),
    );
  } finally {
    await child.stdin.close();
    await child.status;
  }
});
