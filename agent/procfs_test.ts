import assert from "node:assert/strict";
import { listProcesses, parseStat, readProc } from "./procfs.ts";

Deno.test("parseStat() reads a comm that holds spaces and parentheses", () => {
  const stat = "1234 (a (b) c) S 99 1234 1234 0 -1 4194560 0 0";
  assert.deepEqual(parseStat(stat), { comm: "a (b) c", ppid: 99 });
});

Deno.test("readProc() reads this process", () => {
  const self = readProc(Deno.pid)!;
  assert.equal(self.pid, Deno.pid);
  assert.equal(self.ppid, Deno.ppid);
  assert.equal(self.exe, Deno.execPath());
  assert.ok(self.argv.length > 0);
});

Deno.test("listProcesses() includes this process and init", () => {
  const pids = listProcesses().map((entry) => entry.pid);
  assert.ok(pids.includes(Deno.pid));
  assert.ok(pids.includes(1));
});
