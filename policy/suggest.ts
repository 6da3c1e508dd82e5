/**
 * A block-mode policy from what an audit run did: it allows the
 * destinations the run used, each with a comment saying which steps,
 * processes and packages used it, and leaves out, as comments with the
 * reason, what should not be allowed by habit: destinations the policy
 * refused, addresses an install script reached by bare IP, the cloud
 * metadata service, and names only install scripts used. Everything else
 * of the audited policy (scope, process, files, loopback, its comments)
 * is kept as it was written. Pure: it reads plain data about the run
 * (report/ extracts it from events), and its output parses with
 * `parsePolicy()`.
 *
 * @module
 */

import { endpoint } from "./endpoint.ts";
import { PRIVILEGED_PRIMITIVES, type PrivilegedPrimitive } from "./schema.ts";
import { isMap, isSeq, parseDocument, Scalar, YAMLSeq } from "./yaml.ts";

/** One use of a destination in the audited run, with how it was judged. */
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
  /** The CI step, when known. */
  step?: string;
  /** The process (executable or command name), when known. */
  process?: string;
  /** The package whose install script made the use (`name@version
   * (script)`): set exactly when an install script did. */
  package?: string;
}

/** What a policy suggestion is made from. */
export interface AuditedRun {
  /** Every destination used. */
  destinations: readonly UsedDestination[];
  /** Resolvers queried that the audited policy did not allow, as endpoints. */
  resolvers: readonly string[];
  /** Privileged primitives the run used (not those it was refused). */
  privileged?: readonly PrivilegedPrimitive[];
}

/** The audited policy, as its author wrote it. */
export interface AuditedPolicy {
  /** Its YAML text. */
  text: string;
  /** What to call it in the header comment, e.g. its path. */
  name: string;
}

const LOOPBACK = /^(127\.|::1$)/;

/** Cloud metadata services: they hand out the runner's credentials. */
const METADATA_ADDRESSES = new Set(["169.254.169.254", "fd00:ec2::254"]);
const METADATA_NAMES = new Set(["metadata.google.internal"]);

/** Reasons that are the agent's own exemptions, not the job's egress. */
const NOT_EGRESS = new Set([
  "resolver",
  "exempt_root",
  "exempt_root_outside_list",
  "loopback",
]);

/** Names, steps, processes and packages shown per comment. */
const LIST_MAX = 5;

/** What the run did with one host (a name, or an address). */
interface HostUse {
  host: string;
  isName: boolean;
  ports: Set<number | null>;
  addresses: Set<string>;
  verdicts: Set<string>;
  refusals: Set<string>;
  steps: Set<string>;
  processes: Set<string>;
  packages: Set<string>;
  /** Uses outside any install script. */
  plain: number;
  /** Packages whose install script reached it by bare IP. */
  bareIpPackages: Set<string>;
}

/** Why a host is left out, or undefined when it is allowed. */
function leftOutBecause(use: HostUse): string | undefined {
  const metadata = METADATA_NAMES.has(use.host) ||
    [...use.addresses].some((address) => METADATA_ADDRESSES.has(address));
  if (metadata) {
    return "the cloud metadata service, which hands out the runner's credentials";
  }
  if (!use.verdicts.has("allow") && use.verdicts.has("deny")) {
    return `refused in the audited run (${
      [...use.refusals].sort().join(", ").replace(/_/g, " ")
    })`;
  }
  if (use.bareIpPackages.size) {
    return `reached by bare IP from the install script of ${
      list(use.bareIpPackages)
    }`;
  }
  if (use.isName && use.plain === 0) {
    return `used only by install scripts: ${list(use.packages)}`;
  }
  return undefined;
}

/** Who used it: `steps: …; processes: …; packages: …`. */
function usedBy(uses: readonly HostUse[]): string {
  const merge = (pick: (use: HostUse) => Set<string>) =>
    new Set(uses.flatMap((use) => [...pick(use)]));
  const parts: string[] = [];
  const steps = merge((use) => use.steps);
  const processes = merge((use) => use.processes);
  const packages = merge((use) => use.packages);
  if (steps.size) parts.push(`steps: ${list(steps)}`);
  if (processes.size) parts.push(`processes: ${list(processes)}`);
  if (packages.size) parts.push(`packages: ${list(packages)}`);
  return parts.join("; ") || "used (no step or process known)";
}

/** At most LIST_MAX entries, sorted, then how many more. */
function list(values: Iterable<string>): string {
  const sorted = [...new Set(values)].sort();
  const shown = sorted.slice(0, LIST_MAX).join(", ");
  return sorted.length > LIST_MAX
    ? `${shown} and ${sorted.length - LIST_MAX} more`
    : shown;
}

/** Groups the run's egress by host (a name where one led to it) and port. */
function hostsOf(run: AuditedRun): Map<string, HostUse> {
  const hosts = new Map<string, HostUse>();
  for (const entry of run.destinations) {
    if (entry.kind !== "connect" && entry.kind !== "send") continue;
    if (NOT_EGRESS.has(entry.reason)) continue;
    const isName = !!entry.domain && !LOOPBACK.test(entry.address);
    const host = isName ? entry.domain! : entry.address;
    // Judged per port: one port of a host can be refused, another used.
    const key = `${host}\0${entry.port}`;
    let use = hosts.get(key);
    if (!use) {
      use = {
        host,
        isName,
        ports: new Set(),
        addresses: new Set(),
        verdicts: new Set(),
        refusals: new Set(),
        steps: new Set(),
        processes: new Set(),
        packages: new Set(),
        plain: 0,
        bareIpPackages: new Set(),
      };
      hosts.set(key, use);
    }
    use.ports.add(entry.port || null);
    use.addresses.add(entry.address);
    use.verdicts.add(entry.verdict);
    if (entry.verdict === "deny") use.refusals.add(entry.reason);
    if (entry.step) use.steps.add(entry.step);
    if (entry.process) use.processes.add(entry.process);
    if (entry.package) {
      use.packages.add(entry.package);
      if (!entry.domain) use.bareIpPackages.add(entry.package);
    } else use.plain++;
  }
  return hosts;
}

/** An allow rule and the comment above it. */
interface Rule {
  rule: string;
  comment: string;
}

/**
 * The allow rules for the hosts kept: `*.parent` once 3 or more names
 * directly under one parent (itself of two labels or more, never `*.com`)
 * were used, one rule per port, a rule without a port when any use had
 * none.
 */
function rulesOf(kept: readonly HostUse[]): Rule[] {
  const names = kept.filter((use) => use.isName);
  const children = new Map<string, Map<string, HostUse[]>>();
  for (const use of names) {
    const dot = use.host.indexOf(".");
    if (dot === -1) continue;
    const parent = use.host.slice(dot + 1);
    if (!parent.includes(".")) continue;
    const under = children.get(parent) ?? new Map<string, HostUse[]>();
    under.set(use.host, [...(under.get(use.host) ?? []), use]);
    children.set(parent, under);
  }
  const rules: Rule[] = [];
  const covered = new Set<string>();
  for (
    const [parent, under] of [...children].sort(([a], [b]) => a < b ? -1 : 1)
  ) {
    if (under.size < 3) continue;
    const uses = [...under.values()].flat();
    const ports = new Set<number | null>();
    for (const use of uses) {
      covered.add(use.host);
      for (const port of use.ports) ports.add(port);
    }
    const comment = `${usedBy(uses)} (names: ${list(under.keys())})`;
    for (const rule of withPorts(`*.${parent}`, ports)) {
      rules.push({ rule, comment });
    }
  }
  const single = (use: HostUse) =>
    withPorts(use.host, use.ports).map((rule) => ({
      rule,
      comment: usedBy([use]),
    }));
  for (const use of [...names].sort(byHost)) {
    if (!covered.has(use.host)) rules.push(...single(use));
  }
  for (const use of kept.filter((use) => !use.isName).sort(byHost)) {
    rules.push(...single(use));
  }
  return rules;
}

function byHost(a: HostUse, b: HostUse): number {
  if (a.host !== b.host) return a.host < b.host ? -1 : 1;
  return ([...a.ports][0] ?? 0) - ([...b.ports][0] ?? 0);
}

/** One rule per port; a rule without a port when any port was used raw. */
function withPorts(host: string, ports: Set<number | null>): string[] {
  if (ports.has(null)) return [endpoint(host, 0)];
  return [...ports].sort((a, b) => a! - b!).map((port) =>
    endpoint(host, port!)
  );
}

/** A comment's text, one space after each `#`. */
function commentLines(lines: readonly string[]): string {
  return lines.map((line) => ` ${line}`).join("\n");
}

/** The scalars of a sequence node at `path`, or none. */
function scalarsAt(
  doc: ReturnType<typeof parseDocument>,
  path: readonly string[],
): string[] {
  const node = doc.getIn(path, true);
  if (!isSeq(node)) return [];
  return node.items.flatMap((item) =>
    item instanceof Scalar && item.value !== null ? [String(item.value)] : []
  );
}

/**
 * A block-mode policy that allows exactly the egress of the run, on the
 * audited policy: its other sections, settings and comments stay as they
 * were written; `mode` becomes block; `network.allow` becomes what the
 * run used (the audited entries it did not use are listed in a comment);
 * resolvers and privileged primitives the run used are added.
 */
export function suggestPolicy(
  run: AuditedRun,
  audited: AuditedPolicy,
): string {
  const hosts = [...hostsOf(run).values()];
  const kept: HostUse[] = [];
  const leftOut: string[] = [];
  for (const use of hosts.sort(byHost)) {
    const why = leftOutBecause(use);
    if (!why) {
      kept.push(use);
      continue;
    }
    for (const rule of withPorts(use.host, use.ports)) {
      leftOut.push(`- ${rule}: ${why}; ${usedBy([use])}`);
    }
  }
  const rules = rulesOf(kept);
  const doc = parseDocument(audited.text);
  const before = scalarsAt(doc, ["network", "allow"]);
  const suggested = new Set(rules.map((rule) => rule.rule));
  const unused = before.filter((rule) => !suggested.has(rule));

  doc.set("mode", "block");
  const allow = new YAMLSeq();
  for (const { rule, comment } of rules) {
    const item = new Scalar(rule);
    item.commentBefore = ` ${comment}`;
    allow.items.push(item);
  }
  const notes: string[] = [];
  if (leftOut.length) {
    notes.push("Left out (add one back only if the job needs it):", ...leftOut);
  }
  if (unused.length) {
    notes.push(
      `In ${audited.name} but not used in the audited run:`,
      ...unused.map((rule) => `- ${rule}`),
    );
  }
  if (notes.length && allow.items.length) allow.comment = commentLines(notes);
  allow.flow = !allow.items.length;
  if (!isMap(doc.get("network", true))) doc.set("network", doc.createNode({}));
  doc.setIn(["network", "allow"], allow);
  if (notes.length && !allow.items.length) {
    // An empty list has no line of its own for the notes: they go above.
    const network = doc.get("network", true);
    const pair = isMap(network)
      ? network.items.find((item) =>
        (item.key instanceof Scalar ? item.key.value : item.key) === "allow"
      )
      : undefined;
    if (pair) {
      const key = pair.key instanceof Scalar ? pair.key : new Scalar("allow");
      key.commentBefore = [key.commentBefore, commentLines(notes)]
        .filter(Boolean).join("\n");
      pair.key = key;
    }
  }

  const resolvers = scalarsAt(doc, ["network", "dns", "resolvers"]);
  const added = run.resolvers.filter((resolver) =>
    !resolvers.includes(resolver)
  );
  if (added.length) {
    doc.setIn(
      ["network", "dns", "resolvers"],
      doc.createNode(
        [...(resolvers.length ? resolvers : ["system"]), ...added],
        {
          flow: true,
        },
      ),
    );
  }
  const privileged = PRIVILEGED_PRIMITIVES.filter((name) =>
    run.privileged?.includes(name)
  );
  for (const name of privileged) {
    doc.setIn(["network", "privileged", name], "allow");
  }
  if (privileged.length) {
    const node = doc.getIn(["network", "privileged"], true);
    if (node && typeof node === "object" && "commentBefore" in node) {
      (node as { commentBefore?: string | null }).commentBefore = commentLines([
        "The run used these privileged primitives; each lets a process send",
        `what the allow-list never judges (${
          privileged.join(", ")
        }). Keep only what it needs.`,
      ]);
    }
  }

  const header = [
    "Suggested by `ringfence report --suggest-policy` from the events of a",
    `run under ${audited.name}.`,
    "It allows exactly the destinations that run used, each with who used",
    "it; what should not be allowed by habit is left out, with the reason.",
    "The rest is that policy's, as written. Review it, commit it, and run",
    "in block mode.",
  ];
  doc.commentBefore = [commentLines(header), doc.commentBefore]
    .filter(Boolean).join("\n\n");
  return doc.toString({ flowCollectionPadding: false, lineWidth: 0 });
}
