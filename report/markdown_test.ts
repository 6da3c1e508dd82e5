import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import { buildReport, renderMarkdown } from "./mod.ts";
import { mergeIntegrity } from "./integrity.ts";

let clock = 0;

function event(
  type: string,
  kind: string,
  pid: number,
  extra: Record<string, unknown> = {},
): RingfenceEvent {
  return {
    type,
    kind,
    time: `2026-01-01T00:00:02.${String(++clock).padStart(9, "0")}Z`,
    pid,
    tid: pid,
    ppid: 10,
    uid: 1001,
    gid: 1001,
    comm: "node",
    cgroup_id: 1,
    step: { name: "npm ci", pid: 10, ci: "github" },
    ...extra,
  } as unknown as RingfenceEvent;
}

const dependency = {
  ecosystem: "npm",
  name: "@acme/evil",
  version: "1.0.0",
  script: "postinstall",
};

const net = (
  pid: number,
  kind: string,
  daddr: string,
  verdict: string,
  extra: Record<string, unknown> = {},
) =>
  event("network_event", kind, pid, {
    protocol: kind === "dns" ? "udp" : "tcp",
    family: 4,
    daddr,
    dport: kind === "dns" ? 53 : 443,
    verdict,
    reason: verdict === "allow" ? "allowed_by_rule" : "not_in_allow_list",
    exe: "/usr/bin/node",
    ...extra,
  });

const events: RingfenceEvent[] = [
  event("process_event", "exec", 10, { ppid: 1, path: "/usr/bin/npm" }),
  // registry.npmjs.org, by two processes, allowed
  net(10, "dns", "127.0.0.53", "allow", {
    reason: "resolver",
    query: "registry.npmjs.org",
    qtype: "A",
  }),
  net(10, "connect", "104.16.0.35", "allow"),
  net(10, "connect", "104.16.0.35", "allow"),
  event("process_event", "fork", 11),
  net(11, "dns", "127.0.0.53", "allow", {
    reason: "resolver",
    query: "registry.npmjs.org",
    qtype: "A",
  }),
  net(11, "connect", "104.16.0.34", "allow"),
  // the install script: a refused name, then a bare address
  net(11, "dns", "127.0.0.53", "audit", {
    reason: "dns_query_not_allowed",
    query: "exfil.example.com",
    qtype: "A",
    dependency,
  }),
  net(11, "connect", "1.1.1.1", "audit", { dependency }),
  event("file_system_event", "read", 11, {
    path: "/home/runner/.npmrc",
    verdict: "allow",
    reason: 'files.secrets "**/.npmrc"',
    exe: "/usr/bin/node",
    dependency,
  }),
  event("file_system_event", "create", 11, {
    path: "/home/runner/work/r/.github/workflows/x.yml",
    verdict: "audit",
    reason: 'files.protect "**/.github/workflows/**"',
    exe: "/usr/bin/node",
    dependency,
  }),
];

const header = {
  mode: "audit" as const,
  policy: { path: ".github/ringfence.yaml", sha256: "ab".repeat(32) },
  version: "0.1.0",
  kills: { network: true, files: true, process: true },
};

Deno.test("markdown: the header says mode, policy and digest, version and integrity", () => {
  const report = buildReport(events, { header });
  const markdown = renderMarkdown(report);
  const [title, , line, , counts] = markdown.split("\n");
  assert.equal(title, "## ringfence");
  assert.equal(
    line,
    "Mode **audit** (reporting only) · policy `.github/ringfence.yaml` " +
      "(sha256 `abababababababab`) · ringfence 0.1.0 · agent ✅ ran the " +
      "whole job intact",
  );
  assert.match(counts, /^2 processes · /);
  const tampered = renderMarkdown({
    ...report,
    integrity: mergeIntegrity(report.integrity, {
      reasons: ["the agent (pid 9) is not running"],
    }),
  });
  assert.match(tampered, /agent 🟥 \*\*tampered with\*\* \(below\)/);
  assert.match(tampered, /AGENT TAMPERED/);
  // the built-in policy; a report from saved events has no header
  assert.match(
    renderMarkdown(
      buildReport(events, { header: { ...header, policy: undefined } }),
    ),
    /Mode \*\*audit\*\* \(reporting only\) · policy built-in ·/,
  );
  assert.doesNotMatch(renderMarkdown(buildReport(events)), /^Mode /m);
});

Deno.test("markdown: the facts line ends with the agent's CPU when a live agent gave it", () => {
  const counts = (counters: Parameters<typeof buildReport>[1]) =>
    renderMarkdown(buildReport(events, { header, ...counters })).split("\n")[4];
  assert.match(
    counts({ agentCpu: { total: 0.4567, start: 0.381 } }),
    / · 0 dropped · agent CPU 0\.46 s \(0\.38 s to start\)$/,
  );
  assert.equal(
    buildReport(events, { agentCpu: { total: 1, start: 0.5 } }).summary
      .agentCpu?.total,
    1,
  );
  // saved events' report: no such figure
  assert.match(counts({}), / · 0 dropped$/);
  assert.doesNotMatch(counts({ agentCpu: { total: NaN, start: 0.1 } }), /CPU/);
});

Deno.test("markdown: kills first, then egress by domain, DNS, files, the tree last", () => {
  const markdown = renderMarkdown(buildReport(events, { header }));
  const headings = [...markdown.matchAll(/^### (.*)$/gm)].map((m) => m[1]);
  assert.deepEqual(headings, [
    "Would be killed",
    "Egress by domain",
    "DNS names asked and refused",
    "Files tampered",
    "Secrets read",
  ]);
  assert.ok(markdown.trimEnd().endsWith("</details>"));
  assert.ok(markdown.indexOf("Process tree") > markdown.indexOf("### Secrets"));
});

Deno.test("markdown: egress is grouped by domain, blocked groups first, with the package", () => {
  const report = buildReport(events, { header });
  assert.deepEqual(
    report.egress.map((entry) => [
      entry.domain ?? entry.address,
      entry.process,
      entry.count,
      entry.package,
    ]),
    [
      // named by the question its process asked just before
      [
        "exfil.example.com",
        "/usr/bin/node",
        1,
        "@acme/evil@1.0.0 (postinstall)",
      ],
      ["registry.npmjs.org", "/usr/bin/node", 2, undefined],
      ["registry.npmjs.org", "/usr/bin/node", 1, undefined],
    ],
  );
  const markdown = renderMarkdown(report);
  assert.ok(
    markdown.includes(
      "| exfil.example.com | ⚠️ would block | 1.1.1.1 | 443 | npm ci | `/usr/bin/node` | @acme/evil@1.0.0 (postinstall) | 1 |",
    ),
    markdown,
  );
  assert.ok(
    markdown.includes(
      "| ⚠️ would be refused | `exfil.example.com` | A | 127.0.0.53:53 | npm ci | `/usr/bin/node` | @acme/evil@1.0.0 (postinstall) | 1 |",
    ),
    markdown,
  );
  // the package of the file written and the secret read
  assert.match(
    markdown,
    /x\.yml` \| create \| `\/usr\/bin\/node` \| npm ci \| @acme\/evil@1\.0\.0 \(postinstall\) \|/,
  );
  assert.match(
    markdown,
    /\.npmrc` \| `\/usr\/bin\/node` \| npm ci \| @acme\/evil@1\.0\.0 \(postinstall\) \| 1 \|/,
  );
  // one would-be kill for the install script's process, with its package
  assert.match(
    markdown,
    /\| 11 \| `\/usr\/bin\/node` \| npm ci \| @acme\/evil@1\.0\.0 \(postinstall\) \| network: DNS query for exfil\.example\.com/,
  );
});
