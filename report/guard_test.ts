import assert from "node:assert/strict";
import type { GuardEvent } from "../sensors/guard_event.ts";
import { buildReport } from "./build.ts";
import { renderMarkdown } from "./markdown.ts";

function guardEvent(fields: Partial<GuardEvent>): GuardEvent {
  return {
    type: "process_event",
    kind: "memory_access",
    time: "2026-12-03T10:00:00.000000000Z",
    pid: 4242,
    tid: 4242,
    ppid: 4100,
    uid: 0,
    gid: 0,
    comm: "python3",
    cgroup_id: 1,
    action: "killed",
    verdict: "deny",
    killed: true,
    syscall: "openat",
    via: "proc_mem",
    target: { pid: 1200, comm: "Runner.Worker", role: "root", root: 1200 },
    step: { name: "build", pid: 4100, ci: "github" },
    ...fields,
  };
}

Deno.test("buildReport() lists memory access and tampering, killed first", () => {
  const report = buildReport([
    guardEvent({
      kind: "bpf",
      action: "audit",
      verdict: "audit",
      killed: undefined,
      via: undefined,
      target: undefined,
      command: "BPF_LINK_DETACH",
      syscall: "bpf",
    }),
    guardEvent({}),
    guardEvent({}),
  ]);
  // One process: killed once, whatever it did after the first.
  assert.equal(report.summary.killed, 1);
  assert.deepEqual(report.guard, [{
    kind: "memory_access",
    what: "opened /proc/PID/mem",
    process: "python3",
    pid: 4242,
    target: "Runner.Worker (pid 1200, root)",
    step: "build",
    action: "killed",
    count: 2,
  }, {
    kind: "bpf",
    what: "bpf(BPF_LINK_DETACH)",
    process: "python3",
    pid: 4242,
    step: "build",
    action: "audit",
    count: 1,
  }]);
  const markdown = renderMarkdown(report);
  assert.match(markdown, /### Memory access and tampering/);
  assert.match(
    markdown,
    /2 memory accesses, 1 bpf\(\) call by policed processes: 2 callers killed\./,
  );
  assert.match(
    markdown,
    /\| ⛔ killed \| opened \/proc\/PID\/mem \| Runner\.Worker \(pid 1200, root\) \| `python3` \| 4242 \| build \| 2 \|/,
  );
  assert.match(markdown, /3 memory access or tampering/);
});

Deno.test("buildReport() leaves the section out when nothing happened", () => {
  const report = buildReport([]);
  assert.equal(report.guard, undefined);
  assert.doesNotMatch(renderMarkdown(report), /Memory access/);
});

Deno.test("a target's comm cannot break the report's table", () => {
  const report = buildReport([
    guardEvent({
      kind: "signal",
      via: undefined,
      signal: "SIGKILL",
      target: { pid: 7, comm: "a|b\nc", role: "agent" },
    }),
  ]);
  const markdown = renderMarkdown(report);
  assert.match(markdown, /sent SIGKILL \| a\\\|b c \(pid 7, agent\)/);
});
