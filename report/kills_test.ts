import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import { buildReport, renderMarkdown } from "./mod.ts";
import type { ReportHeader } from "./types.ts";

let clock = 0;

/** An event of `type`/`kind` for `pid` (forked by 10), `extra` wins. */
function event(
  type: string,
  kind: string,
  pid: number,
  extra: Record<string, unknown> = {},
): RingfenceEvent {
  return {
    type,
    kind,
    time: `2026-01-01T00:00:01.${String(++clock).padStart(9, "0")}Z`,
    pid,
    tid: pid,
    ppid: 10,
    uid: 1001,
    gid: 1001,
    comm: "sh",
    cgroup_id: 1,
    step: { name: "build", pid: 10, ci: "github" },
    ...extra,
  } as unknown as RingfenceEvent;
}

const dependency = {
  ecosystem: "npm",
  name: "evil-pkg",
  version: "6.6.6",
  script: "postinstall",
  manager: "npm",
};

const fork = (pid: number) => event("process_event", "fork", pid);

/** One of each kind of kill, in block mode. */
const blockEvents: RingfenceEvent[] = [
  event("process_event", "exec", 10, { ppid: 1, path: "/bin/sh" }),
  fork(11),
  event("network_event", "connect", 11, {
    protocol: "tcp",
    family: 4,
    daddr: "198.51.100.7",
    dport: 443,
    verdict: "deny",
    reason: "not_in_allow_list",
    killed: true,
    exe: "/usr/bin/node",
    dependency,
  }),
  fork(12),
  event("process_event", "exec", 12, {
    comm: "nc",
    path: "/usr/bin/nc",
    argv: ["nc"],
    verdict: "deny",
    killed: true,
    rule: "/usr/bin/nc",
    reason: "exec",
  }),
  fork(13),
  event("file_system_event", "open", 13, {
    path: "/etc/hosts",
    verdict: "deny",
    reason: 'files.protect "/etc/hosts"',
    killed: true,
    exe: "/usr/bin/tee",
  }),
  // the same writer's next event is not a second kill
  event("file_system_event", "write", 13, {
    path: "/etc/hosts",
    verdict: "deny",
    reason: 'files.protect "/etc/hosts"',
    killed: true,
  }),
  fork(14),
  event("process_event", "memory_access", 14, {
    via: "proc_mem",
    target: { pid: 10, comm: "sh", role: "root" },
    action: "killed",
    verdict: "deny",
    killed: true,
    syscall: "openat",
  }),
  event("process_event", "untracked", 15, { action: "killed" }),
  fork(16),
  // an install script's kill (dependencies.install_scripts): generic
  event("file_system_event", "read", 16, {
    path: "/home/runner/.npmrc",
    verdict: "deny",
    reason: "dependencies.install_scripts files",
    killed: true,
    dependency,
  }),
  // refused, not killed
  event("network_event", "connect", 11, {
    protocol: "tcp",
    family: 4,
    daddr: "203.0.113.1",
    dport: 80,
    verdict: "deny",
    reason: "not_in_allow_list",
  }),
];

Deno.test("kills: every kind is counted and listed once per process, with its package", () => {
  const report = buildReport(blockEvents);
  assert.equal(report.summary.killed, 6);
  assert.equal(report.summary.wouldKill, undefined);
  assert.deepEqual(
    report.killed.map((entry) => [entry.pid, entry.action, entry.why]),
    [
      [11, "killed", "network: 198.51.100.7:443 (not_in_allow_list)"],
      [12, "killed", 'process.deny "/usr/bin/nc"'],
      [13, "killed", 'files.protect "/etc/hosts": open /etc/hosts'],
      [
        14,
        "killed",
        "runner.memory: opened /proc/PID/mem of sh (pid 10, root)",
      ],
      [15, "killed", "untracked: the scope map was full"],
      [
        16,
        "killed",
        "dependencies.install_scripts files: read /home/runner/.npmrc",
      ],
    ],
  );
  assert.equal(report.killed[0].package, "evil-pkg@6.6.6 (postinstall)");
  assert.equal(report.killed[0].destination, "198.51.100.7:443");
  const markdown = renderMarkdown(report);
  assert.match(markdown, /6 killed/);
  assert.match(
    markdown,
    /### Processes killed\n\n\| pid \| process \| step \| package \| why \| time \|/,
  );
  assert.match(
    markdown,
    /\| 12 \| `\/usr\/bin\/nc` \| build \| {2}\| process\.deny/,
  );
  assert.doesNotMatch(markdown, /Would be killed/);
});

/** The same in audit mode: nothing killed, each a would-be kill. */
function auditEvents(): RingfenceEvent[] {
  return blockEvents.map((one) => {
    const copy = { ...one } as Record<string, unknown>;
    if (copy.verdict === "deny") copy.verdict = "audit";
    if (copy.action === "killed") copy.action = "audit";
    delete copy.killed;
    return copy as unknown as RingfenceEvent;
  });
}

Deno.test("kills: audit mode lists would-be kills as the policy's actions make them", () => {
  const header = (kills: ReportHeader["kills"]): ReportHeader => ({
    mode: "audit",
    version: "0.1.0",
    kills,
  });
  const all = buildReport(auditEvents(), {
    header: header({ network: true, files: true, process: true }),
  });
  assert.equal(all.summary.killed, 0);
  assert.deepEqual(all.killed.map((entry) => entry.pid), [
    11,
    12,
    13,
    14,
    15,
    16,
  ]);
  assert.ok(all.killed.every((entry) => entry.action === "audit"));
  assert.equal(all.summary.wouldKill, 6);
  const markdown = renderMarkdown(all);
  assert.match(markdown, /0 killed · 6 would be killed/);
  assert.match(markdown, /### Would be killed/);
  assert.doesNotMatch(markdown, /### Processes killed/);
  // network.action deny, files.action audit, process.action audit
  const none = buildReport(auditEvents(), {
    header: header({ network: false, files: false, process: false }),
  });
  // (an install script's file violation kills whatever the actions)
  assert.deepEqual(none.killed.map((entry) => entry.pid), [14, 15, 16]);
  // without a header (a saved event file): the kinds block mode always
  // kills for, and process.deny (killed by default)
  assert.deepEqual(
    buildReport(auditEvents()).killed.map((entry) => entry.pid),
    [12, 14, 15, 16],
  );
});

Deno.test("kills: an audit event of an install script's kill action is a would-be kill", () => {
  const report = buildReport([
    fork(20),
    event("network_event", "connect", 20, {
      protocol: "tcp",
      family: 4,
      daddr: "1.1.1.1",
      dport: 443,
      verdict: "audit",
      reason: "install_script_network",
      action: "kill",
      dependency,
    }),
  ]);
  assert.deepEqual(report.killed.map((entry) => [entry.pid, entry.package]), [
    [20, "evil-pkg@6.6.6 (postinstall)"],
  ]);
});

Deno.test("kills: install scripts' audit events are would-be kills as dependencies.install_scripts says", () => {
  const events = [
    fork(30),
    event("network_event", "connect", 30, {
      protocol: "tcp",
      family: 4,
      daddr: "1.1.1.1",
      dport: 443,
      verdict: "audit",
      reason: "install_script",
      dependency,
    }),
    fork(31),
    event("file_system_event", "read", 31, {
      path: "/home/runner/.npmrc",
      verdict: "audit",
      reason: 'dependencies.install_scripts: secret "**/.npmrc"',
      dependency,
    }),
  ];
  const pids = (installScripts: boolean) =>
    buildReport(events, {
      header: {
        mode: "audit",
        version: "0.1.0",
        kills: { network: false, files: false, process: true, installScripts },
      },
    }).killed.map((entry) => entry.pid);
  // a file violation kills whatever the action; a connection with kill
  assert.deepEqual(pids(false), [31]);
  assert.deepEqual(pids(true), [30, 31]);
});
