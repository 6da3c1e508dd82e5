import assert from "node:assert/strict";
import { loadPolicy, parsePolicy, PolicyError } from "./parse.ts";
import { parseAllowRule } from "./network.ts";
import {
  DEFAULT_BULK_DIRS,
  DEFAULT_PROCESSES,
  DEFAULT_RUNNER_ALLOW,
  DEFAULT_RUNNER_PROCESSES,
  type Policy,
} from "./schema.ts";

const FILE = "ci/policy.yaml";

/** Asserts that `text` fails with exactly `message` (file name prefixed). */
function rejects(text: string, message: string): PolicyError {
  let caught: unknown;
  try {
    parsePolicy(text, FILE);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof PolicyError, `expected a PolicyError: ${caught}`);
  assert.equal(caught.message, `${FILE}:${message}`);
  return caught;
}

const FULL = `# every field
version: 1
mode: block
scope:
  processes: [Runner.Worker, make]
  runner: { processes: [Runner.Worker], allow: ["10.9.0.0/16:443"] }
network:
  allow:
    - github.com:443
    - "*.githubusercontent.com"
    - 140.82.112.0/20
    - "[2606:50c0::]/32:443"
    - "::1"
  dns:
    resolvers: [system, 1.1.1.1, "[2606:4700:4700::1111]:5353"]
  action: kill
  loopback: deny
  privileged: { raw: allow, tun: allow, netfilter: deny }
runner: { sudo: deny, user: runner, memory: allow }
`;

Deno.test("parsePolicy() reads a policy that sets every field", () => {
  const expected: Policy = {
    version: 1,
    mode: "block",
    scope: {
      processes: ["Runner.Worker", "make"],
      runner: {
        processes: ["Runner.Worker"],
        allow: [{
          kind: "cidr",
          family: 4,
          address: new Uint8Array([10, 9, 0, 0]),
          prefixLength: 16,
          port: 443,
          text: "10.9.0.0/16:443",
        }],
      },
    },
    network: {
      allow: [
        {
          kind: "domain",
          name: "github.com",
          wildcard: false,
          port: 443,
          udp: false,
          text: "github.com:443",
        },
        {
          kind: "domain",
          name: "githubusercontent.com",
          wildcard: true,
          port: null,
          udp: false,
          text: "*.githubusercontent.com",
        },
        {
          kind: "cidr",
          family: 4,
          address: new Uint8Array([140, 82, 112, 0]),
          prefixLength: 20,
          port: null,
          text: "140.82.112.0/20",
        },
        {
          kind: "cidr",
          family: 6,
          address: new Uint8Array([0x26, 0x06, 0x50, 0xc0, ...zeros(12)]),
          prefixLength: 32,
          port: 443,
          text: "[2606:50c0::]/32:443",
        },
        {
          kind: "cidr",
          family: 6,
          address: new Uint8Array([...zeros(15), 1]),
          prefixLength: 128,
          port: null,
          text: "::1",
        },
      ],
      dns: {
        resolvers: [
          { kind: "system" },
          {
            kind: "address",
            family: 4,
            address: new Uint8Array([1, 1, 1, 1]),
            port: 53,
          },
          {
            kind: "address",
            family: 6,
            address: new Uint8Array([
              0x26,
              0x06,
              0x47,
              0x00,
              0x47,
              0x00,
              ...zeros(8),
              0x11,
              0x11,
            ]),
            port: 5353,
          },
        ],
        queries: "allowed-only",
      },
      action: "kill",
      loopback: "deny",
      privileged: {
        raw: "allow",
        packet: "deny",
        tun: "allow",
        netfilter: "deny",
      },
    },
    runner: { sudo: "deny", user: "runner", memory: "allow", bpf: "deny" },
    source: { file: FILE },
  };
  assert.deepEqual(parsePolicy(FULL, FILE), expected);
});

function zeros(n: number): number[] {
  return Array(n).fill(0);
}

Deno.test("parsePolicy() fills in every default for a bare version", () => {
  assert.deepEqual(parsePolicy("version: 1\n", FILE), {
    version: 1,
    mode: "audit",
    scope: {
      processes: ["Runner.Worker", "containerd", "dockerd"],
      runner: {
        processes: ["Runner.Worker"],
        allow: DEFAULT_RUNNER_ALLOW.map(parseAllowRule),
      },
    },
    network: {
      allow: [],
      dns: { resolvers: [{ kind: "system" }], queries: "allowed-only" },
      action: "deny",
      loopback: "allow",
      privileged: {
        raw: "deny",
        packet: "deny",
        tun: "deny",
        netfilter: "deny",
      },
    },
    runner: { sudo: "allow", memory: "deny", bpf: "deny" },
    source: { file: FILE },
  });
});

Deno.test("parsePolicy() defaults the parts of a section left out", () => {
  const policy = parsePolicy(
    "version: 1\nscope: {}\nnetwork:\n  allow: [example.com]\n  dns: {}\n",
    FILE,
  );
  assert.deepEqual(policy.scope.processes, [...DEFAULT_PROCESSES]);
  assert.deepEqual(policy.network.dns.resolvers, [{ kind: "system" }]);
  assert.equal(policy.network.action, "deny");
  assert.equal(policy.network.allow.length, 1);
});

Deno.test("parsePolicy() returns a fresh default process list each time", () => {
  const first = parsePolicy("version: 1\n", FILE);
  first.scope.processes.push("mutated");
  assert.deepEqual(parsePolicy("version: 1\n", FILE).scope.processes, [
    ...DEFAULT_PROCESSES,
  ]);
});

Deno.test("parsePolicy() drops duplicate processes and resolvers", () => {
  const policy = parsePolicy(
    `version: 1
scope:
  processes: [make, make, dockerd]
network:
  dns:
    resolvers: [system, 9.9.9.9, "9.9.9.9:53", system, "::ffff:9.9.9.9"]
`,
    FILE,
  );
  assert.deepEqual(policy.scope.processes, ["make", "dockerd"]);
  assert.deepEqual(policy.network.dns.resolvers, [
    { kind: "system" },
    {
      kind: "address",
      family: 4,
      address: new Uint8Array([9, 9, 9, 9]),
      port: 53,
    },
  ]);
});

Deno.test("parsePolicy() allows an empty resolver list", () => {
  const policy = parsePolicy(
    "version: 1\nnetwork:\n  dns:\n    resolvers: []\n",
    FILE,
  );
  assert.deepEqual(policy.network.dns.resolvers, []);
});

Deno.test("parsePolicy() follows YAML aliases", () => {
  const policy = parsePolicy(
    `version: 1
scope:
  processes: &names [make]
network:
  allow: *names
`,
    FILE,
  );
  assert.deepEqual(policy.scope.processes, ["make"]);
  assert.equal(policy.network.allow[0].text, "make");
});

Deno.test("parsePolicy() refuses a files pattern that could never match", () => {
  rejects(
    'version: 1\nfiles:\n  protect: ["/x/../x/f"]\n',
    '3:13: invalid "files.protect" entry "/x/../x/f": ".." segment: write ' +
      'the path without it (did you mean "/x/f"?)',
  );
});

Deno.test("parsePolicy() keeps an echoed value short", () => {
  const name = "x".repeat(100_000);
  let error: unknown;
  try {
    parsePolicy(`version: 1\nmode: ${name}\n`, FILE);
  } catch (caught) {
    error = caught;
  }
  assert.ok(error instanceof PolicyError);
  assert.ok(error.message.length < 500, `${error.message.length} characters`);
  assert.match(
    error.message,
    /^ci\/policy\.yaml:2:7: .*"x{77}…" \(100000 characters\)/,
  );
});

Deno.test("parsePolicy() resolves an alias to the last anchor before it", () => {
  const policy = parsePolicy(
    [
      "version: 1",
      "scope:",
      "  processes: [&p make, &p ninja]",
      "runner:",
      "  user: *p",
      "",
    ].join("\n"),
    FILE,
  );
  assert.equal(policy.runner.user, "ninja");
});

Deno.test("parsePolicy() refuses lists beyond the kernel's maps at the entry that does not fit", () => {
  const list = (key: string, items: string[]) =>
    `${key}:\n${items.map((item) => `  - ${item}`).join("\n")}\n`;
  const numbered = (count: number, make: (i: number) => string) =>
    Array.from({ length: count }, (_, i) => make(i));
  rejects(
    `version: 1\nscope:\n  processes: [${
      numbered(65, (i) => `p${i}`).join(", ")
    }]\n`,
    `3:${
      15 + numbered(64, (i) => `p${i}, `).join("").length
    }: "scope.processes" ` +
      "has more than 64 entries, the most the kernel's map holds",
  );
  rejects(
    "version: 1\nnetwork:\n  dns:\n    resolvers:\n" +
      numbered(65, (i) => `      - 10.0.${i}.1\n`).join(""),
    '69:9: "network.dns.resolvers" has more than 64 entries, the most ' +
      "the kernel's map holds",
  );
  rejects(
    "version: 1\nnetwork:\n" +
      list("  allow", numbered(4097, (i) => `d${i}.example.com:443`))
        .replaceAll("\n  - ", "\n    - "),
    '4100:7: "network.allow" has more than 4096 domain rules, the most ' +
      "the kernel's map holds",
  );
  rejects(
    "version: 1\nnetwork:\n" +
      list(
        "  allow",
        numbered(16384, (i) => `10.${i >> 8}.${i & 255}.0/24:443`),
      ).replaceAll("\n  - ", "\n    - "),
    '16387:7: "network.allow" needs 16385 IPv4 prefixes, more than the ' +
      "16384 the kernel's map holds",
  );
});

Deno.test("parsePolicy() refuses more than 1000 aliases", () => {
  rejects(
    "version: 1\nscope:\n  processes:\n    - &p make\n" +
      "    - *p\n".repeat(1001),
    "1005:7: more than 1000 aliases in one policy",
  );
});

Deno.test("parsePolicy() rejects an alias without an anchor", () => {
  rejects("version: 1\nmode: *strict\n", '2:7: alias "*strict" has no anchor');
});

Deno.test("parsePolicy() keeps messages on one line for names with newlines", () => {
  rejects(
    'version: 1\n"a\\nb": 1\n',
    '2:1: unknown key "a\\nb" in policy (expected one of: version, mode, scope, network, exporters, process, files, runner, dependencies)',
  );
});

Deno.test("parsePolicy() accepts a process name of exactly 15 bytes", () => {
  const policy = parsePolicy(
    "version: 1\nscope:\n  processes: [abcdefghijklmno]\n",
    FILE,
  );
  assert.deepEqual(policy.scope.processes, ["abcdefghijklmno"]);
});

Deno.test("parsePolicy() rejects a process name the kernel's comm cannot hold", () => {
  rejects(
    "version: 1\nscope:\n  processes:\n    - Runner.Worker\n    - abcdefghijklmnop\n",
    '5:7: process name "abcdefghijklmnop" is 16 bytes, but the kernel ' +
      "keeps only the first 15 of a command name (TASK_COMM_LEN 16), so it " +
      "would never match",
  );
  // Bytes, not characters: 8 × "é" is 16 bytes of UTF-8.
  rejects(
    "version: 1\nscope:\n  processes: [éééééééé]\n",
    '3:15: process name "éééééééé" is 16 bytes, but the kernel keeps only ' +
      "the first 15 of a command name (TASK_COMM_LEN 16), so it would never " +
      "match",
  );
});

Deno.test("parsePolicy() rejects an unknown key with its line and column", () => {
  const error = rejects(
    "version: 1\nmode: audit\nnetwrk:\n  allow: []\n",
    '3:1: unknown key "netwrk" in policy (expected one of: version, mode, scope, network, exporters, process, files, runner, dependencies)',
  );
  assert.equal(error.file, FILE);
  assert.equal(error.line, 3);
  assert.equal(error.column, 1);
});

Deno.test("parsePolicy() rejects unknown keys in nested sections", () => {
  rejects(
    "version: 1\nscope:\n  process: [make]\n",
    '3:3: unknown key "process" in "scope" (expected one of: processes, cgroups, runner)',
  );
  rejects(
    "version: 1\nnetwork:\n  allow: []\n  deny: []\n",
    '4:3: unknown key "deny" in "network" (expected one of: allow, dns, action, loopback, privileged)',
  );
  rejects(
    "version: 1\nnetwork:\n  dns:\n    servers: [system]\n",
    '4:5: unknown key "servers" in "network.dns" (expected one of: resolvers, queries)',
  );
  rejects(
    "version: 1\n1: x\n",
    '2:1: unknown key "1" in policy (expected one of: version, mode, scope, network, exporters, process, files, runner, dependencies)',
  );
});

Deno.test("parsePolicy() rejects a key that is not a string", () => {
  rejects("version: 1\n? [a]\n: 1\n", "2:3: keys in policy must be strings");
});

Deno.test("parsePolicy() rejects a missing version at 1:1", () => {
  rejects("# no version\nmode: audit\n", '1:1: missing required key "version"');
});

Deno.test("parsePolicy() reports an unknown key before a missing version", () => {
  rejects(
    "verison: 1\n",
    '1:1: unknown key "verison" in policy (expected one of: version, mode, scope, network, exporters, process, files, runner, dependencies)',
  );
});

Deno.test("parsePolicy() rejects any version but the integer 1", () => {
  rejects("version: 2\n", '1:10: "version" must be 1');
  rejects('version: "1"\n', '1:10: "version" must be 1');
  rejects("version: 1.0\n", '1:10: "version" must be 1');
  rejects("mode: audit\nversion:\n", '2:1: "version" must be 1');
});

Deno.test("parsePolicy() checks the version before unknown keys", () => {
  rejects("version: 2\nsandbox: {}\n", '1:10: "version" must be 1');
});

Deno.test("parsePolicy() rejects a mode that is not audit or block", () => {
  rejects(
    "version: 1\nmode: blok\n",
    '2:7: "mode" must be one of audit, block (got "blok")',
  );
  rejects(
    "version: 1\nmode: [audit]\n",
    '2:7: "mode" must be one of audit, block (got a list)',
  );
  rejects(
    "version: 1\nmode: true\n",
    '2:7: "mode" must be one of audit, block (got a boolean)',
  );
  rejects(
    "version: 1\nmode:\n",
    '2:1: "mode" must be one of audit, block (got an empty value)',
  );
});

Deno.test("parsePolicy() rejects an action that is not deny or kill", () => {
  rejects(
    "version: 1\nnetwork:\n  action: drop\n",
    '3:11: "network.action" must be one of deny, kill (got "drop")',
  );
  rejects(
    "version: 1\nnetwork:\n  action: 1\n",
    '3:11: "network.action" must be one of deny, kill (got a number)',
  );
});

Deno.test("parsePolicy() rejects a process list that is not a list of strings", () => {
  rejects(
    "version: 1\nscope:\n  processes: 5\n",
    '3:14: "scope.processes" must be a list of strings (got a number)',
  );
  rejects(
    "version: 1\nscope:\n  processes: make\n",
    '3:14: "scope.processes" must be a list of strings (got a string)',
  );
  rejects(
    "version: 1\nscope:\n  processes:\n    - make\n    - {name: x}\n",
    '5:7: "scope.processes" must be a list of strings (got a mapping)',
  );
  rejects(
    "version: 1\nscope:\n  processes: [make, 42]\n",
    '3:21: "scope.processes" must be a list of strings (got a number)',
  );
});

Deno.test("parsePolicy() rejects an empty process list or name", () => {
  rejects(
    "version: 1\nscope:\n  processes: []\n",
    '3:14: "scope.processes" must name at least one process',
  );
  rejects(
    'version: 1\nscope:\n  processes: [make, ""]\n',
    '3:21: "scope.processes" has an empty name',
  );
});

Deno.test("parsePolicy() rejects sections that are not mappings, at the key when empty", () => {
  rejects(
    "version: 1\nnetwork:\n",
    '2:1: "network" must be a mapping (got an empty value)',
  );
  rejects(
    "version: 1\nscope: [make]\n",
    '2:8: "scope" must be a mapping (got a list)',
  );
  rejects(
    "version: 1\nnetwork:\n  dns: system\n",
    '3:8: "network.dns" must be a mapping (got a string)',
  );
  rejects(
    "version: 1\nnetwork:\n  allow:\n",
    '3:3: "network.allow" must be a list of strings (got an empty value)',
  );
});

Deno.test("parsePolicy() rejects an empty document", () => {
  rejects("", "1:1: policy is empty");
  rejects("# only\n# comments\n", "1:1: policy is empty");
  rejects("---\n", "1:1: policy is empty");
});

Deno.test("parsePolicy() rejects a document that is not a mapping", () => {
  rejects("- version: 1\n", "1:1: the policy must be a mapping (got a list)");
  rejects(
    "\n\nversion 1\n",
    "3:1: the policy must be a mapping (got a string)",
  );
});

Deno.test("parsePolicy() reports the first YAML syntax error with its position", () => {
  rejects(
    "version: 1\nscope:\n  processes: [make\nmode: audit\n",
    "4:1: invalid YAML: Flow sequence in block collection must be " +
      "sufficiently indented and end with a ]",
  );
  rejects(
    "version: 1\nmode: 'audit\n",
    "3:1: invalid YAML: Missing closing 'quote",
  );
  rejects(
    "version: 1\n\tmode: audit\n",
    "2:1: invalid YAML: Tabs are not allowed as indentation",
  );
});

Deno.test("parsePolicy() rejects duplicate keys", () => {
  rejects(
    "version: 1\nmode: audit\nmode: block\n",
    '3:1: duplicate key "mode" in policy',
  );
  rejects(
    "version: 1\nnetwork:\n  allow: []\n  allow: [x]\n",
    '4:3: duplicate key "allow" in "network"',
  );
});

Deno.test("parsePolicy() rejects more than one document", () => {
  rejects(
    "version: 1\n---\nversion: 1\n",
    "2:1: invalid YAML: Source contains multiple documents; please use " +
      "YAML.parseAllDocuments()",
  );
});

Deno.test("parsePolicy() rejects an invalid allow rule at its list item", () => {
  rejects(
    "version: 1\nnetwork:\n  allow:\n    - github.com:443\n    - a.*.com\n",
    '5:7: invalid "network.allow" entry "a.*.com": a wildcard must be a ' +
      'single leading "*." followed by a domain, as in *.example.com',
  );
  rejects(
    'version: 1\nnetwork:\n  allow: [ok.com, "10.0.0.0/33"]\n',
    '3:19: invalid "network.allow" entry "10.0.0.0/33": invalid prefix ' +
      'length "/33" (expected 0-32)',
  );
  rejects(
    "version: 1\nnetwork:\n  allow:\n    - 443\n",
    '4:7: "network.allow" must be a list of strings (got a number)',
  );
  rejects(
    "version: 1\nnetwork:\n  allow:\n    -\n",
    '4:6: "network.allow" must be a list of strings (got an empty value)',
  );
});

Deno.test("parsePolicy() rejects an invalid resolver at its list item", () => {
  rejects(
    "version: 1\nnetwork:\n  dns:\n    resolvers: [system, dns.google]\n",
    '4:25: invalid "network.dns.resolvers" entry "dns.google": a resolver ' +
      'must be "system" or an IP address',
  );
  rejects(
    "version: 1\nnetwork:\n  dns:\n    resolvers: [10.0.0.0/8]\n",
    '4:17: invalid "network.dns.resolvers" entry "10.0.0.0/8": a resolver ' +
      "is a single address, not a range",
  );
});

Deno.test("parsePolicy() rejects a prefix with more ports than a map entry holds, at the rule that tipped it", () => {
  const ports = [22, 53, 80, 443, 3000, 5432, 6379, 8080];
  const items = ports.map((port) => `    - 10.0.0.0/8:${port}\n`).join("");
  rejects(
    `version: 1\nnetwork:\n  allow:\n${items}    - 10.1.2.3:9000\n`,
    "12:7: too many ports for 10.1.2.3/32: its rules and those of the " +
      "ranges covering it allow 9 (22, 53, 80, 443, 3000, 5432, 6379, 8080, " +
      "9000), but one map entry holds at most 8",
  );
  // Eight ports plus any-port on the same prefix is fine: any wins.
  const ok = parsePolicy(
    `version: 1\nnetwork:\n  allow:\n${items}    - 10.0.0.0/8\n`,
    FILE,
  );
  assert.equal(ok.network.allow.length, 9);
});

Deno.test("PolicyError is one line of file:line:column: problem", () => {
  const error = new PolicyError("a.yaml", 3, 7, "wrong");
  assert.equal(error.message, "a.yaml:3:7: wrong");
  assert.equal(error.name, "PolicyError");
  assert.ok(error instanceof Error);
  assert.deepEqual([error.file, error.line, error.column], ["a.yaml", 3, 7]);
});

Deno.test("loadPolicy() parses the shipped policy/default.yaml", async () => {
  const path = new URL("./default.yaml", import.meta.url).pathname;
  const policy = await loadPolicy(path);
  assert.equal(policy.version, 1);
  assert.equal(policy.mode, "audit");
  assert.deepEqual(policy.scope.processes, [
    "Runner.Worker",
    "containerd",
    "dockerd",
  ]);
  assert.deepEqual(policy.network.allow.map((rule) => rule.text), [
    "github.com:443",
    "*.githubusercontent.com",
    "*.npmjs.org",
    "registry.npmjs.org:443",
    "pypi.org:443",
    "files.pythonhosted.org:443",
    "*.docker.io",
    "deb.debian.org:80",
    "production.cloudflare.docker.com:443",
    "docker-images-prod.6aa30f8b08e16409b46e0173d6de2f56.r2.cloudflarestorage.com:443",
    "ghcr.io:443",
    "pkg-containers.githubusercontent.com:443",
    "mcr.microsoft.com:443",
    "*.data.mcr.microsoft.com:443",
    "quay.io:443",
    "*.quay.io:443",
  ]);
  assert.deepEqual(policy.scope.runner.processes, ["Runner.Worker"]);
  assert.deepEqual(
    policy.scope.runner.allow.map((rule) => rule.text),
    [...DEFAULT_RUNNER_ALLOW],
  );
  assert.deepEqual(policy.network.dns.resolvers, [{ kind: "system" }]);
  assert.equal(policy.network.action, "deny");
  assert.equal(policy.source.file, path);
});

Deno.test("loadPolicy() reports a file it cannot read without a position", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const missing = `${dir}/missing.yaml`;
    await assert.rejects(loadPolicy(missing), {
      name: "PolicyError",
      message: `${missing}: cannot read policy: no such file`,
      line: null,
      column: null,
    });
    await assert.rejects(loadPolicy(dir), {
      message: `${dir}: cannot read policy: is a directory`,
    });
    const binary = `${dir}/binary.yaml`;
    await Deno.writeFile(binary, new Uint8Array([0x76, 0xff, 0xfe]));
    await assert.rejects(loadPolicy(binary), {
      message: `${binary}: cannot read policy: not valid UTF-8`,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadPolicy() names the path in parse errors", async () => {
  const file = await Deno.makeTempFile({ suffix: ".yaml" });
  try {
    await Deno.writeTextFile(file, "version: 1\nmode: enforce\n");
    await assert.rejects(loadPolicy(file), {
      message:
        `${file}:2:7: "mode" must be one of audit, block (got "enforce")`,
      line: 2,
      column: 7,
    });
  } finally {
    await Deno.remove(file);
  }
});

Deno.test("parsePolicy() reads process.deny as full paths and **/names", () => {
  const policy = parsePolicy(
    'version: 1\nprocess:\n  deny: ["/usr/bin/nc", "**/xmrig", "/usr/bin/nc"]\n  action: audit\n',
    FILE,
  );
  assert.deepEqual(policy.process, {
    denyPaths: ["/usr/bin/nc"],
    denyNames: ["xmrig"],
    action: "audit",
  });
  assert.equal(parsePolicy("version: 1\n", FILE).process, undefined);
  assert.equal(
    parsePolicy("version: 1\nprocess: { deny: [] }\n", FILE).process?.action,
    "kill",
  );
});

Deno.test("parsePolicy() rejects process.deny patterns the kernel cannot match", () => {
  rejects(
    'version: 1\nprocess:\n  deny: ["/usr/*/nc"]\n',
    '3:10: "/usr/*/nc": process.deny takes a full path ("/usr/bin/nc") or "**/name" ("**/xmrig")',
  );
  rejects(
    'version: 1\nprocess:\n  deny: ["**/a-very-long-miner-name"]\n',
    '3:10: "**/a-very-long-miner-name": the kernel matches a name on the first 15 bytes of the command name, and "a-very-long-miner-name" is 22; give its full path instead',
  );
});

Deno.test("parsePolicy() reads files with ${VAR} expanded and globs checked", () => {
  Deno.env.set("RINGFENCE_TEST_WORKSPACE", "/work/space");
  try {
    const policy = parsePolicy(
      [
        "version: 1",
        "files:",
        '  watch: ["${RINGFENCE_TEST_WORKSPACE}/**", "${RINGFENCE_TEST_WORKSPACE}/**"]',
        '  protect: ["/etc/hosts", "**/.git/config"]',
        '  secrets: ["/home/*/.ssh/**", "**/.npmrc"]',
        "  action: audit",
        "  restore: true",
        "",
      ].join("\n"),
      FILE,
    );
    assert.deepEqual(policy.files, {
      watch: ["/work/space/**"],
      protect: ["/etc/hosts", "**/.git/config"],
      secrets: ["/home/*/.ssh/**", "**/.npmrc"],
      action: "audit",
      restore: true,
      detail: "summary",
      bulk: [...DEFAULT_BULK_DIRS],
    });
  } finally {
    Deno.env.delete("RINGFENCE_TEST_WORKSPACE");
  }
});

Deno.test("parsePolicy() defaults files.action to kill and leaves files out when absent", () => {
  const policy = parsePolicy('version: 1\nfiles:\n  watch: ["/w/**"]\n', FILE);
  assert.deepEqual(policy.files, {
    watch: ["/w/**"],
    protect: [],
    secrets: [],
    action: "kill",
    restore: false,
    detail: "summary",
    bulk: [...DEFAULT_BULK_DIRS],
  });
  assert.equal("files" in parsePolicy("version: 1\n", FILE), false);
});

Deno.test("parsePolicy() reads files.detail and files.bulk", () => {
  const policy = parsePolicy(
    'version: 1\nfiles:\n  watch: ["/w/**"]\n  detail: full\n  bulk: [node_modules, .venv, node_modules]\n',
    FILE,
  );
  assert.equal(policy.files?.detail, "full");
  assert.deepEqual(policy.files?.bulk, ["node_modules", ".venv"]);
  assert.deepEqual(
    parsePolicy("version: 1\nfiles:\n  bulk: []\n", FILE).files?.bulk,
    [],
  );
});

Deno.test("parsePolicy() rejects a bad files.detail or files.bulk at the value", () => {
  rejects(
    "version: 1\nfiles:\n  detail: some\n",
    '3:11: "files.detail" must be one of summary, full (got "some")',
  );
  rejects(
    "version: 1\nfiles:\n  bulk: node_modules\n",
    '3:9: "files.bulk" must be a list of strings (got a string)',
  );
  rejects(
    'version: 1\nfiles:\n  bulk: [target, "a/b"]\n',
    '3:18: invalid "files.bulk" entry "a/b": a directory name (one path segment, no glob), e.g. "node_modules"',
  );
  rejects(
    'version: 1\nfiles:\n  bulk: ["*"]\n',
    '3:10: invalid "files.bulk" entry "*": a directory name (one path segment, no glob), e.g. "node_modules"',
  );
  rejects(
    "version: 1\nfiles:\n  bulk: [..]\n",
    '3:10: invalid "files.bulk" entry "..": a directory name (one path segment, no glob), e.g. "node_modules"',
  );
});

Deno.test("parsePolicy() rejects an undefined variable in files at the variable", () => {
  Deno.env.delete("RINGFENCE_TEST_UNSET");
  rejects(
    'version: 1\nfiles:\n  watch: ["/a/**", "/b/${RINGFENCE_TEST_UNSET}/**"]\n',
    '3:24: "files.watch": environment variable RINGFENCE_TEST_UNSET is not set',
  );
});

Deno.test("parsePolicy() rejects invalid file globs and keys with positions", () => {
  rejects(
    'version: 1\nfiles:\n  protect: ["src/**"]\n',
    '3:13: invalid "files.protect" entry "src/**": a pattern starts with "/" or "**"',
  );
  rejects(
    'version: 1\nfiles:\n  secrets:\n    - "/a/b**"\n',
    '4:7: invalid "files.secrets" entry "/a/b**": "**" must be a whole path segment',
  );
  rejects(
    "version: 1\nfiles:\n  wach: []\n",
    '3:3: unknown key "wach" in "files" (expected one of: watch, protect, secrets, action, restore, detail, bulk)',
  );
  rejects(
    "version: 1\nfiles:\n  restore: yes please\n",
    '3:12: "files.restore" must be true or false (got a string)',
  );
  rejects(
    "version: 1\nfiles:\n  action: deny\n",
    '3:11: "files.action" must be one of kill, audit (got "deny")',
  );
});

Deno.test("parsePolicy() refuses more patterns than the kernel's maps hold", () => {
  const many = (count: number, make: (index: number) => string) =>
    Array.from({ length: count }, (_, index) => JSON.stringify(make(index)))
      .join(", ");
  assert.throws(
    () =>
      parsePolicy(
        `version: 1\nprocess:\n  deny: [${many(1025, (i) => `/bin/p${i}`)}]\n`,
        FILE,
      ),
    (error: Error) =>
      error instanceof PolicyError &&
      /^ci\/policy\.yaml:3:\d+: process\.deny: more than 1024 paths or names \(the kernel's map holds 1024\)$/
        .test(error.message),
  );
  rejects(
    `version: 1\nfiles:\n  watch: [${
      many(4000, (i) => `/w${i}/**`)
    }]\n  secrets: [${many(97, (i) => `**/s${i}`)}]\n`,
    `4:3: "files": more than 4096 patterns (the kernel's maps hold 4096)`,
  );
  parsePolicy(
    `version: 1\nfiles:\n  watch: [${many(4096, (i) => `/w${i}/**`)}]\n`,
    FILE,
  );
});

Deno.test("parsePolicy() reads network.dns.queries, allowed-only by default", () => {
  const parse = (dns: string) =>
    parsePolicy(`version: 1\nnetwork:\n  dns:\n${dns}`, FILE).network.dns
      .queries;
  assert.equal(parse("    resolvers: [system]\n"), "allowed-only");
  assert.equal(parse("    queries: any\n"), "any");
  assert.equal(parse("    queries: allowed-only\n"), "allowed-only");
  assert.throws(() => parse("    queries: some\n"), /network\.dns\.queries/);
});

Deno.test("parsePolicy() makes Runner.Worker the runner, for GitHub's hosts", () => {
  const policy = parsePolicy("version: 1\n", FILE);
  assert.deepEqual(policy.scope.runner.processes, [
    ...DEFAULT_RUNNER_PROCESSES,
  ]);
  assert.deepEqual(
    policy.scope.runner.allow.map((rule) => rule.text),
    [...DEFAULT_RUNNER_ALLOW],
  );
  // dockerd and containerd are roots whose connections network.allow judges.
  assert.ok(!policy.scope.runner.processes.includes("dockerd"));
});

Deno.test("parsePolicy() names no runner when scope.processes lists none", () => {
  const policy = parsePolicy(
    "version: 1\nscope:\n  processes: [dockerd]\n",
    FILE,
  );
  assert.deepEqual(policy.scope.runner.processes, []);
});

Deno.test("parsePolicy() rejects scope.runner entries it cannot apply", () => {
  rejects(
    "version: 1\nscope:\n  processes: [dockerd]\n  runner:\n    processes: [Runner.Worker]\n",
    '5:17: "scope.runner.processes": "Runner.Worker" is not in ' +
      '"scope.processes"; a runner is one of the scope roots',
  );
  rejects(
    "version: 1\nscope:\n  runner:\n    allow: [github.com:99999]\n",
    '4:13: invalid "scope.runner.allow" entry "github.com:99999": ' +
      'invalid port "99999" (expected 1-65535)',
  );
  rejects(
    "version: 1\nscope:\n  runner:\n    hosts: []\n",
    '4:5: unknown key "hosts" in "scope.runner" (expected one of: processes, allow)',
  );
});
