import assert from "node:assert/strict";
import { SudoAttempts, sudoSummary } from "./sudo.ts";

function exec(pid: number, path: string, argv: string[], sudo?: string) {
  return { kind: "exec", pid, time: `t${pid}`, path, argv, sudo };
}

Deno.test("sudo attempts: each exec of a tool with its step, state and exit", () => {
  const attempts = new SudoAttempts(10);
  attempts.add(
    exec(1, "/usr/bin/sudo", ["sudo", "-n", "id"], "disabled"),
    "build",
  );
  attempts.add({ kind: "exit", pid: 1, time: "t", exit_code: 1 });
  attempts.add(exec(2, "/bin/ls", ["ls"]), "build");
  attempts.add(exec(3, "/bin/su", ["su", "-"], "audit"));
  attempts.add({ kind: "exit", pid: 3, time: "t", signal: 9 });
  attempts.add(exec(4, "/usr/bin/sudo", ["sudo", "true"]), "test");
  assert.deepEqual(attempts.entries(), [
    {
      tool: "sudo",
      command: "sudo -n id",
      sudo: "disabled",
      pid: 1,
      time: "t1",
      step: "build",
      exit: 1,
    },
    {
      tool: "su",
      command: "su -",
      sudo: "audit",
      pid: 3,
      time: "t3",
      signal: 9,
    },
    {
      tool: "sudo",
      command: "sudo true",
      sudo: "allowed",
      pid: 4,
      time: "t4",
      step: "test",
    },
  ]);
  assert.equal(
    sudoSummary(attempts.entries()),
    "3 attempts to switch user: 1 while sudo was disabled (1 failed), 1 that block mode would have refused, 1 with sudo allowed",
  );
});

Deno.test("sudo attempts beyond the limit are counted", () => {
  const attempts = new SudoAttempts(1);
  attempts.add(exec(1, "/usr/bin/sudo", ["sudo"], "disabled"));
  attempts.add(exec(2, "/usr/bin/sudo", ["sudo"], "disabled"));
  assert.equal(attempts.entries().length, 1);
  assert.equal(attempts.omitted, 1);
  assert.equal(
    sudoSummary(attempts.entries(), attempts.omitted),
    "2 attempts to switch user: 1 while sudo was disabled (0 failed) (1 not listed)",
  );
});
