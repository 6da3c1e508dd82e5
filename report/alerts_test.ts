import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import {
  AlertLimiter,
  annotation,
  classify,
  escapeData,
  escapeProperty,
  formatAlert,
} from "./alerts.ts";

const HEADER = {
  time: "2026-12-03T10:00:00.000000000Z",
  tid: 4242,
  ppid: 1,
  uid: 1001,
  gid: 1001,
  cgroup_id: 1,
};

function network(fields: Record<string, unknown>): RingfenceEvent {
  return {
    type: "network_event",
    kind: "connect",
    ...HEADER,
    pid: 4242,
    comm: "node",
    protocol: "tcp",
    family: 4,
    daddr: "1.1.1.1",
    dport: 443,
    verdict: "deny",
    reason: "not_in_allow_list",
    exe: "/usr/bin/node",
    step: { name: "npm install", pid: 100, ci: "github" },
    ...fields,
  } as RingfenceEvent;
}

const line = (event: RingfenceEvent) => {
  const alert = classify(event);
  return alert && formatAlert(alert);
};

Deno.test("alerts: a block names what, process, step and package", () => {
  assert.equal(
    line(network({
      dependency: {
        ecosystem: "npm",
        name: "evil",
        version: "1.0.0",
        script: "postinstall",
      },
    })),
    'ringfence: BLOCKED connect 1.1.1.1:443 (not in allow list) by /usr/bin/node pid 4242, step "npm install", package evil@1.0.0 (postinstall)',
  );
  assert.equal(
    line(network({ verdict: "audit", step: undefined })),
    "ringfence: WOULD BLOCK connect 1.1.1.1:443 (not in allow list) by /usr/bin/node pid 4242",
  );
  assert.equal(
    line(network({ killed: true })),
    'ringfence: KILLED /usr/bin/node pid 4242 (connect 1.1.1.1:443: not in allow list), step "npm install"',
  );
  assert.equal(
    line(network({ verdict: "allow", reason: "loopback" })),
    undefined,
  );
});

Deno.test("alerts: denied exec, guard, untracked and protected files", () => {
  const exec = {
    type: "process_event",
    kind: "exec",
    ...HEADER,
    pid: 77,
    comm: "nc",
    path: "nc",
    file: "/usr/bin/nc",
    rule: "/usr/bin/nc",
    step: { name: "build", pid: 70, ci: "github" },
  };
  assert.equal(
    line({ ...exec, verdict: "deny", killed: true } as RingfenceEvent),
    'ringfence: KILLED /usr/bin/nc pid 77 (process.deny "/usr/bin/nc"), step "build"',
  );
  assert.equal(
    line({ ...exec, verdict: "audit" } as RingfenceEvent),
    'ringfence: WOULD KILL /usr/bin/nc pid 77 (process.deny "/usr/bin/nc"), step "build"',
  );
  // a plain exec, fork and exit are no alert
  assert.equal(
    line({ ...exec, rule: undefined, file: undefined } as RingfenceEvent),
    undefined,
  );
  assert.equal(
    line({
      type: "process_event",
      kind: "memory_access",
      ...HEADER,
      pid: 9,
      comm: "python3",
      via: "proc_mem",
      target: { pid: 12, comm: "Runner.Worker", role: "root" },
      action: "audit",
      verdict: "audit",
      syscall: "openat",
    } as RingfenceEvent),
    "ringfence: WOULD KILL python3 pid 9 (opened /proc/PID/mem to Runner.Worker (pid 12, root): runner.memory)",
  );
  assert.equal(
    line({
      type: "file_system_event",
      kind: "open",
      ...HEADER,
      pid: 5,
      comm: "bash",
      path: "/etc/hosts",
      verdict: "deny",
      reason: 'files.protect "/etc/hosts"',
      killed: true,
      exe: "/usr/bin/bash",
    } as RingfenceEvent),
    'ringfence: KILLED /usr/bin/bash pid 5 (open /etc/hosts: files.protect "/etc/hosts")',
  );
  assert.equal(
    line({
      type: "file_system_event",
      kind: "read",
      ...HEADER,
      pid: 5,
      comm: "node",
      path: "/home/runner/.npmrc",
      verdict: "deny",
      refused: true,
      reason: "install_script_secret",
    } as RingfenceEvent),
    "ringfence: BLOCKED read /home/runner/.npmrc (install_script_secret) by node pid 5",
  );
});

Deno.test("alerts: any reason and a job's control characters stay on one line", () => {
  const text = line(network({
    kind: "dns",
    daddr: "127.0.0.53",
    dport: 53,
    query: "a\n::error::forged",
    qtype: "A",
    reason: "install_script_network",
    exe: "/tmp/x\r",
  }))!;
  assert.equal(text.split("\n").length, 1);
  assert.match(text, /DNS query a\\x0a::error::forged A to 127\.0\.0\.53:53/);
  assert.match(text, /\(install script network\)/);
  assert.match(text, /by \/tmp\/x\\x0d pid/);
});

Deno.test("alerts: workflow commands are escaped as GitHub's toolkit does", () => {
  assert.equal(escapeData("50%\r\nx"), "50%25%0D%0Ax");
  assert.equal(escapeProperty("a: b, c"), "a%3A b%2C c");
  const command = annotation(classify(network({}))!);
  assert.ok(command.startsWith("::error title=ringfence blocked::BLOCKED "));
  assert.equal(command.split("\n").length, 1);
});

Deno.test("alerts: repeats print once and are counted at the end", () => {
  const limiter = new AlertLimiter({ lines: 3, annotations: 3 });
  const outputs = [];
  for (let index = 0; index < 100; index++) {
    outputs.push(limiter.add(classify(network({ pid: 1000 + index }))!));
  }
  for (let index = 0; index < 5; index++) {
    outputs.push(
      limiter.add(classify(network({ daddr: `10.0.0.${index}` }))!),
    );
  }
  const lines = outputs.flatMap((out) => out.line ? [out.line] : []);
  assert.equal(lines.length, 3);
  assert.equal(outputs.filter((out) => out.notice).length, 1);
  // one of three annotations kept for the summary
  assert.equal(outputs.filter((out) => out.annotation).length, 2);
  const end = limiter.endLines("events.jsonl");
  assert.match(
    end[0],
    /^ringfence: 99 more times: BLOCKED connect 1\.1\.1\.1:443 \(not in allow list\) by \/usr\/bin\/node first pid 1000,/,
  );
  assert.match(
    end.at(-1)!,
    /3 different blocks and kills not shown; all are in events\.jsonl/,
  );
  assert.match(
    limiter.endAnnotation("events.jsonl")!,
    /^::error title=ringfence%3A more blocks and kills::4 more/,
  );
  assert.equal(limiter.total, 105);
});

Deno.test("alerts: a SIGTERM to the agent is its stop request, not a would-be kill", () => {
  const signal = (name: string) =>
    ({
      type: "process_event",
      kind: "signal",
      ...HEADER,
      pid: 77,
      comm: "ringfence",
      signal: name,
      action: "audit",
      verdict: "audit",
      target: { pid: 10, comm: "ringfence", role: "agent" },
    }) as unknown as RingfenceEvent;
  assert.equal(classify(signal("SIGTERM")), undefined);
  assert.match(line(signal("SIGSTOP")) ?? "", /^ringfence: WOULD KILL /);
});
