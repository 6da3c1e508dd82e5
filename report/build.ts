/**
 * Builds the job report from events. Pure (no clock, no host, no I/O), so
 * that a saved event file and a live agent give the same report.
 *
 * Feed events with {@linkcode ReportBuilder.add} in order, then
 * {@linkcode ReportBuilder.build}.
 *
 * Domains: the kernel reports DNS questions, not answers. An egress
 * destination is named by the last A/AAAA question its process asked
 * before connecting (within 5 s), or by the TLS server name the sensor
 * read; an address once named keeps its name for later connections.
 *
 * @module
 */

import type { AgentEvent, RingfenceEvent } from "../sensors/events.ts";
import { SOURCE_FOUND_AT_STOP } from "../sensors/agent_event.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import type { FileSystemSummaryEvent } from "../sensors/file_system_summary.ts";
import { isCheckout } from "../agent/tamper.ts";
import { endpoint } from "../policy/endpoint.ts";
import type {
  AgentEntry,
  EgressEntry,
  Report,
  ReportCounters,
  SecretReadEntry,
  TamperEntry,
  WrittenEntry,
} from "./types.ts";
import { ReportTree, type TreeNode } from "./tree.ts";
import { RefusedQueries } from "./dns.ts";
import { describePrimitive, PrivilegedList } from "./privileged.ts";
import { SudoAttempts } from "./sudo.ts";
import { GuardList } from "./guard.ts";
import { IntegrityFindings } from "./integrity.ts";
import { FindingList } from "./protected_files.ts";
import { type KillableEvent, KillList, mayBeKill } from "./kills.ts";
import { describeDependency } from "./dependency.ts";
import { describeGuard } from "./guard.ts";
import type { GuardEvent } from "../sensors/guard_event.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import type { Dependency } from "../sensors/event.ts";
import { DestinationNames } from "./destination_names.ts";

/** Egress destinations listed. */
const MAX_EGRESS = 1_000;
/** Bounds that keep a daemon's builder from growing without end. */
const MAX_KEYS = 10_000;
const MAX_LIST = 1_000;
/** Paths shown per step under "Files written". */
const MAX_EXAMPLES = 5;

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

/**
 * Accumulates events into a {@linkcode Report}; memory grows with distinct
 * destinations and processes, not with events.
 */
export class ReportBuilder {
  #events = 0;
  #blocked = 0;
  #wouldBlock = 0;
  readonly #egress = new Map<string, EgressEntry>();
  readonly #refusedQueries = new RefusedQueries();
  readonly #kills = new KillList(MAX_LIST);
  readonly #privileged = new PrivilegedList(MAX_LIST);
  readonly #sudo = new SudoAttempts(MAX_LIST);
  readonly #guard = new GuardList(MAX_LIST);
  readonly #tampered = new Map<string, TamperEntry>();
  readonly #agent: AgentEntry[] = [];
  readonly #secrets = new Map<string, SecretReadEntry>();
  #otherChanges = 0;
  readonly #written = new Map<string, WrittenEntry>();
  readonly #roots = new Set<string>();
  readonly #resolvers = new Set<string>();
  readonly #names = new DestinationNames();
  readonly #tree = new ReportTree();
  readonly #integrity = new IntegrityFindings();
  readonly #findings = new FindingList();
  #overflow = 0;

  /** Adds one event. Events must come in the order they happened. */
  add(input: RingfenceEvent): void {
    // The agent's own findings: not a process of the job.
    if (input.type === "agent") {
      this.#events++;
      // A protected file's finding: listed with the protected files.
      if (input.kind === "file") {
        if (input.finding) this.#findings.add(input.finding);
        return;
      }
      if (input.kind === "source") {
        this.#source(input);
        return;
      }
      this.#agentEvent(input);
      this.#integrity.add(input);
      return;
    }
    // The agent's findings about protected files: a live report has them
    // from the agent (TamperReport.findings); one built from saved events
    // takes them from here. Not a process's event.
    if (input.type === "file_integrity") {
      this.#events++;
      const { writer, step } = input;
      this.#findings.add({
        path: input.path,
        kind: input.kind,
        time: input.time,
        ...(writer ? { pid: writer.pid, exe: writer.exe ?? writer.comm } : {}),
        ...(step ? { step: step.name } : {}),
        ...(input.other_path ? { other_path: input.other_path } : {}),
        repaired: input.repaired,
        ...(input.detail ? { detail: input.detail } : {}),
      });
      return;
    }
    const event = input as AnyEvent;
    this.#events++;
    const node = this.#process(event);
    if (event.step) node.step = event.step.name;
    if (
      event.type === "process_event" &&
      (event.kind === "exec" || event.kind === "exit")
    ) this.#sudo.add(event, node.step);
    if (event.type === "network_event") this.#network(event, node);
    else if (
      event.type === "process_event" &&
      (event.kind === "memory_access" || event.kind === "bpf" ||
        event.kind === "signal")
    ) {
      const process = node.path ?? event.comm;
      this.#guard.add(event, process, event.step?.name);
      this.#kill(event, node, process, guardWhy(event));
    } else if (event.type !== "process_event") {
      this.#other(event as unknown as LooseEvent, node);
    } else if (mayBeKill(event as KillableEvent)) {
      this.#kill(
        event,
        node,
        node.path ?? event.comm,
        processWhy(event as ProcessEvent),
      );
    }
  }

  /** Lists the event's process when it was (or would be) killed for it. */
  #kill(
    event: AnyEvent | LooseEvent,
    node: TreeNode,
    process: string,
    why: string,
    destination?: string,
  ): void {
    this.#kills.add(event as unknown as KillableEvent, node, {
      process,
      step: event.step?.name,
      package: describeDependency(event.dependency as Dependency | undefined),
      why,
      ...(destination ? { destination } : {}),
    });
  }

  /** Memory access and tampering events so far, and their callers killed. */
  get tampering(): { events: number; killed: number } {
    const events = this.#guard.entries().reduce(
      (sum, entry) => sum + entry.count,
      0,
    );
    return { events, killed: this.#guard.killed };
  }

  /** The report so far. */
  build(counters: ReportCounters = {}): Report {
    const order: Record<string, number> = { deny: 0, audit: 1, allow: 2 };
    // Grouped by domain (by address when unnamed): the groups with the
    // worst verdict first, then the busiest; within one, the same order.
    const groups = new Map<string, { rank: number; count: number }>();
    const groupOf = (entry: EgressEntry) => entry.domain ?? entry.address;
    for (const entry of this.#egress.values()) {
      const group = groups.get(groupOf(entry)) ?? { rank: 3, count: 0 };
      group.rank = Math.min(group.rank, order[entry.verdict] ?? 3);
      group.count += entry.count;
      groups.set(groupOf(entry), group);
    }
    const egress = [...this.#egress.values()].sort((a, b) => {
      const ga = groups.get(groupOf(a))!, gb = groups.get(groupOf(b))!;
      return ga.rank - gb.rank || gb.count - ga.count ||
        groupOf(a).localeCompare(groupOf(b)) ||
        (order[a.verdict] ?? 3) - (order[b.verdict] ?? 3) ||
        b.count - a.count || a.address.localeCompare(b.address) ||
        a.port - b.port || a.process.localeCompare(b.process);
    });
    const { tree, omitted } = this.#tree.fold();
    const dnsRefused = this.#refusedQueries.list();
    const killed = this.#kills.list(counters.header);
    const guard = this.#guard.entries();
    const findings = counters.fileFindings ?? this.#findings.list();
    const findingsOmitted = counters.fileFindings ? 0 : this.#findings.omitted;
    const wouldKill = killed.filter((entry) => entry.action === "audit")
      .length;
    return {
      ...(counters.header ? { header: counters.header } : {}),
      summary: {
        processes: this.#tree.processes,
        events: this.#events,
        blocked: this.#blocked,
        wouldBlock: this.#wouldBlock,
        killed: killed.length - wouldKill,
        ...(wouldKill ? { wouldKill } : {}),
        kernelDrops: counters.kernelDrops ?? 0,
        exporterDrops: counters.exporterDrops ?? {},
        scopeFull: counters.scopeFull ?? 0,
        ...(counters.agentCpu ? { agentCpu: counters.agentCpu } : {}),
      },
      egress: egress.slice(0, MAX_EGRESS),
      ...(dnsRefused.length ? { dnsRefused } : {}),
      ...(this.#agent.length ? { agent: [...this.#agent] } : {}),
      privileged: this.#privileged.entries(),
      ...(this.#sudo.entries().length ? { sudo: this.#sudo.entries() } : {}),
      ...(this.#sudo.omitted ? { sudoOmitted: this.#sudo.omitted } : {}),
      killed,
      ...(guard.length ? { guard } : {}),
      tampered: [...this.#tampered.values()],
      protectedChanged: counters.protectedChanges ?? [],
      ...(findings.length ? { protectedFiles: findings } : {}),
      ...(findingsOmitted ? { protectedFilesOmitted: findingsOmitted } : {}),
      secretsRead: [...this.#secrets.values()],
      otherChanges: this.#otherChanges,
      written: [...this.#written.values()],
      scopeRoots: [...this.#roots].sort(),
      resolversNotAllowed: [...this.#resolvers].sort(),
      tree,
      treeOmitted: omitted,
      egressOmitted: Math.max(0, this.#egress.size - MAX_EGRESS) +
        this.#overflow,
      ...(this.#refusedQueries.omitted
        ? { dnsRefusedOmitted: this.#refusedQueries.omitted }
        : {}),
      integrity: this.#integrity.build(counters.integrityReasons),
    };
  }

  /**
   * The event's process; records scope roots, and forgets an exited pid's
   * DNS question so that a reused pid does not inherit it.
   */
  #process(event: AnyEvent): TreeNode {
    const node = this.#tree.apply(event);
    if (event.type === "process_event") {
      if (event.kind === "exec" && event.scope_root) {
        this.#roots.add(event.comm);
      } else if (event.kind === "exit") this.#names.exited(event.pid);
    }
    return node;
  }

  #network(event: AnyEvent & { type: "network_event" }, node: TreeNode): void {
    if (event.verdict === "deny") this.#blocked++;
    else if (event.verdict === "audit") this.#wouldBlock++;
    const ms = Date.parse(event.time);
    const process = event.exe ?? node.path ?? event.comm;
    const step = event.step?.name;
    const pkg = describeDependency(event.dependency);
    if (event.kind === "dns") {
      // a refused question got no answer to connect to
      this.#names.question(event, ms);
      if (
        event.reason === "dns_resolver_not_allowed" &&
        this.#resolvers.size < MAX_LIST
      ) {
        this.#resolvers.add(endpoint(event.daddr, event.dport));
      }
      // Questions to an allowed resolver are not egress of their own.
      if (event.verdict === "allow") return;
      if (this.#refusedQueries.add(event, process, step, pkg)) {
        this.#kill(
          event,
          node,
          process,
          `network: DNS query for ${
            event.query ?? "an unreadable name"
          } (${event.reason})`,
        );
        return;
      }
    }
    if (event.kind === "listen" || event.kind === "bind") return;
    if (event.kind === "socket") {
      this.#socket(event, node);
      return;
    }
    const domain = event.kind === "dns"
      ? event.query
      : this.#names.nameOf(event, ms);
    const key = [
      domain,
      event.daddr,
      event.dport,
      event.protocol,
      event.kind,
      process,
      step,
      pkg,
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
      if (pkg) fresh.package = pkg;
      this.#egress.set(key, fresh);
    }
    const destination = `${domain ? `${domain} ` : ""}${
      endpoint(event.daddr, event.dport)
    }`;
    this.#kill(
      event,
      node,
      process,
      `network: ${destination} (${event.reason})`,
      destination,
    );
  }

  /** A privileged primitive asked for: listed apart from egress. */
  #socket(event: AnyEvent & { type: "network_event" }, node: TreeNode): void {
    const process = event.exe ?? node.path ?? event.comm;
    const step = event.step?.name;
    this.#privileged.add(event, process, step);
    const primitive = describePrimitive(event);
    this.#kill(
      event,
      node,
      process,
      `network.privileged: ${primitive}`,
      primitive,
    );
  }

  /** What the agent said of itself: tampering found, pins adopted. */
  #agentEvent(event: AgentEvent): void {
    if (this.#agent.length >= MAX_LIST) return;
    this.#agent.push({
      time: event.time,
      kind: event.kind,
      ...(event.what ? { what: event.what } : {}),
      ...(event.name ? { name: event.name } : {}),
      ...(event.repaired !== undefined ? { repaired: event.repaired } : {}),
      ...(event.previous_pid ? { previousPid: event.previous_pid } : {}),
      ...(event.refused !== undefined ? { refused: event.refused } : {}),
      ...(event.killed !== undefined ? { killed: event.killed } : {}),
    });
  }

  #other(event: LooseEvent, node: TreeNode): void {
    if (event.type === "file_system_summary") {
      this.#summary(event as unknown as FileSystemSummaryEvent);
      return;
    }
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
    if (mayBeKill(event as unknown as KillableEvent)) {
      this.#kill(
        event,
        node,
        process,
        `${
          typeof event.reason === "string" ? event.reason : "files"
        }: ${event.kind} ${targetOf(path, event)}`,
      );
    }
    const tampering = event.tamper === true || (verdict && verdict !== "allow");
    const pkg = describeDependency(event.dependency as Dependency | undefined);
    if (
      event.kind !== "read" && !tampering && event.integrity !== true &&
      typeof event.reason === "string" && event.reason.startsWith("files.watch")
    ) {
      // The common case, a watched change: counted, nothing else to make.
      this.#write(
        step,
        pkg,
        typeof event.new_path === "string" ? event.new_path : path,
      );
      if (!isCheckout(event as unknown as FileSystemEvent)) {
        this.#otherChanges += typeof event.new_path === "string" ? 2 : 1;
      }
      return;
    }
    if (event.kind === "read") {
      const key = [path, process, step, pkg].join("\0");
      const entry = this.#secrets.get(key);
      if (entry) entry.count++;
      else if (this.#secrets.size < MAX_LIST) {
        this.#secrets.set(key, {
          path,
          process,
          step,
          ...(pkg ? { package: pkg } : {}),
          count: 1,
        });
      }
      return;
    }
    if (
      typeof event.reason === "string" && event.reason.startsWith("files.watch")
    ) {
      this.#write(
        step,
        pkg,
        typeof event.new_path === "string" ? event.new_path : path,
      );
    }
    if (event.integrity === true && event.kind !== "read") {
      this.#integrity.write(event, process, step);
    }
    if (!tampering) {
      if (!isCheckout(event as unknown as FileSystemEvent)) {
        this.#otherChanges += typeof event.new_path === "string" ? 2 : 1;
      }
      return;
    }
    const fresh: TamperEntry = {
      path: targetOf(path, event),
      kind: event.kind,
      process,
      step,
      ...(pkg ? { package: pkg } : {}),
      verdict,
      count: 1,
    };
    if (typeof event.checked_out_by === "string") {
      fresh.checkout = event.checked_out_by;
    }
    this.#addTampered(fresh);
  }

  /** Counts `fresh` into the entry of its path, change, process, package
   * and verdict, or lists it. */
  #addTampered(fresh: TamperEntry): void {
    const key = [
      fresh.path,
      fresh.kind,
      fresh.process,
      fresh.package,
      fresh.verdict,
    ].join("\0");
    const entry = this.#tampered.get(key);
    if (entry) entry.count++;
    else if (this.#tampered.size < MAX_LIST) this.#tampered.set(key, fresh);
  }

  /**
   * A checked-out file the agent found gone or replaced at its stop, which
   * no event had named as changed: tampering by an unknown process.
   */
  #source(event: AgentEvent): void {
    if (typeof event.path !== "string") return;
    this.#addTampered({
      path: event.path,
      kind: event.change ?? "unlink",
      process: SOURCE_FOUND_AT_STOP,
      verdict: "allow",
      count: 1,
      ...(typeof event.checked_out_by === "string"
        ? { checkout: event.checked_out_by }
        : {}),
    });
  }

  /**
   * A bulk summary counts as the changes it stands for would have one by
   * one (they are all under files.watch, none a checkout's or tampering);
   * the examples come from the process's first change, its own event.
   */
  #summary(event: FileSystemSummaryEvent): void {
    if (typeof event.total !== "number") return;
    const counts = event.counts ?? {};
    this.#write(
      event.step?.name,
      describeDependency(event.dependency),
      undefined,
      event.total,
    );
    this.#otherChanges += event.total + (counts.rename ?? 0) +
      (counts.link ?? 0);
  }

  #write(
    step: string | undefined,
    pkg: string | undefined,
    path: string | undefined,
    count = 1,
  ): void {
    const key = pkg === undefined ? step ?? "" : `${step ?? ""}\0${pkg}`;
    let entry = this.#written.get(key);
    if (!entry) {
      if (this.#written.size >= MAX_LIST) return;
      entry = {
        ...(step === undefined ? {} : { step }),
        ...(pkg === undefined ? {} : { package: pkg }),
        count: 0,
        examples: [],
      };
      this.#written.set(key, entry);
    }
    entry.count += count;
    if (
      path !== undefined && entry.examples.length < MAX_EXAMPLES &&
      !entry.examples.includes(path)
    ) {
      entry.examples.push(path);
    }
  }
}

/** A file event's path, with its new name when it has one. */
function targetOf(path: string, event: LooseEvent): string {
  return typeof event.new_path === "string"
    ? `${path} → ${event.new_path}`
    : path;
}

/** What a process event's process was (or would be) killed for. */
function processWhy(event: ProcessEvent): string {
  if (event.kind === "untracked") {
    return "untracked: the scope map was full";
  }
  const via = event.reason === "loader" ? ", mapped by a loader" : "";
  return `process.deny ${JSON.stringify(event.rule ?? event.path ?? "")}${via}`;
}

/** What a guard event's caller was (or would be) killed for. */
function guardWhy(event: GuardEvent): string {
  const target = event.target
    ? ` of ${
      event.target.comm || "?"
    } (pid ${event.target.pid}, ${event.target.role})`
    : "";
  const section = event.kind === "bpf"
    ? "runner.bpf"
    : event.kind === "signal"
    ? "signal to the agent"
    : "runner.memory";
  return `${section}: ${describeGuard(event)}${
    event.kind === "signal" ? "" : target
  }`;
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
