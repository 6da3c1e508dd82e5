/**
 * `ringfence start`: scope roots found by name, both ones running before the
 * agent (seeded from /proc) and ones that start after it (matched in the
 * kernel at exec), and a clean stop on SIGTERM.
 */
import assert from "node:assert/strict";
import type { ProcessEvent } from "../sensors/process.ts";
import {
  attachedPrograms,
  kernelTest,
  programsLeftSince,
  readJsonLines,
  rootShell,
  startAgent,
} from "./helpers/kernel.ts";

kernelTest(
  "ringfence start watches named roots, old and new, and detaches on SIGTERM",
  async () => {
    const dir = await Deno.makeTempDir();
    // A copy of bash whose comm is the root's name.
    const rootBinary = await rootShell(dir, "rfroot");
    const go = `${dir}/go`;
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      "version: 1\nmode: audit\nscope:\n  processes: [rfroot]\n",
    );
    const before = await attachedPrograms();

    // A root running before the agent, with a child already running.
    const early = new Deno.Command(rootBinary, {
      args: [
        "-c",
        `/bin/sleep 0.5 & while [ ! -f ${go} ]; do /bin/sleep 0.02; done; /bin/echo early-child; wait`,
      ],
      stdout: "null",
    }).spawn();
    await new Promise((resolve) => setTimeout(resolve, 100));

    const output = `${dir}/events.jsonl`;
    const ready = `${dir}/ready`;
    const agent = await startAgent([
      "--policy",
      policy,
      "--output",
      output,
      "--ready-file",
      ready,
    ]);
    let stopped: { code: number; stderr: string } | undefined;
    try {
      assert.equal((await Deno.readTextFile(ready)).trim(), String(agent.pid));
      const during = await attachedPrograms();
      for (const name of ["handle_exec", "handle_exit", "handle_fork"]) {
        assert.ok(during.includes(name), `${name} attached`);
      }

      // A root that starts after the agent, and an unrelated process.
      const late = await new Deno.Command(rootBinary, {
        args: ["-c", "/bin/echo late-child"],
        stdout: "null",
      }).output();
      assert.equal(late.code, 0);
      await new Deno.Command("/bin/echo", {
        args: ["outsider"],
        stdout: "null",
      })
        .output();
      await Deno.writeTextFile(go, "");
      assert.equal((await early.status).code, 0);
    } finally {
      stopped = await agent.stop();
    }
    const { code, stderr } = stopped;
    assert.equal(code, 0, stderr);
    assert.match(
      stderr,
      /^ringfence: armed after \d+ ms in audit mode, watching rfroot/m,
    );
    assert.match(
      stderr,
      /^ringfence: \d+ processes, \d+ events, 0 dropped, stopped$/m,
    );

    const events = await readJsonLines<ProcessEvent>(output);
    const execs = events.filter((event) => event.kind === "exec");
    const argvOf = (event: ProcessEvent) => event.argv!.join(" ");
    assert.ok(
      execs.some((event) => argvOf(event) === "/bin/echo early-child"),
      "child of a root seeded from /proc",
    );
    assert.ok(
      execs.some((event) => argvOf(event) === "/bin/echo late-child"),
      "child of a root that started later",
    );
    const lateRoot = execs.find((event) => event.path === rootBinary);
    assert.equal(
      lateRoot?.scope_root,
      true,
      "the later root joined by its name",
    );
    assert.ok(
      !execs.some((event) => argvOf(event) === "/bin/echo outsider"),
      "outsider not reported",
    );
    assert.ok(
      !events.some((event) => event.pid === agent.pid),
      "the agent does not report itself",
    );
    const earlySleep = events.find((event) =>
      event.kind === "exit" && event.comm === "sleep" &&
      event.ppid === early.pid
    );
    assert.ok(
      earlySleep,
      "a descendant running before the agent is reported at its exit",
    );

    assert.deepEqual(
      await programsLeftSince(before),
      [],
      "no program left loaded after stop",
    );
    await Deno.remove(dir, { recursive: true });
  },
);
