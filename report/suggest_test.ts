import assert from "node:assert/strict";
import { parsePolicy } from "../policy/parse.ts";
import type { Dependency } from "../sensors/event.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { suggestPolicy } from "./suggest.ts";

let clock = 0;

function header(pid: number, dependency?: Dependency) {
  clock += 10;
  return {
    time: new Date(Date.UTC(2026, 11, 3, 10, 0, 0, clock)).toISOString(),
    pid,
    tid: pid,
    ppid: 1,
    uid: 1001,
    gid: 1001,
    comm: "node",
    cgroup_id: 1,
    step: { name: "npm install", pid: 10, ci: "github" },
    ...(dependency ? { dependency } : {}),
  };
}

const EVIL: Dependency = {
  ecosystem: "npm",
  name: "evil",
  version: "1.0.0",
  script: "postinstall",
};

/** An A question, then a connection to `address`, by `pid`. */
function named(
  pid: number,
  name: string,
  address: string,
  dependency?: Dependency,
  verdict = "audit",
): RingfenceEvent[] {
  return [
    {
      type: "network_event",
      kind: "dns",
      ...header(pid, dependency),
      protocol: "udp",
      family: 4,
      daddr: "127.0.0.53",
      dport: 53,
      verdict: "allow",
      reason: "resolver",
      query: name,
      qtype: "A",
    },
    bare(pid, address, 443, dependency, verdict),
  ] as RingfenceEvent[];
}

function bare(
  pid: number,
  address: string,
  port: number,
  dependency?: Dependency,
  verdict = "audit",
): RingfenceEvent {
  return {
    type: "network_event",
    kind: "connect",
    ...header(pid, dependency),
    protocol: "tcp",
    family: address.includes(":") ? 6 : 4,
    daddr: address,
    dport: port,
    verdict,
    reason: verdict === "allow" ? "allowed_by_rule" : "not_in_allow_list",
    exe: dependency ? "/usr/bin/node" : "/usr/bin/npm",
  } as RingfenceEvent;
}

const AUDITED = `# Our CI policy.
version: 1
mode: audit
scope:
  processes: [Runner.Worker] # the runner
network:
  loopback: deny
  allow:
    - registry.npmjs.org:443
    - old.example.com:443 # no longer used
  dns:
    queries: any
process:
  deny: ["/usr/bin/nc"]
  action: kill
files:
  protect: [/etc/hosts]
  action: kill
runner:
  bpf: deny
`;

Deno.test("suggest: allow entries say who used them; install scripts' and refused destinations are left out", () => {
  const events = [
    ...named(100, "registry.npmjs.org", "104.16.1.1", undefined, "allow"),
    // a name both the build and an install script used: kept
    ...named(101, "cdn.example.org", "203.0.113.5"),
    ...named(200, "cdn.example.org", "203.0.113.5", EVIL),
    // a name only an install script used
    ...named(201, "exfil.example.net", "203.0.113.9", EVIL),
    // an install script by bare IP
    bare(202, "1.1.1.1", 443, EVIL),
    // the metadata service, by address and by name
    bare(103, "169.254.169.254", 80),
    ...named(104, "metadata.google.internal", "169.254.169.254"),
    bare(105, "fd00:ec2::254", 80),
    // refused
    bare(106, "198.51.100.7", 8000, undefined, "deny"),
  ];
  const text = suggestPolicy(events, { text: AUDITED, name: "ci.yaml" });
  const policy = parsePolicy(text, "suggested.yaml");
  assert.equal(policy.mode, "block");
  assert.deepEqual(policy.network.allow.map((rule) => rule.text), [
    "cdn.example.org:443",
    "registry.npmjs.org:443",
  ]);
  assert.match(
    text,
    /# steps: npm install; processes: \/usr\/bin\/node, \/usr\/bin\/npm; packages: evil@1\.0\.0 \(postinstall\)\n\s+- cdn\.example\.org:443/,
  );
  assert.match(
    text,
    /# - 1\.1\.1\.1:443: reached by bare IP from the install script of evil@1\.0\.0 \(postinstall\)/,
  );
  assert.match(
    text,
    /# - exfil\.example\.net:443: used only by install scripts: evil@1\.0\.0 \(postinstall\)/,
  );
  assert.match(text, /# - 169\.254\.169\.254:80: the cloud metadata service/);
  assert.match(
    text,
    /# - metadata\.google\.internal:443: the cloud metadata service/,
  );
  assert.match(text, /# - \[fd00:ec2::254\]:80: the cloud metadata service/);
  assert.match(
    text,
    /# - 198\.51\.100\.7:8000: refused in the audited run \(not in allow list\)/,
  );
  assert.match(
    text,
    /# In ci\.yaml but not used in the audited run:\n\s+# - old\.example\.com:443\n/,
  );
  for (const left of ["1.1.1.1", "169.254.169.254", "198.51.100.7", "exfil"]) {
    assert.ok(
      !policy.network.allow.some((rule) => rule.text.includes(left)),
      left,
    );
  }
});

Deno.test("suggest: the audited policy's other settings and comments are kept as written", () => {
  const text = suggestPolicy([bare(1, "127.0.0.1", 8080)], {
    text: AUDITED,
    name: "ci.yaml",
  });
  const policy = parsePolicy(text, "suggested.yaml");
  const audited = parsePolicy(AUDITED, "ci.yaml");
  assert.deepEqual(policy.scope, audited.scope);
  assert.deepEqual(policy.process, audited.process);
  assert.deepEqual(policy.files, audited.files);
  assert.deepEqual(policy.runner, audited.runner);
  assert.equal(policy.network.loopback, "deny");
  assert.equal(policy.network.dns.queries, "any");
  assert.deepEqual(policy.network.allow.map((rule) => rule.text), [
    "127.0.0.1:8080",
  ]);
  assert.match(text, /^# Our CI policy\.$/m);
  assert.match(text, /processes: \[Runner\.Worker\] # the runner/);
  assert.match(
    text,
    /^process:\n {2}deny: \["\/usr\/bin\/nc"\]\n {2}action: kill$/m,
  );
});

Deno.test("suggest: nothing used leaves an empty allow-list with the notes above it", () => {
  const text = suggestPolicy([bare(1, "198.51.100.7", 80, undefined, "deny")], {
    text: "version: 1\nmode: audit\n",
    name: "audit.yaml",
  });
  const policy = parsePolicy(text, "suggested.yaml");
  assert.deepEqual(policy.network.allow, []);
  assert.match(text, /# - 198\.51\.100\.7:80: refused/);
});
