import assert from "node:assert/strict";
import {
  AllowListError,
  compileAllowList,
  type CompiledAllowList,
  formatRange,
  type LpmEntry,
  maskAddress,
  matchDomain,
  parseAddress,
  parseAllowRule,
  parseResolver,
} from "./network.ts";
import {
  type AllowRule,
  DENY_PRIVILEGED,
  type DomainRule,
  type NetworkPolicy,
} from "./schema.ts";
import { formatAddress } from "../sensors/address.ts";

function v6(text: string): Uint8Array {
  const parsed = parseAddress(text);
  assert.ok(parsed?.family === 6, `${text} is not IPv6`);
  return parsed.address;
}

function domain(text: string): DomainRule {
  const rule = parseAllowRule(text);
  assert.equal(rule.kind, "domain");
  return rule as DomainRule;
}

function reason(text: string): string {
  try {
    parseAllowRule(text);
  } catch (error) {
    return (error as Error).message;
  }
  assert.fail(`${text} was accepted`);
}

function compile(...texts: string[]): CompiledAllowList {
  const policy: NetworkPolicy = {
    allow: texts.map(parseAllowRule),
    dns: { resolvers: [{ kind: "system" }], queries: "allowed-only" },
    action: "deny",
    loopback: "allow",
    privileged: DENY_PRIVILEGED,
  };
  return compileAllowList(policy);
}

/** Entries as "address/prefix ports" lines, loopback left out. */
function show(entries: LpmEntry[], family: 4 | 6): string[] {
  return entries
    .map((e) =>
      `${formatRange(family, e.address, e.prefixLength)} ${
        e.ports.length ? e.ports.join(",") : "any"
      }`
    )
    .filter((line) => line !== "127.0.0.0/8 any" && line !== "::1/128 any");
}

// --- addresses -----------------------------------------------------------

Deno.test("parseAddress() reads IPv4 dotted quads", () => {
  assert.deepEqual(parseAddress("10.1.2.3"), {
    family: 4,
    address: new Uint8Array([10, 1, 2, 3]),
  });
  assert.deepEqual(parseAddress("0.0.0.0")?.address, new Uint8Array(4));
  assert.deepEqual(
    parseAddress("255.255.255.255")?.address,
    new Uint8Array([255, 255, 255, 255]),
  );
});

Deno.test("parseAddress() reads IPv6 in every RFC 4291 form", () => {
  const cases: [string, string][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["1::", "00010000000000000000000000000000"],
    ["2606:50c0::", "260650c0000000000000000000000000"],
    ["2001:DB8::A:1", "20010db80000000000000000000a0001"],
    ["1:2:3:4:5:6:7:8", "00010002000300040005000600070008"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["0:0:0:0:0:0:0:1", "00000000000000000000000000000001"],
    ["::ffff:1.2.3.4", "00000000000000000000ffff01020304"],
    ["64:ff9b::192.0.2.33", "0064ff9b0000000000000000c0000221"],
    ["1:2:3:4:5:6:1.2.3.4", "00010002000300040005000601020304"],
  ];
  for (const [text, hex] of cases) {
    const parsed = parseAddress(text);
    assert.equal(parsed?.family, 6, text);
    assert.equal(toHex(parsed.address), hex, text);
  }
});

function toHex(bytes: Uint8Array): string {
  return [...bytes].map((b) => b.toString(16).padStart(2, "0")).join("");
}

Deno.test("parseAddress() rejects anything but exactly one address", () => {
  for (
    const text of [
      "",
      "1.2.3",
      "1.2.3.4.5",
      "01.2.3.4",
      "1.2.3.04",
      "256.1.1.1",
      "1.2.3.-1",
      "1.2.3.4 ",
      " 1.2.3.4",
      "1.2.3.4/32",
      "0x1.2.3.4",
      "1..3.4",
      ":",
      ":::",
      "1::2::3",
      ":1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:",
      "1:2:3:4:5:6:7",
      "1:2:3:4:5:6:7:8:9",
      "1:2:3:4:5:6:7:8::",
      "::1:2:3:4:5:6:7:8",
      "12345::",
      "g::",
      "fe80::1%eth0",
      "[::1]",
      "::1.2.3.4:5",
      "1.2.3.4::",
      "::ffff:1.2.3",
      "::ffff:01.2.3.4",
      "1:2:3:4:5:6:7:1.2.3.4",
    ]
  ) {
    assert.equal(parseAddress(text), null, JSON.stringify(text));
  }
});

Deno.test("maskAddress() zeroes the host bits", () => {
  const bytes = new Uint8Array([10, 255, 255, 255]);
  assert.deepEqual(maskAddress(bytes, 12), new Uint8Array([10, 240, 0, 0]));
  assert.deepEqual(maskAddress(bytes, 0), new Uint8Array(4));
  assert.deepEqual(maskAddress(bytes, 32), bytes);
  assert.deepEqual(bytes, new Uint8Array([10, 255, 255, 255]), "not in place");
});

// --- allow rules ---------------------------------------------------------

Deno.test("parseAllowRule() reads a domain with and without a port", () => {
  assert.deepEqual(parseAllowRule("github.com:443"), {
    kind: "domain",
    name: "github.com",
    wildcard: false,
    port: 443,
    udp: false,
    text: "github.com:443",
  });
  assert.deepEqual(parseAllowRule("Example.COM."), {
    kind: "domain",
    name: "example.com",
    wildcard: false,
    port: null,
    udp: false,
    text: "Example.COM.",
  });
  assert.equal(domain("localhost").name, "localhost");
  assert.equal(domain("_dmarc.x-y.example").name, "_dmarc.x-y.example");
  assert.equal(domain("0.example.com:65535").port, 65535);
  assert.equal(domain(`${"a".repeat(63)}.com`).name.length, 67);
});

Deno.test("parseAllowRule() reads a wildcard domain", () => {
  assert.deepEqual(parseAllowRule("*.githubusercontent.com"), {
    kind: "domain",
    name: "githubusercontent.com",
    wildcard: true,
    port: null,
    udp: false,
    text: "*.githubusercontent.com",
  });
  assert.equal(domain("*.npmjs.org:443").port, 443);
});

Deno.test("parseAllowRule() reads /udp on domain rules only", () => {
  assert.deepEqual(parseAllowRule("quic.example.com:443/udp"), {
    kind: "domain",
    name: "quic.example.com",
    wildcard: false,
    port: 443,
    udp: true,
    text: "quic.example.com:443/udp",
  });
  assert.equal(domain("*.example.com/udp").udp, true);
  assert.equal(domain("*.example.com/udp").port, null);
  assert.throws(() => parseAllowRule("10.1.2.3:53/udp"), /only a domain rule/);
  assert.throws(() => parseAllowRule("example.com:443/tcp"));
});

Deno.test("compileAllowList() keeps a /udp port rule beside an any-port one", () => {
  const names = (...texts: string[]) =>
    compileAllowList({
      allow: texts.map(parseAllowRule),
      dns: { resolvers: [], queries: "allowed-only" },
      action: "deny",
      loopback: "allow",
      privileged: DENY_PRIVILEGED,
    }).domains.map((rule) => rule.text);
  assert.deepEqual(names("a.test", "a.test:443/udp", "a.test:443"), [
    "a.test",
    "a.test:443/udp",
  ]);
  assert.deepEqual(names("a.test/udp", "a.test:443/udp"), ["a.test/udp"]);
});

Deno.test("parseAllowRule() reads IPv4 addresses and CIDRs", () => {
  assert.deepEqual(parseAllowRule("140.82.112.0/20"), {
    kind: "cidr",
    family: 4,
    address: new Uint8Array([140, 82, 112, 0]),
    prefixLength: 20,
    port: null,
    text: "140.82.112.0/20",
  });
  assert.deepEqual(parseAllowRule("10.1.2.3"), {
    kind: "cidr",
    family: 4,
    address: new Uint8Array([10, 1, 2, 3]),
    prefixLength: 32,
    port: null,
    text: "10.1.2.3",
  });
  const withPort = parseAllowRule("10.1.2.3:53");
  assert.equal(withPort.port, 53);
  assert.equal(withPort.kind === "cidr" && withPort.prefixLength, 32);
  const cidrPort = parseAllowRule("10.0.0.0/8:443");
  assert.equal(cidrPort.kind === "cidr" && cidrPort.prefixLength, 8);
  assert.equal(cidrPort.port, 443);
  const everything = parseAllowRule("0.0.0.0/0");
  assert.equal(everything.kind === "cidr" && everything.prefixLength, 0);
});

Deno.test("parseAllowRule() reads IPv6 addresses and CIDRs, bracketed before a port", () => {
  assert.deepEqual(parseAllowRule("[2606:50c0::]/32:443"), {
    kind: "cidr",
    family: 6,
    address: v6("2606:50c0::"),
    prefixLength: 32,
    port: 443,
    text: "[2606:50c0::]/32:443",
  });
  assert.deepEqual(parseAllowRule("::1"), {
    kind: "cidr",
    family: 6,
    address: v6("::1"),
    prefixLength: 128,
    port: null,
    text: "::1",
  });
  const bare = parseAllowRule("2606:50c0::/32");
  assert.equal(bare.kind === "cidr" && bare.prefixLength, 32);
  assert.equal(bare.port, null);
  const bracketed = parseAllowRule("[::1]:8080");
  assert.equal(bracketed.kind === "cidr" && bracketed.prefixLength, 128);
  assert.equal(bracketed.port, 8080);
  const noPort = parseAllowRule("[2001:db8::1]");
  assert.equal(noPort.kind === "cidr" && noPort.prefixLength, 128);
  // Without brackets the last group is part of the address, not a port.
  const ambiguous = parseAllowRule("::1:53");
  assert.equal(ambiguous.port, null);
  assert.equal(
    ambiguous.kind === "cidr" && formatAddress(6, ambiguous.address),
    "::1:53",
  );
});

Deno.test("parseAllowRule() zeroes host bits instead of rejecting them", () => {
  const v4 = parseAllowRule("10.1.2.3/8");
  assert.deepEqual(
    v4.kind === "cidr" && v4.address,
    new Uint8Array([10, 0, 0, 0]),
  );
  assert.equal(v4.text, "10.1.2.3/8");
  const v6Rule = parseAllowRule("[2606:50c0:ffff::1]/32:443");
  assert.equal(
    v6Rule.kind === "cidr" && formatAddress(6, v6Rule.address),
    "2606:50c0::",
  );
});

Deno.test("parseAllowRule() stores IPv4-mapped IPv6 as IPv4", () => {
  const cases: [string, string, number, number | null][] = [
    ["::ffff:1.2.3.4", "1.2.3.4", 32, null],
    ["::FFFF:0102:0304", "1.2.3.4", 32, null],
    ["[::ffff:1.2.3.4]:443", "1.2.3.4", 32, 443],
    ["::ffff:10.0.0.0/104", "10.0.0.0", 8, null],
    ["[::ffff:10.9.9.9]/104:22", "10.0.0.0", 8, 22],
    ["::ffff:0.0.0.0/96", "0.0.0.0", 0, null],
  ];
  for (const [text, address, prefixLength, port] of cases) {
    const rule = parseAllowRule(text);
    assert.ok(rule.kind === "cidr", text);
    assert.equal(rule.family, 4, text);
    assert.equal(formatAddress(4, rule.address), address, text);
    assert.equal(rule.prefixLength, prefixLength, text);
    assert.equal(rule.port, port, text);
  }
  // Shorter than /96 the range is not all IPv4-mapped, so it stays IPv6.
  const wide = parseAllowRule("::ffff:0.0.0.0/80");
  assert.ok(wide.kind === "cidr" && wide.family === 6);
  assert.equal(formatAddress(6, wide.address), "::");
});

Deno.test("parseAllowRule() rejects malformed wildcards", () => {
  const wildcard =
    'a wildcard must be a single leading "*." followed by a domain, as in *.example.com';
  for (
    const text of [
      "a.*.com",
      "*example.com",
      "*",
      "*.",
      "*.*.com",
      "**.com",
      "x*.com",
    ]
  ) {
    assert.equal(reason(text), wildcard, text);
  }
});

Deno.test("parseAllowRule() rejects invalid domain names", () => {
  const cases: [string, string][] = [
    ["", "empty entry"],
    ["exa mple.com", "contains whitespace"],
    ["a..com", "empty label in domain name"],
    [".example.com", "empty label in domain name"],
    ["example.com..", "empty label in domain name"],
    ["-bad.com", 'label "-bad" starts or ends with "-"'],
    ["bad-.com", 'label "bad-" starts or ends with "-"'],
    ["ex!.com", 'label "ex!" may only contain a-z, 0-9, "-" and "_"'],
    [
      "bücher.de",
      'label "bücher" may only contain a-z, 0-9, "-" and "_" (write internationalised names in their xn-- form)',
    ],
    [
      `${"a".repeat(64)}.com`,
      `label "${"a".repeat(64)}" is longer than 63 characters`,
    ],
    [
      Array(64).fill("abc").join("."),
      "domain name is 255 characters (at most 253)",
    ],
    [":443", "missing host"],
    ["example.com/24", 'invalid IP address "example.com"'],
  ];
  for (const [text, expected] of cases) {
    assert.equal(reason(text), expected, text);
  }
});

Deno.test("parseAllowRule() rejects invalid ports", () => {
  const cases: [string, string][] = [
    ["github.com:", 'missing port after ":"'],
    ["github.com:0", 'invalid port "0" (expected 1-65535)'],
    ["github.com:65536", 'invalid port "65536" (expected 1-65535)'],
    ["github.com:0443", 'invalid port "0443" (expected 1-65535)'],
    ["github.com:https", 'invalid port "https" (expected 1-65535)'],
    ["github.com:44.3", 'invalid port "44.3" (expected 1-65535)'],
    ["github.com:443/8", 'invalid port "443/8" (expected 1-65535)'],
    ["10.0.0.1:-1", 'invalid port "-1" (expected 1-65535)'],
    ["[::1]:", 'missing port after ":"'],
  ];
  for (const [text, expected] of cases) {
    assert.equal(reason(text), expected, text);
  }
});

Deno.test("parseAllowRule() rejects invalid addresses and CIDRs", () => {
  const cases: [string, string][] = [
    ["10.1.2.300", 'invalid IPv4 address "10.1.2.300"'],
    ["10.1.2", 'invalid IPv4 address "10.1.2"'],
    ["010.1.2.3", 'invalid IPv4 address "010.1.2.3"'],
    ["10.1.2.3.", 'invalid IPv4 address "10.1.2.3."'],
    ["443", 'invalid IPv4 address "443"'],
    ["10.0.0.0/33", 'invalid prefix length "/33" (expected 0-32)'],
    ["10.0.0.0/", 'invalid prefix length "/" (expected 0-32)'],
    ["10.0.0.0/08", 'invalid prefix length "/08" (expected 0-32)'],
    ["10.0.0.0/8/8", 'invalid prefix length "/8/8" (expected 0-32)'],
    ["10.0.0.0/-1", 'invalid prefix length "/-1" (expected 0-32)'],
    ["::/129", 'invalid prefix length "/129" (expected 0-128)'],
    ["[::]/129:443", 'invalid prefix length "/129" (expected 0-128)'],
    ["1::2::3", 'invalid IPv6 address "1::2::3"'],
    ["fe80::1%eth0", 'invalid IPv6 address "fe80::1%eth0"'],
    [
      "2606:50c0::/32:443",
      "an IPv6 address needs brackets before a port, as in [2001:db8::1]:443",
    ],
    ["[::1", 'missing "]"'],
    ["[]", "missing host"],
    ["[::1]443", 'unexpected "443" after "]"'],
    ["[1.2.3.4]:53", "brackets are only for IPv6 addresses"],
    ["[example.com]:53", 'invalid IPv6 address "example.com"'],
    [
      "[2606:50c0::/32]:443",
      "write the prefix after the brackets, as in [2001:db8::]/32:443",
    ],
  ];
  for (const [text, expected] of cases) {
    assert.equal(reason(text), expected, text);
  }
});

// --- resolvers -----------------------------------------------------------

Deno.test("parseResolver() reads system and addresses with an optional port", () => {
  assert.deepEqual(parseResolver("system"), { kind: "system" });
  assert.deepEqual(parseResolver("1.1.1.1"), {
    kind: "address",
    family: 4,
    address: new Uint8Array([1, 1, 1, 1]),
    port: 53,
  });
  assert.deepEqual(parseResolver("127.0.0.53:5353"), {
    kind: "address",
    family: 4,
    address: new Uint8Array([127, 0, 0, 53]),
    port: 5353,
  });
  assert.deepEqual(parseResolver("[2606:4700:4700::1111]:53"), {
    kind: "address",
    family: 6,
    address: v6("2606:4700:4700::1111"),
    port: 53,
  });
  assert.deepEqual(parseResolver("::1"), {
    kind: "address",
    family: 6,
    address: v6("::1"),
    port: 53,
  });
  assert.deepEqual(parseResolver("::ffff:8.8.8.8"), {
    kind: "address",
    family: 4,
    address: new Uint8Array([8, 8, 8, 8]),
    port: 53,
  });
});

Deno.test("parseResolver() rejects names, ranges and bad ports", () => {
  const cases: [string, string][] = [
    ["System", 'a resolver must be "system" or an IP address'],
    ["dns.google", 'a resolver must be "system" or an IP address'],
    ["10.0.0.0/8", "a resolver is a single address, not a range"],
    ["1.1.1.1:0", 'invalid port "0" (expected 1-65535)'],
    ["1.1.1.256", 'invalid IPv4 address "1.1.1.256"'],
    ["[2606:4700::1111]53", 'unexpected "53" after "]"'],
  ];
  for (const [text, expected] of cases) {
    let message = "";
    try {
      parseResolver(text);
    } catch (error) {
      message = (error as Error).message;
    }
    assert.equal(message, expected, text);
  }
});

// --- matchDomain ---------------------------------------------------------

Deno.test("matchDomain() matches a wildcard at any depth but not the bare domain", () => {
  const rule = domain("*.example.com");
  assert.equal(matchDomain(rule, "a.example.com"), true);
  assert.equal(matchDomain(rule, "a.b.example.com"), true);
  assert.equal(matchDomain(rule, "A.B.Example.COM."), true);
  assert.equal(matchDomain(rule, "example.com"), false);
  assert.equal(matchDomain(rule, "EXAMPLE.com."), false);
  assert.equal(matchDomain(rule, "badexample.com"), false);
  assert.equal(matchDomain(rule, "example.com.evil.net"), false);
  assert.equal(matchDomain(rule, ".example.com"), false);
});

Deno.test("matchDomain() matches an exact domain ignoring case and a trailing dot", () => {
  const rule = domain("example.com");
  assert.equal(matchDomain(rule, "example.com"), true);
  assert.equal(matchDomain(rule, "EXAMPLE.com."), true);
  assert.equal(matchDomain(rule, "a.example.com"), false);
  assert.equal(matchDomain(rule, "example.co"), false);
  assert.equal(matchDomain(domain("Example.COM.:443"), "example.com"), true);
});

// --- compiling -----------------------------------------------------------

Deno.test("compileAllowList() always allows loopback", () => {
  const { v4, v6: six, domains } = compile();
  assert.deepEqual(v4, [{
    prefixLength: 8,
    address: new Uint8Array([127, 0, 0, 0]),
    ports: [],
  }]);
  assert.deepEqual(six, [{ prefixLength: 128, address: v6("::1"), ports: [] }]);
  assert.deepEqual(domains, []);
  // A port-limited loopback rule adds nothing: loopback is any port already.
  assert.deepEqual(compile("127.0.0.1:8080").v4, v4);
});

Deno.test("compileAllowList() leaves loopback out when the policy denies it", () => {
  const compiled = compileAllowList({
    allow: [parseAllowRule("127.0.0.1:8080")],
    dns: { resolvers: [], queries: "allowed-only" },
    action: "deny",
    loopback: "deny",
    privileged: DENY_PRIVILEGED,
  });
  assert.deepEqual(compiled.v4, [{
    prefixLength: 32,
    address: new Uint8Array([127, 0, 0, 1]),
    ports: [8080],
  }]);
  assert.deepEqual(compiled.v6, []);
});

Deno.test("compileAllowList() splits families and collapses duplicates", () => {
  const { v4, v6: six } = compile(
    "10.0.0.0/8",
    "10.1.2.3/8",
    "::ffff:10.0.0.0/104",
    "[2606:50c0::]/32:443",
    "2606:50c0::/32",
  );
  assert.deepEqual(show(v4, 4), ["10.0.0.0/8 any"]);
  assert.deepEqual(show(six, 6), ["2606:50c0::/32 any"]);
});

Deno.test("compileAllowList() merges the ports of rules on one prefix", () => {
  const { v4 } = compile(
    "10.1.2.3:443",
    "10.1.2.3:53",
    "10.1.2.3:443",
    "10.9.0.0/16:22",
  );
  assert.deepEqual(show(v4, 4), ["10.9.0.0/16 22", "10.1.2.3/32 53,443"]);
});

Deno.test("compileAllowList() lets a rule without a port allow any port", () => {
  const { v4 } = compile("10.1.2.3:443", "10.1.2.3", "10.1.2.3:53");
  assert.deepEqual(show(v4, 4), ["10.1.2.3/32 any"]);
});

Deno.test("compileAllowList() gives a longer prefix the ports of the ranges covering it", () => {
  // A trie lookup for 10.1.2.3 returns only the /32, which must not lose
  // the /8's port 22.
  const { v4 } = compile(
    "10.0.0.0/8:22",
    "10.1.0.0/16:80",
    "10.1.2.3:53",
    "11.0.0.0/8:1",
  );
  assert.deepEqual(show(v4, 4), [
    "10.0.0.0/8 22",
    "11.0.0.0/8 1",
    "10.1.0.0/16 22,80",
    "10.1.2.3/32 22,53,80",
  ]);
});

Deno.test("compileAllowList() drops entries a covering range already answers", () => {
  const { v4, v6: six } = compile(
    "10.0.0.0/8",
    "10.1.2.3:443",
    "10.20.0.0/16:22",
    "10.20.1.0/24:22",
    "[2001:db8::]/32:443",
    "[2001:db8::1]:443",
  );
  assert.deepEqual(show(v4, 4), ["10.0.0.0/8 any"]);
  assert.deepEqual(show(six, 6), ["2001:db8::/32 443"]);
});

Deno.test("compileAllowList() rejects more than 8 ports on one prefix, naming it", () => {
  const texts = [1, 2, 3, 4, 5, 6, 7, 8, 9].map((p) => `10.0.0.0/8:${p}`);
  let caught: unknown;
  try {
    compile(...texts);
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof AllowListError);
  assert.equal(
    caught.message,
    "too many ports for 10.0.0.0/8: its rules allow 9 (1, 2, 3, 4, 5, 6, 7, " +
      "8, 9), but one map entry holds at most 8",
  );
  assert.equal(caught.rule.text, "10.0.0.0/8:9");
  // Exactly eight fit.
  assert.deepEqual(show(compile(...texts.slice(0, 8)).v4, 4), [
    "10.0.0.0/8 1,2,3,4,5,6,7,8",
  ]);
});

Deno.test("compileAllowList() counts inherited ports against the limit", () => {
  const texts = [1, 2, 3, 4, 5, 6, 7, 8].map((p) => `[2001:db8::]/32:${p}`);
  assert.throws(() => compile(...texts, "[2001:db8::1]:9"), {
    name: "AllowListError",
    message: "too many ports for 2001:db8::1/128: its rules and those of the " +
      "ranges covering it allow 9 (1, 2, 3, 4, 5, 6, 7, 8, 9), but one map " +
      "entry holds at most 8",
  });
});

Deno.test("compileAllowList() keeps domain rules in order without duplicates", () => {
  const { domains } = compile(
    "github.com:443",
    "GitHub.com.:443",
    "*.npmjs.org:443",
    "*.npmjs.org",
    "npmjs.org:443",
    "github.com:22",
    "10.0.0.1",
  );
  assert.deepEqual(domains.map((rule: AllowRule) => rule.text), [
    "github.com:443",
    "*.npmjs.org",
    "npmjs.org:443",
    "github.com:22",
  ]);
});

Deno.test("compileAllowList() answers like the rules themselves for 2,000 random probes", () => {
  let seed = 7;
  const next = () =>
    (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 32;
  const lengths = [8, 12, 16, 20, 24, 28, 32];
  const ports = [null, 53, 443];
  const texts: string[] = [];
  for (let index = 0; index < 400; index++) {
    const length = lengths[Math.floor(next() * lengths.length)];
    const address = `10.${Math.floor(next() * 4)}.${Math.floor(next() * 4)}.${
      Math.floor(next() * 4)
    }`;
    const port = ports[Math.floor(next() * ports.length)];
    texts.push(`${address}/${length}${port === null ? "" : `:${port}`}`);
  }
  const rules = texts.map(parseAllowRule).filter((rule) =>
    rule.kind === "cidr"
  );
  const { v4 } = compile(...texts);
  const inPrefix = (address: Uint8Array, prefix: Uint8Array, length: number) =>
    maskAddress(address, length).every((byte, i) => byte === prefix[i]);
  for (let probe = 0; probe < 2000; probe++) {
    const address = new Uint8Array([
      10,
      Math.floor(next() * 4),
      Math.floor(next() * 4),
      Math.floor(next() * 4),
    ]);
    const port = [53, 443, 80][Math.floor(next() * 3)];
    const byRules = rules.some((rule) =>
      rule.kind === "cidr" &&
      inPrefix(address, rule.address, rule.prefixLength) &&
      (rule.port === null || rule.port === port)
    );
    // The kernel's LPM trie: the longest entry containing the address.
    const longest = v4.filter((entry) =>
      inPrefix(address, entry.address, entry.prefixLength)
    ).sort((a, b) => b.prefixLength - a.prefixLength)[0];
    const byTrie = longest !== undefined &&
      (longest.ports.length === 0 || longest.ports.includes(port));
    assert.equal(byTrie, byRules, `${address.join(".")}:${port}`);
  }
});
