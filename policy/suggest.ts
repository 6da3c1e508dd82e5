/**
 * A block-mode policy from what an audit run did: it allows exactly the
 * destinations the run used. Pure: it reads plain data about the run
 * (report/ extracts it from a job report), and its output parses with
 * `parsePolicy()`.
 *
 * @module
 */

import { endpoint } from "./endpoint.ts";
import { PRIVILEGED_PRIMITIVES, type PrivilegedPrimitive } from "./schema.ts";

/** One destination the audited run used, with how the agent judged it. */
export interface UsedDestination {
  /** The sensor's event kind: `connect`, `send`, `dns`, ... */
  kind: string;
  /** The DNS name that led to the address, when known. */
  domain?: string;
  /** The address, as text. */
  address: string;
  /** 0 when the event carries none. */
  port: number;
  /** `allow`, `audit` or `deny`. */
  verdict: string;
  /** Why: `loopback`, `resolver`, `exempt_root`, a rule broken, ... */
  reason: string;
}

/** What a policy suggestion is made from. */
export interface AuditedRun {
  /** Every destination used. */
  destinations: readonly UsedDestination[];
  /** The process names seen becoming scope roots. */
  scopeRoots: readonly string[];
  /** Resolvers queried that the audited policy did not allow, as endpoints. */
  resolvers: readonly string[];
  /** Privileged primitives the run used (not those it was refused). */
  privileged?: readonly PrivilegedPrimitive[];
}

const LOOPBACK = /^(127\.|::1$)/;

/**
 * A block-mode policy that allows exactly the egress of the run: names
 * where a DNS question named the address (`*.parent` once 3 or more
 * subdomains of one parent were used), addresses otherwise. Loopback is
 * listed only when the audited policy did not allow it wholesale.
 */
export function suggestPolicy(run: AuditedRun): string {
  const used = run.destinations.filter((entry) =>
    (entry.kind === "connect" || entry.kind === "send") &&
    entry.reason !== "resolver" && entry.reason !== "exempt_root"
  );
  const loopbackWholesale = used.some((entry) => entry.reason === "loopback");
  const byName = new Map<string, Set<number | null>>();
  const byAddress = new Map<string, Set<number | null>>();
  const left = new Set<string>();
  for (const entry of used) {
    if (entry.reason === "loopback") continue;
    if (entry.verdict === "deny") {
      left.add(endpoint(entry.domain ?? entry.address, entry.port));
      continue;
    }
    const port = entry.port || null;
    if (entry.domain && !LOOPBACK.test(entry.address)) {
      const ports = byName.get(entry.domain) ?? new Set();
      ports.add(port);
      byName.set(entry.domain, ports);
    } else {
      const ports = byAddress.get(entry.address) ?? new Set();
      ports.add(port);
      byAddress.set(entry.address, ports);
    }
  }
  // Wildcards: 3+ distinct names directly under one parent (which itself
  // has at least two labels, so never "*.com").
  const children = new Map<string, string[]>();
  for (const name of byName.keys()) {
    const dot = name.indexOf(".");
    if (dot === -1) continue;
    const parent = name.slice(dot + 1);
    if (!parent.includes(".")) continue;
    children.set(parent, [...(children.get(parent) ?? []), name]);
  }
  const rules: string[] = [];
  const covered = new Set<string>();
  for (const [parent, names] of [...children].sort()) {
    if (names.length < 3) continue;
    const ports = new Set<number | null>();
    for (const name of names) {
      covered.add(name);
      for (const port of byName.get(name)!) ports.add(port);
    }
    rules.push(...withPorts(`*.${parent}`, ports));
  }
  for (const [name, ports] of [...byName].sort()) {
    if (!covered.has(name)) rules.push(...withPorts(name, ports));
  }
  for (const [address, ports] of [...byAddress].sort()) {
    rules.push(...withPorts(address, ports));
  }
  const out = [
    "# Suggested by `ringfence report --suggest-policy` from an audit run:",
    "# it allows exactly the destinations that run used. Review it, then",
    "# commit it and run in block mode.",
    ...(left.size
      ? [`# Blocked in that run and left out: ${[...left].sort().join(", ")}`]
      : []),
    "version: 1",
    "mode: block",
  ];
  if (run.scopeRoots.length) {
    out.push(
      "scope:",
      `  processes: [${run.scopeRoots.map(quote).join(", ")}]`,
    );
  }
  out.push("network:");
  out.push(rules.length ? "  allow:" : "  allow: []");
  for (const rule of rules) out.push(`    - ${quote(rule)}`);
  out.push("  dns:");
  out.push(
    `    resolvers: [${["system", ...run.resolvers].map(quote).join(", ")}]`,
  );
  out.push("  action: deny");
  out.push(`  loopback: ${loopbackWholesale ? "allow" : "deny"}`);
  const privileged = PRIVILEGED_PRIMITIVES.filter((name) =>
    run.privileged?.includes(name)
  );
  if (privileged.length) {
    out.push(
      "  # The run used these privileged primitives; each lets a process",
      "  # send what the allow-list never judges. Keep only what it needs.",
      "  privileged:",
      ...privileged.map((name) => `    ${name}: allow`),
    );
  }
  return out.join("\n") + "\n";
}

/** One rule per port; a rule without a port when any port was used raw. */
function withPorts(host: string, ports: Set<number | null>): string[] {
  if (ports.has(null)) return [endpoint(host, 0)];
  return [...ports].sort((a, b) => a! - b!).map((port) =>
    endpoint(host, port!)
  );
}

/** YAML plain scalars where safe; JSON (a YAML subset) strings otherwise. */
function quote(text: string): string {
  return /^[A-Za-z0-9_.:\/-]+$/.test(text) && !text.startsWith("[")
    ? text
    : JSON.stringify(text);
}
