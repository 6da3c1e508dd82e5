import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import { buildReport, renderMarkdown } from "./mod.ts";

const LONG = `${"ab".repeat(31)}a.${"cd".repeat(31)}c.${
  "ef".repeat(31)
}e.a.exfil.example`;

function query(
  name: string | undefined,
  qtype: string,
  verdict: NetworkEvent["verdict"],
  reason = "dns_query_not_allowed",
): NetworkEvent {
  return {
    type: "network_event",
    kind: "dns",
    time: "2026-01-01T00:00:01.000000000Z",
    pid: 7,
    tid: 7,
    ppid: 1,
    uid: 1001,
    gid: 1001,
    comm: "python3",
    cgroup_id: 1,
    protocol: "udp",
    family: 4,
    daddr: "127.0.0.53",
    dport: 53,
    verdict,
    reason,
    ...(name === undefined
      ? { query_malformed: true }
      : { query: name, qtype }),
    exe: "/usr/bin/python3",
  };
}

Deno.test("report: refused DNS queries are listed whole and counted blocked", () => {
  assert.ok(LONG.length > 126);
  const report = buildReport([
    query(LONG, "TXT", "deny"),
    query(LONG, "TXT", "deny"),
    query(LONG, "A", "audit"),
    query(undefined, "", "deny"),
    query("registry.npmjs.org", "A", "allow", "resolver"),
  ]);
  assert.equal(report.summary.blocked, 3);
  assert.equal(report.summary.wouldBlock, 1);
  assert.deepEqual(report.dnsRefused, [
    {
      name: LONG,
      qtype: "TXT",
      resolver: "127.0.0.53:53",
      protocol: "udp",
      process: "/usr/bin/python3",
      verdict: "deny",
      count: 2,
    },
    {
      name: "(not a query the sensor could read)",
      resolver: "127.0.0.53:53",
      protocol: "udp",
      process: "/usr/bin/python3",
      verdict: "deny",
      count: 1,
    },
    {
      name: LONG,
      qtype: "A",
      resolver: "127.0.0.53:53",
      protocol: "udp",
      process: "/usr/bin/python3",
      verdict: "audit",
      count: 1,
    },
  ]);
  // the resolver is not a destination the queries reached
  assert.deepEqual(report.egress, []);
  const markdown = renderMarkdown(report);
  assert.match(markdown, /### DNS names asked and refused/);
  assert.ok(markdown.includes(`| ⛔ refused | \`${LONG}\` | TXT |`), markdown);
  assert.match(markdown, /3 blocked · 1 would be blocked/);
});

Deno.test("report: no DNS section, and no dnsRefused key, without refusals", () => {
  const report = buildReport([
    query("registry.npmjs.org", "A", "allow", "resolver"),
  ]);
  assert.equal("dnsRefused" in report, false);
  assert.doesNotMatch(renderMarkdown(report), /DNS names asked and refused/);
});
