/**
 * The job report: events in, markdown or JSON out, and a suggested
 * block-mode policy. Pure (no clock, no host, no I/O), so that a saved
 * event file and a live agent give the same report.
 *
 * Feed events with {@linkcode ReportBuilder.add} in order, then
 * {@linkcode ReportBuilder.build}; render with {@linkcode renderMarkdown};
 * {@linkcode suggestPolicy} turns a report into policy YAML.
 *
 * Domains: the kernel reports DNS questions, not answers. An egress
 * destination is named by the last A/AAAA question its process asked
 * before connecting (within 5 s), or by the TLS server name the sensor
 * read; an address once named keeps its name for later connections.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import {
  describeFileState,
  isCheckout,
  type ProtectedChange,
} from "../agent/tamper.ts";

/** Counters the events themselves do not carry. */
export interface ReportCounters {
  /** Records lost in the kernel (ring buffer full). */
  kernelDrops?: number;
  /** Events exporters could not deliver, by exporter. */
  exporterDrops?: Record<string, number>;
  /** Processes not tracked (scope map full). */
  scopeFull?: number;
  /** Protected files whose state changed while the agent ran. */
  protectedChanges?: ProtectedChange[];
}

/** One egress destination, aggregated. */
export interface EgressEntry {
  /** The DNS name that led to the address, when known. */
  domain?: string;
  address: string;
  port: number;
  protocol: string;
  kind: string;
  /** The executable (or comm). */
  process: string;
  /** The CI step's name, when known. */
  step?: string;
  verdict: string;
  reason: string;
  count: number;
}

/** A process killed by the agent. */
export interface KilledEntry {
  pid: number;
  process: string;
  step?: string;
  destination: string;
  time: string;
}

/** A node of the folded process tree. */
export interface TreeEntry {
  pid: number;
  comm: string;
  command?: string;
  step?: string;
  exit?: string;
  children: TreeEntry[];
}

/**
 * A file tampered with (a checked-out source changed by something else) or
 * a protected path written.
 */
export interface TamperEntry {
  path: string;
  kind: string;
  process: string;
  step?: string;
  verdict?: string;
  /** The checkout the change came after (agent/tamper.ts). */
  checkout?: string;
  count: number;
}

/** Changes under `files.watch`, by step. */
export interface WrittenEntry {
  /** The step's name; absent for processes outside any step. */
  step?: string;
  /** Changes (a rename counts once). */
  count: number;
  /** The first few paths changed, in order. */
  examples: string[];
}

/** A secret file read. */
export interface SecretReadEntry {
  path: string;
  process: string;
  step?: string;
  count: number;
}

/** The report as data (`--format json`). */
export interface Report {
  summary: {
    processes: number;
    events: number;
    blocked: number;
    wouldBlock: number;
    killed: number;
    kernelDrops: number;
    exporterDrops: Record<string, number>;
    scopeFull: number;
  };
  egress: EgressEntry[];
  killed: KilledEntry[];
  tampered: TamperEntry[];
  /** Protected files whose size, mtime or hash changed (live agent only). */
  protectedChanged: ProtectedChange[];
  /** Reads of `files.secrets`. */
  secretsRead: SecretReadEntry[];
  /** Changes under `files.watch` by anything but a checkout, to files no
   * tampering was reported for (build outputs and the like). */
  otherChanges: number;
  /** Every change under `files.watch`, by step. */
  written: WrittenEntry[];
  /** Scope roots seen becoming roots by name (start mode). */
  scopeRoots: string[];
  /** Resolvers queried that the policy did not allow. */
  resolversNotAllowed: string[];
  tree: TreeEntry[];
  /** Processes left out of `tree` beyond its size limit. */
  treeOmitted: number;
  /** Egress destinations (or events) left out beyond the limits. */
  egressOmitted: number;
}

const DNS_WINDOW_MS = 5_000;
const MAX_TREE = 500;
const MAX_EGRESS = 1_000;
/** Bounds that keep a daemon's builder from growing without end. */
const MAX_KEYS = 10_000;
const MAX_LIST = 1_000;
/** Paths shown per step under "Files written". */
const MAX_EXAMPLES = 5;

interface Node {
  pid: number;
  ppid: number;
  comm: string;
  argv?: string[];
  path?: string;
  step?: string;
  exitCode?: number;
  signal?: number;
  children: Node[];
  parent?: Node;
  /** Past the tree's MAX_TREE first entries for good: never shown. */
  dropped?: boolean;
}

/** An event of a sensor this module does not know the type of. */
interface LooseEvent {
  type: string;
  kind: string;
  comm: string;
  step?: { name: string; pid: number };
  [key: string]: unknown;
}

type AnyEvent = RingfenceEvent & {
  step?: { name: string; pid: number };
  [key: string]: unknown;
};

/** Accumulates events into a {@linkcode Report}; memory grows with distinct destinations and processes, not events. */
export class ReportBuilder {
  #events = 0;
  #blocked = 0;
  #wouldBlock = 0;
  /** Processes seen: one per fork, or per pid first seen while not live. */
  #processes = 0;
  readonly #egress = new Map<string, EgressEntry>();
  readonly #killed: KilledEntry[] = [];
  readonly #tampered = new Map<string, TamperEntry>();
  readonly #secrets = new Map<string, SecretReadEntry>();
  #otherChanges = 0;
  readonly #written = new Map<string, WrittenEntry>();
  readonly #roots = new Set<string>();
  readonly #resolvers = new Set<string>();
  /** pid → last A/AAAA question and when. */
  readonly #questions = new Map<number, { name: string; ms: number }>();
  /** address → the name it was first attributed to. */
  readonly #names = new Map<string, string>();
  readonly #live = new Map<number, Node>();
  /** The nodes that may still be shown, in order of creation. */
  #nodes: Node[] = [];
  #overflow = 0;

  /** Adds one event. Events must come in the order they happened. */
  add(input: RingfenceEvent): void {
    const event = input as AnyEvent;
    this.#events++;
    const node = this.#process(event);
    if (event.step && node) node.step = event.step.name;
    if (event.type === "network_event") this.#network(event, node);
    else if (event.type !== "process_event") {
      this.#other(event as unknown as LooseEvent);
    }
  }

  /** The report so far. */
  build(counters: ReportCounters = {}): Report {
    const order: Record<string, number> = { deny: 0, audit: 1, allow: 2 };
    const egress = [...this.#egress.values()].sort((a, b) =>
      (order[a.verdict] ?? 3) - (order[b.verdict] ?? 3) ||
      b.count - a.count ||
      (a.domain ?? a.address).localeCompare(b.domain ?? b.address) ||
      a.port - b.port || a.process.localeCompare(b.process)
    );
    const roots = this.#nodes.filter((node) => !node.parent);
    let budget = MAX_TREE;
    const fold = (node: Node): TreeEntry => {
      budget--;
      const entry: TreeEntry = {
        pid: node.pid,
        comm: node.comm,
        children: [],
      };
      if (node.argv?.length) entry.command = node.argv.join(" ");
      else if (node.path) entry.command = node.path;
      if (node.step) entry.step = node.step;
      if (node.signal) entry.exit = `signal ${node.signal}`;
      else if (node.exitCode !== undefined) {
        entry.exit = `exit ${node.exitCode}`;
      }
      for (const child of node.children) {
        if (budget <= 0) break;
        entry.children.push(fold(child));
      }
      return entry;
    };
    const tree: TreeEntry[] = [];
    for (const root of roots) {
      if (budget <= 0) break;
      tree.push(fold(root));
    }
    return {
      summary: {
        processes: this.#processes,
        events: this.#events,
        blocked: this.#blocked,
        wouldBlock: this.#wouldBlock,
        killed: this.#killed.length,
        kernelDrops: counters.kernelDrops ?? 0,
        exporterDrops: counters.exporterDrops ?? {},
        scopeFull: counters.scopeFull ?? 0,
      },
      egress: egress.slice(0, MAX_EGRESS),
      killed: this.#killed,
      tampered: [...this.#tampered.values()],
      protectedChanged: counters.protectedChanges ?? [],
      secretsRead: [...this.#secrets.values()],
      otherChanges: this.#otherChanges,
      written: [...this.#written.values()],
      scopeRoots: [...this.#roots].sort(),
      resolversNotAllowed: [...this.#resolvers].sort(),
      tree,
      treeOmitted: this.#processes - (MAX_TREE - budget),
      egressOmitted: Math.max(0, this.#egress.size - MAX_EGRESS) +
        this.#overflow,
    };
  }

  #process(event: AnyEvent): Node | undefined {
    let node = this.#live.get(event.pid);
    if (event.type !== "process_event") {
      return node ?? this.#newNode(event.pid, event.ppid, event.comm);
    }
    if (event.kind === "fork" || !node) {
      node = this.#newNode(event.pid, event.ppid, event.comm);
    }
    if (event.kind === "exec") {
      node.comm = event.comm;
      node.argv = event.argv;
      node.path = event.path;
      if (event.scope_root) this.#roots.add(event.comm);
    } else if (event.kind === "exit") {
      node.exitCode = event.exit_code;
      node.signal = event.signal;
      this.#live.delete(event.pid);
      this.#questions.delete(event.pid);
    }
    return node;
  }

  #newNode(pid: number, ppid: number, comm: string): Node {
    this.#processes++;
    const parent = this.#live.get(ppid);
    const node: Node = { pid, ppid, comm, children: [], parent };
    this.#live.set(pid, node);
    if (parent?.dropped) {
      // Its place in the tree comes after its parent's.
      node.dropped = true;
      return node;
    }
    parent?.children.push(node);
    this.#nodes.push(node);
    if (this.#nodes.length >= 2 * MAX_TREE) this.#prune();
    return node;
  }

  /**
   * Forgets the nodes past the first MAX_TREE of the tree's depth-first
   * order, which is all `build()` shows. New nodes only ever enter that
   * order after their parent, so a node's place in it only moves back: one
   * past the limit now is past it for good. Memory stays bounded however
   * many processes a job (or a daemon's weeks) runs.
   */
  #prune(): void {
    const kept = new Set<Node>();
    const stack = this.#nodes.filter((node) => !node.parent).reverse();
    while (stack.length && kept.size < MAX_TREE) {
      const node = stack.pop()!;
      kept.add(node);
      for (let index = node.children.length - 1; index >= 0; index--) {
        stack.push(node.children[index]);
      }
    }
    for (const node of this.#nodes) {
      if (kept.has(node)) {
        node.children = node.children.filter((child) => kept.has(child));
      } else {
        node.dropped = true;
        node.children = [];
      }
    }
    this.#nodes = this.#nodes.filter((node) => kept.has(node));
  }

  #network(event: AnyEvent & { type: "network_event" }, node?: Node): void {
    if (event.verdict === "deny") this.#blocked++;
    else if (event.verdict === "audit") this.#wouldBlock++;
    const ms = Date.parse(event.time);
    if (event.kind === "dns") {
      if (event.query && (event.qtype === "A" || event.qtype === "AAAA")) {
        this.#questions.set(event.pid, { name: event.query, ms });
      }
      if (
        event.reason === "dns_resolver_not_allowed" &&
        this.#resolvers.size < MAX_LIST
      ) {
        this.#resolvers.add(endpoint(event.daddr, event.dport));
      }
      // Questions to an allowed resolver are not egress of their own.
      if (event.verdict === "allow") return;
    }
    if (event.kind === "listen" || event.kind === "bind") return;
    let domain: string | undefined;
    if (event.kind === "dns") domain = event.query;
    else if (event.reason !== "resolver") {
      const question = this.#questions.get(event.pid);
      if (event.query) domain = event.query; // the TLS server name
      else if (
        question && ms - question.ms <= DNS_WINDOW_MS && ms >= question.ms - 1
      ) {
        domain = question.name;
      } else domain = this.#names.get(event.daddr);
      if (
        domain && this.#names.size < MAX_KEYS && !this.#names.has(event.daddr)
      ) {
        this.#names.set(event.daddr, domain);
      }
    }
    const process = event.exe ?? node?.path ?? event.comm;
    const step = event.step?.name;
    const key = [
      domain,
      event.daddr,
      event.dport,
      event.protocol,
      event.kind,
      process,
      step,
      event.verdict,
      event.reason,
    ].join("\0");
    const entry = this.#egress.get(key);
    if (entry) entry.count++;
    else if (this.#egress.size >= MAX_KEYS) this.#overflow++;
    else {
      const fresh: EgressEntry = {
        address: event.daddr,
        port: event.dport,
        protocol: event.protocol,
        kind: event.kind,
        process,
        verdict: event.verdict,
        reason: event.reason,
        count: 1,
      };
      if (domain) fresh.domain = domain;
      if (step) fresh.step = step;
      this.#egress.set(key, fresh);
    }
    if (event.killed && this.#killed.length < MAX_LIST) {
      this.#killed.push({
        pid: event.pid,
        process,
        step,
        destination: `${domain ? `${domain} ` : ""}${
          endpoint(event.daddr, event.dport)
        }`,
        time: event.time,
      });
    }
  }

  /** Events of other sensors: files, when reported. */
  #other(event: LooseEvent): void {
    if (event.type !== "file_system_event") return;
    const path = typeof event.path === "string" ? event.path : undefined;
    if (!path) return;
    const verdict = typeof event.verdict === "string"
      ? event.verdict
      : undefined;
    const process = (typeof event.exe === "string" ? event.exe : undefined) ??
      event.comm;
    const step = event.step?.name;
    if (verdict === "deny") this.#blocked++;
    else if (verdict === "audit") this.#wouldBlock++;
    if (event.kind === "read") {
      const key = [path, process, step].join("\0");
      const entry = this.#secrets.get(key);
      if (entry) entry.count++;
      else if (this.#secrets.size < MAX_LIST) {
        this.#secrets.set(key, { path, process, step, count: 1 });
      }
      return;
    }
    if (
      typeof event.reason === "string" && event.reason.startsWith("files.watch")
    ) {
      this.#write(
        step,
        typeof event.new_path === "string" ? event.new_path : path,
      );
    }
    const tampering = event.tamper === true || (verdict && verdict !== "allow");
    if (!tampering) {
      if (!isCheckout(event as unknown as FileSystemEvent)) {
        this.#otherChanges += typeof event.new_path === "string" ? 2 : 1;
      }
      return;
    }
    const shown = typeof event.new_path === "string"
      ? `${path} → ${event.new_path}`
      : path;
    const key = [shown, event.kind, process, verdict].join("\0");
    const entry = this.#tampered.get(key);
    if (entry) entry.count++;
    else if (this.#tampered.size < MAX_LIST) {
      const fresh: TamperEntry = {
        path: shown,
        kind: event.kind,
        process,
        step,
        verdict,
        count: 1,
      };
      if (typeof event.checked_out_by === "string") {
        fresh.checkout = event.checked_out_by;
      }
      this.#tampered.set(key, fresh);
    }
  }

  #write(step: string | undefined, path: string): void {
    const key = step ?? "";
    let entry = this.#written.get(key);
    if (!entry) {
      if (this.#written.size >= MAX_LIST) return;
      entry = step === undefined
        ? { count: 0, examples: [] }
        : { step, count: 0, examples: [] };
      this.#written.set(key, entry);
    }
    entry.count++;
    if (
      entry.examples.length < MAX_EXAMPLES && !entry.examples.includes(path)
    ) {
      entry.examples.push(path);
    }
  }
}

/** A report from a list of events. */
export function buildReport(
  events: Iterable<RingfenceEvent>,
  counters?: ReportCounters,
): Report {
  const builder = new ReportBuilder();
  for (const event of events) builder.add(event);
  return builder.build(counters);
}

/** `a.b.c.d:port`, `[v6]:port`, or the address alone for port 0. */
export function endpoint(address: string, port: number): string {
  const host = address.includes(":") ? `[${address}]` : address;
  return port ? `${host}:${port}` : host;
}

function cell(text: string | number | undefined): string {
  if (text === undefined || text === "") return "";
  return String(text).replace(/\|/g, "\\|").replace(/[\r\n]+/g, " ");
}

function code(text: string): string {
  return text ? `\`${text.replace(/`/g, "'")}\`` : "";
}

const VERDICT_TEXT: Record<string, string> = {
  deny: "⛔ blocked",
  audit: "⚠️ would block",
  allow: "✅ allowed",
};

/** The report as GitHub-flavoured markdown. */
export function renderMarkdown(report: Report, title = "ringfence"): string {
  const { summary } = report;
  const out: string[] = [`## ${title}`, ""];
  const facts = [
    `${summary.processes} processes`,
    `${summary.events} events`,
    `${summary.blocked} blocked`,
  ];
  if (summary.wouldBlock) facts.push(`${summary.wouldBlock} would be blocked`);
  facts.push(`${summary.killed} killed`);
  const exporterDrops = Object.values(summary.exporterDrops).reduce(
    (a, b) => a + b,
    0,
  );
  facts.push(`${summary.kernelDrops + exporterDrops} dropped`);
  out.push(facts.join(" · "), "");

  out.push("### Egress", "");
  if (report.egress.length === 0) out.push("No outbound connections.", "");
  else {
    out.push(
      "| verdict | domain | address | port | process | step | count |",
      "| --- | --- | --- | --- | --- | --- | ---: |",
    );
    for (const entry of report.egress) {
      out.push(
        `| ${VERDICT_TEXT[entry.verdict] ?? entry.verdict} | ${
          cell(entry.domain)
        } | ${cell(entry.address)} | ${entry.port || ""}${
          entry.protocol === "tcp" ? "" : `/${entry.protocol}`
        } | ${code(cell(entry.process))} | ${
          cell(entry.step)
        } | ${entry.count} |`,
      );
    }
    if (report.egressOmitted) {
      out.push("", `… and ${report.egressOmitted} more not listed.`);
    }
    out.push("");
  }

  if (report.killed.length) {
    out.push("### Processes killed", "");
    out.push("| pid | process | step | destination | time |");
    out.push("| ---: | --- | --- | --- | --- |");
    for (const entry of report.killed) {
      out.push(
        `| ${entry.pid} | ${code(cell(entry.process))} | ${
          cell(entry.step)
        } | ${cell(entry.destination)} | ${entry.time} |`,
      );
    }
    out.push("");
  }

  if (report.tampered.length) {
    out.push("### Files tampered", "");
    out.push(
      "| path | action | process | step | after checkout by | verdict | count |",
    );
    out.push("| --- | --- | --- | --- | --- | --- | ---: |");
    for (const entry of report.tampered) {
      out.push(
        `| ${code(cell(entry.path))} | ${cell(entry.kind)} | ${
          code(cell(entry.process))
        } | ${cell(entry.step)} | ${cell(entry.checkout)} | ${
          entry.verdict === "allow"
            ? "reported"
            : VERDICT_TEXT[entry.verdict ?? ""] ?? cell(entry.verdict)
        } | ${entry.count} |`,
      );
    }
    out.push("");
  }
  if (report.otherChanges) {
    out.push(
      `${report.otherChanges} other ${
        report.otherChanges === 1 ? "change" : "changes"
      } under \`files.watch\` (build outputs and the like; see the events).`,
      "",
    );
  }

  if (report.written.length) {
    const total = report.written.reduce((sum, entry) => sum + entry.count, 0);
    out.push(
      `<details><summary>Files written under <code>files.watch</code> (${total} ${
        total === 1 ? "change" : "changes"
      })</summary>`,
      "",
      "| step | changes | first paths |",
      "| --- | ---: | --- |",
    );
    for (const entry of report.written) {
      out.push(
        `| ${cell(entry.step) || "(no step)"} | ${entry.count} | ${
          entry.examples.map((path) => code(cell(path))).join("<br>")
        } |`,
      );
    }
    out.push("", "</details>", "");
  }

  if (report.protectedChanged.length) {
    out.push("### Protected files changed", "");
    out.push("| path | at start | at stop |");
    out.push("| --- | --- | --- |");
    for (const change of report.protectedChanged) {
      out.push(
        `| ${code(cell(change.path))} | ${
          cell(describeFileState(change.before))
        } | ${cell(describeFileState(change.after))} |`,
      );
    }
    out.push("");
  }

  if (report.secretsRead.length) {
    out.push("### Secrets read", "");
    out.push("| path | process | step | count |");
    out.push("| --- | --- | --- | ---: |");
    for (const entry of report.secretsRead) {
      out.push(
        `| ${code(cell(entry.path))} | ${code(cell(entry.process))} | ${
          cell(entry.step)
        } | ${entry.count} |`,
      );
    }
    out.push("");
  }

  if (report.resolversNotAllowed.length) {
    out.push(
      "### DNS resolvers not allowed",
      "",
      ...report.resolversNotAllowed.map((resolver) => `- ${resolver}`),
      "",
    );
  }

  const drops = Object.entries(summary.exporterDrops);
  if (summary.kernelDrops || drops.length || summary.scopeFull) {
    out.push("### Dropped", "");
    if (summary.kernelDrops) {
      out.push(
        `- ${summary.kernelDrops} records lost in the kernel (ring buffer full)`,
      );
    }
    if (summary.scopeFull) {
      out.push(`- ${summary.scopeFull} processes untracked (scope map full)`);
    }
    for (const [name, count] of drops) {
      out.push(`- ${count} events not delivered by the ${name} exporter`);
    }
    out.push("");
  }

  const lines: string[] = [];
  const walk = (entry: TreeEntry, depth: number) => {
    const parts = [`${"  ".repeat(depth)}${entry.pid} ${entry.comm}`];
    if (entry.command) parts.push(`— ${entry.command.slice(0, 200)}`);
    if (entry.exit && entry.exit !== "exit 0") parts.push(`(${entry.exit})`);
    if (entry.step && depth === 0) parts.push(`[step: ${entry.step}]`);
    lines.push(parts.join(" "));
    for (const child of entry.children) walk(child, depth + 1);
  };
  for (const root of report.tree) walk(root, 0);
  out.push(
    "<details><summary>Process tree (" +
      `${summary.processes} processes)</summary>`,
    "",
    "```",
    ...lines.map((line) => line.replace(/```/g, "'''")),
    ...(report.treeOmitted ? [`… ${report.treeOmitted} more`] : []),
    "```",
    "",
    "</details>",
    "",
  );
  return out.join("\n");
}

const LOOPBACK = /^(127\.|::1$)/;

/**
 * A block-mode policy that allows exactly the egress of the report: names
 * where a DNS question named the address (`*.parent` once 3 or more
 * subdomains of one parent were used), addresses otherwise. Loopback is
 * listed only when the audited policy did not allow it wholesale.
 */
export function suggestPolicy(report: Report): string {
  const used = report.egress.filter((entry) =>
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
  if (report.scopeRoots.length) {
    out.push(
      "scope:",
      `  processes: [${report.scopeRoots.map(quote).join(", ")}]`,
    );
  }
  out.push("network:");
  out.push(rules.length ? "  allow:" : "  allow: []");
  for (const rule of rules) out.push(`    - ${quote(rule)}`);
  out.push("  dns:");
  out.push(
    `    resolvers: [${
      ["system", ...report.resolversNotAllowed].map(quote).join(", ")
    }]`,
  );
  out.push("  action: deny");
  out.push(`  loopback: ${loopbackWholesale ? "allow" : "deny"}`);
  return out.join("\n") + "\n";
}

/** One rule per port; a rule without a port when any port was used raw. */
function withPorts(host: string, ports: Set<number | null>): string[] {
  if (ports.has(null)) return [bracket(host)];
  const target = bracket(host);
  return [...ports].sort((a, b) => a! - b!).map((port) => `${target}:${port}`);
}

function bracket(host: string): string {
  return host.includes(":") ? `[${host}]` : host;
}

function quote(text: string): string {
  return /^[A-Za-z0-9_.:\/-]+$/.test(text) && !text.startsWith("[")
    ? text
    : JSON.stringify(text);
}
