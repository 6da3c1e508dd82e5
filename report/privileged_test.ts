import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import { parsePolicy } from "../policy/parse.ts";
import { buildReport, renderMarkdown, suggestPolicy } from "./mod.ts";

let clock = 0;

function socketEvent(extra: Partial<NetworkEvent>): NetworkEvent {
  return {
    type: "network_event",
    kind: "socket",
    time: `2026-01-01T00:00:0${++clock}.000000000Z`,
    pid: 400 + clock,
    tid: 400 + clock,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "python3",
    cgroup_id: 1,
    protocol: "udp",
    family: 4,
    daddr: "0.0.0.0",
    dport: 0,
    verdict: "deny",
    reason: "raw_socket",
    exe: "/usr/bin/python3",
    ...extra,
  };
}

Deno.test("report: privileged primitives are listed apart, blocked first", () => {
  const report = buildReport([
    socketEvent({ verdict: "allow" }),
    socketEvent({}),
    socketEvent({}),
    socketEvent({
      protocol: "packet",
      reason: "packet_socket",
      killed: true,
    }),
    socketEvent({ protocol: "tun", reason: "tun", verdict: "audit" }),
  ]);
  assert.equal(report.summary.blocked, 3);
  assert.equal(report.summary.wouldBlock, 1);
  assert.equal(report.summary.killed, 1);
  assert.deepEqual(report.egress, []);
  assert.deepEqual(report.privileged, [
    {
      primitive: "packet socket",
      process: "/usr/bin/python3",
      verdict: "deny",
      reason: "packet_socket",
      killed: true,
      count: 1,
    },
    {
      primitive: "raw socket (udp)",
      process: "/usr/bin/python3",
      verdict: "deny",
      reason: "raw_socket",
      count: 2,
    },
    {
      primitive: "TUN/TAP attach",
      process: "/usr/bin/python3",
      verdict: "audit",
      reason: "tun",
      count: 1,
    },
    {
      primitive: "raw socket (udp)",
      process: "/usr/bin/python3",
      verdict: "allow",
      reason: "raw_socket",
      count: 1,
    },
  ]);
  assert.equal(report.killed[0].destination, "packet socket");
  const markdown = renderMarkdown(report);
  assert.match(markdown, /### Privileged network primitives/);
  assert.ok(
    markdown.includes(
      "| ⛔ blocked (killed) | packet socket | `/usr/bin/python3` |  | 1 |",
    ),
    markdown,
  );
  assert.match(markdown, /\| ⚠️ would block \| TUN\/TAP attach \|/);
});

Deno.test("report: the suggested policy allows the primitives used, only", () => {
  const audited = { text: "version: 1\nmode: audit\n", name: "audit.yaml" };
  const events = [
    socketEvent({ verdict: "audit" }),
    socketEvent({ protocol: "tun", reason: "tun", verdict: "allow" }),
    socketEvent({ protocol: "packet", reason: "packet_socket" }),
  ];
  const policy = parsePolicy(suggestPolicy(events, audited), "suggested.yaml");
  assert.deepEqual(policy.network.privileged, {
    raw: "allow",
    packet: "deny",
    tun: "allow",
    netfilter: "deny",
  });
  const none = parsePolicy(suggestPolicy([], audited), "suggested.yaml");
  assert.equal(none.network.privileged.raw, "deny");
});
