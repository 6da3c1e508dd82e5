import assert from "node:assert/strict";
import { listProcesses, ownCpuSeconds, parseStat, readProc } from "./procfs.ts";

Deno.test("parseStat() reads a comm that holds spaces and parentheses", () => {
  const stat =
    "1234 (a (b) c) S 99 1234 1234 0 -1 4194560 0 0 0 0 17 25 0 0 20 0 1 0 5678 0";
  assert.deepEqual(parseStat(stat), {
    comm: "a (b) c",
    state: "S",
    ppid: 99,
    kernelThread: false,
    startTime: 5678,
    cpuTicks: 42,
  });
});

Deno.test("parseStat() tells a kernel thread by PF_KTHREAD", () => {
  const stat = "2 (kthreadd) S 0 0 0 0 -1 2129984 0 0 0 0 0 0 0 0 20 0 1 0 3 0";
  assert.deepEqual(parseStat(stat), {
    comm: "kthreadd",
    state: "S",
    ppid: 0,
    kernelThread: true,
    startTime: 3,
    cpuTicks: 0,
  });
});

Deno.test("readProc() reads a kernel thread without its missing files", () => {
  const kthreadd = listProcesses().find((entry) => entry.comm === "kthreadd");
  if (!kthreadd) {
    console.log("skipped: no kernel threads in this pid namespace");
    return;
  }
  assert.deepEqual(kthreadd.argv, []);
  assert.equal(kthreadd.exe, undefined);
  assert.equal(kthreadd.uid, 0);
});

Deno.test("listProcesses() takes known processes as they are, reads new ones", () => {
  const stale = { pid: 1, ppid: 0, comm: "known", argv: [] };
  const entries = listProcesses("/proc", new Map([[1, stale]]));
  assert.equal(entries.find((entry) => entry.pid === 1), stale);
  const self = entries.find((entry) => entry.pid === Deno.pid)!;
  assert.equal(self.exe, Deno.execPath());
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

Deno.test("ownCpuSeconds() grows with work this process does", () => {
  const before = ownCpuSeconds();
  assert.ok(before > 0, String(before));
  // Spinning until /proc counts 20 ms more (its unit is 10 ms), or 2 s.
  const until = performance.now() + 2000;
  let after = before;
  while (performance.now() < until && after - before < 0.02) {
    after = ownCpuSeconds();
  }
  assert.ok(after - before >= 0.02, `${before} -> ${after}`);
});
