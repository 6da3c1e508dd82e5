/**
 * Compiles `network.allow` into longest-prefix-match entries: per address
 * family, a list of prefixes and the ports each allows, such that the
 * longest prefix containing an address answers for it, as a lookup in an
 * LPM trie does. sensors/network_maps.ts writes them into the kernel's.
 *
 * @module
 */

import { formatRange, maskAddress } from "./address.ts";
import type {
  AllowRule,
  CidrRule,
  DomainRule,
  NetworkPolicy,
} from "./schema.ts";

/**
 * How many distinct ports one prefix may allow: what one entry of the
 * sensor's trie holds (agent/network_policy_test.ts checks they agree).
 */
export const MAX_PORTS_PER_PREFIX = 8;

/** One longest-prefix-match entry. */
export interface LpmEntry {
  /** Significant leading bits of `address`. */
  prefixLength: number;
  /** 4 or 16 bytes in network order, host bits zeroed. */
  address: Uint8Array;
  /** Allowed destination ports, ascending; empty means any port. */
  ports: number[];
}

/** The entries per family, plus the domain rules DNS answers are judged by. */
export interface CompiledAllowList {
  /** Entries for the IPv4 trie, shortest prefix first. */
  v4: LpmEntry[];
  /** Entries for the IPv6 trie, shortest prefix first. */
  v6: LpmEntry[];
  /** Domain rules without duplicates, in policy order. */
  domains: DomainRule[];
}

/** Compiling failed because of `rule` (e.g. too many ports on a prefix). */
export class AllowListError extends Error {
  /** The rule to point the user at. */
  readonly rule: AllowRule;

  /** An error about `rule`, which callers locate in the policy. */
  constructor(message: string, rule: AllowRule) {
    super(message);
    this.name = "AllowListError";
    this.rule = rule;
  }
}

/**
 * Loopback, which every policy allows: CI jobs talk to local services
 * (databases, docker's proxy) all the time, and it never leaves the host.
 */
export const LOOPBACK_RULES: readonly CidrRule[] = Object.freeze([
  {
    kind: "cidr",
    family: 4,
    address: new Uint8Array([127, 0, 0, 0]),
    prefixLength: 8,
    port: null,
    text: "127.0.0.0/8",
  },
  {
    kind: "cidr",
    family: 6,
    address: new Uint8Array([...Array(15).fill(0), 1]),
    prefixLength: 128,
    port: null,
    text: "::1",
  },
]);

/**
 * Turns the allow rules (plus {@link LOOPBACK_RULES} unless `loopback` is
 * "deny") into trie entries.
 *
 * A trie lookup returns only the longest matching prefix, so each entry
 * also carries the ports of every shorter prefix that covers it; otherwise
 * `10.1.2.3:53` would hide `10.0.0.0/8` for 10.1.2.3:443. Rules on the same
 * prefix merge, any-port wins, and entries that would answer exactly like
 * the prefix covering them are dropped.
 *
 * @throws {AllowListError} when a prefix ends up with more than
 *   {@link MAX_PORTS_PER_PREFIX} distinct ports.
 */
export function compileAllowList(policy: NetworkPolicy): CompiledAllowList {
  const cidrs = [
    ...policy.allow.filter((rule) => rule.kind === "cidr"),
    ...(policy.loopback === "deny" ? [] : LOOPBACK_RULES),
  ];
  return {
    v4: compileFamily(cidrs.filter((rule) => rule.family === 4)),
    v6: compileFamily(cidrs.filter((rule) => rule.family === 6)),
    domains: dedupeDomains(
      policy.allow.filter((rule) => rule.kind === "domain"),
    ),
  };
}

interface Group {
  prefixLength: number;
  address: Uint8Array;
  rules: CidrRule[];
  any: boolean;
  ports: Set<number>;
}

function compileFamily(rules: CidrRule[]): LpmEntry[] {
  const groups = new Map<string, Group>();
  for (const rule of rules) {
    const key = `${rule.prefixLength}/${rule.address.join(",")}`;
    let group = groups.get(key);
    if (!group) {
      group = {
        prefixLength: rule.prefixLength,
        address: rule.address,
        rules: [],
        any: false,
        ports: new Set(),
      };
      groups.set(key, group);
    }
    group.rules.push(rule);
    if (rule.port === null) group.any = true;
    else group.ports.add(rule.port);
  }
  const sorted = [...groups.values()].sort(compareGroups);
  // The prefixes that may cover a group are its own address cut at each
  // shorter length in use: a lookup per length keeps the compile linear in
  // the rules, where a scan of every group would make it quadratic.
  const lengths = [...new Set(sorted.map((group) => group.prefixLength))];
  const finals = new Map<Group, { any: boolean; ports: number[] }>();
  const entries: LpmEntry[] = [];
  for (const group of sorted) {
    const covering: Group[] = [];
    for (const length of lengths) {
      if (length >= group.prefixLength) break;
      const masked = maskAddress(group.address, length);
      const outer = groups.get(`${length}/${masked.join(",")}`);
      if (outer) covering.push(outer);
    }
    const any = group.any || covering.some((other) => other.any);
    const portSet = new Set(group.ports);
    for (const other of covering) other.ports.forEach((p) => portSet.add(p));
    const ports = any ? [] : [...portSet].sort((a, b) => a - b);
    if (ports.length > MAX_PORTS_PER_PREFIX) {
      throw tooManyPorts(group, covering, ports, rules);
    }
    finals.set(group, { any, ports });
    const parent = covering.at(-1);
    if (parent && sameAnswer(finals.get(parent)!, { any, ports })) continue;
    entries.push({
      prefixLength: group.prefixLength,
      address: group.address,
      ports,
    });
  }
  return entries;
}

function compareGroups(a: Group, b: Group): number {
  if (a.prefixLength !== b.prefixLength) return a.prefixLength - b.prefixLength;
  for (let i = 0; i < a.address.length; i++) {
    if (a.address[i] !== b.address[i]) return a.address[i] - b.address[i];
  }
  return 0;
}

function sameAnswer(
  a: { any: boolean; ports: number[] },
  b: { any: boolean; ports: number[] },
): boolean {
  return a.any === b.any && a.ports.length === b.ports.length &&
    a.ports.every((port, i) => port === b.ports[i]);
}

function tooManyPorts(
  group: Group,
  covering: Group[],
  ports: number[],
  rules: CidrRule[],
): AllowListError {
  const family = group.address.length === 4 ? 4 : 6;
  const prefix = formatRange(family, group.address, group.prefixLength);
  const involved = [group, ...covering].flatMap((g) => g.rules);
  // Blame the rule that came last in the policy: the one that tipped it over.
  const culprit = involved.reduce((a, b) =>
    rules.indexOf(a) > rules.indexOf(b) ? a : b
  );
  const whose = covering.length > 0
    ? "its rules and those of the ranges covering it"
    : "its rules";
  return new AllowListError(
    `too many ports for ${prefix}: ${whose} allow ${ports.length} ` +
      `(${ports.join(", ")}), but one map entry holds at most ` +
      `${MAX_PORTS_PER_PREFIX}`,
    culprit,
  );
}

function dedupeDomains(rules: DomainRule[]): DomainRule[] {
  // An any-port rule covers a port rule unless the port rule adds UDP.
  const anyPort = new Set(
    rules.filter((rule) => rule.port === null).map(domainKey),
  );
  const anyPortUdp = new Set(
    rules.filter((rule) => rule.port === null && rule.udp).map(domainKey),
  );
  const seen = new Set<string>();
  return rules.filter((rule) => {
    const key = domainKey(rule);
    const covering = rule.udp ? anyPortUdp : anyPort;
    if (rule.port !== null && covering.has(key)) return false;
    const full = `${key}:${rule.port ?? "any"}${rule.udp ? "/udp" : ""}`;
    if (seen.has(full)) return false;
    seen.add(full);
    return true;
  });
}

function domainKey(rule: DomainRule): string {
  return `${rule.wildcard ? "*." : ""}${rule.name}`;
}
