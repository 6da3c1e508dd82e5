/**
 * The job as the web page shows it: a bounded model built from events, the
 * same in Deno (the static HTML report) and in the browser (the live view).
 * Pure: no DOM, no Deno APIs.
 *
 * Every list is capped and what the cap leaves out is counted, so a job of
 * any length gives a page of bounded size.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { NetworkEvent } from "../sensors/network_event.ts";
import type { FileSystemEvent } from "../sensors/file_system_event.ts";
import type { FileSystemSummaryEvent } from "../sensors/file_system_summary.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import { describeDependency } from "../report/dependency.ts";
import { SOURCE_FOUND_AT_STOP } from "../sensors/agent_event.ts";

/** Processes kept in the tree; later ones are counted. */
export const MAX_PROCESSES = 1_500;
/** Activity lines kept per process; later ones are counted. */
export const MAX_ACTIVITY = 8;
/** Egress rows kept; later destinations are counted. */
export const MAX_EGRESS = 1_000;
/** File change rows kept; later ones are counted. */
export const MAX_FILES = 1_000;
/** Steps kept in the timeline. */
export const MAX_STEPS = 200;
/** Events kept per step in the timeline. */
export const MAX_STEP_EVENTS = 40;
/** Names kept per egress row (steps, processes). */
const MAX_NAMES = 5;
/** Command lines are cut at this length. */
const MAX_COMMAND = 400;

/** What the page opens with. */
export interface JobHeader {
  /** `audit` or `block`, when known. */
  mode?: string;
  /** The policy file and its SHA-256, when known. */
  policy?: { path: string; sha256?: string };
  /** The agent's version, when known. */
  version?: string;
  /** False when the agent or what it guards was tampered with. */
  intact: boolean;
  /** Why it is not intact, one sentence each. */
  integrityReasons: string[];
  /** The first and last event's time. */
  first?: string;
  /** The last event's time. */
  last?: string;
}

/** Verdict counts over all events. */
export interface JobCounts {
  /** Events read. */
  events: number;
  /** Processes seen (forks and execs of unknown pids). */
  processes: number;
  /** Operations denied. */
  denied: number;
  /** Operations block mode would deny (audit). */
  audit: number;
  /** Processes killed. */
  killed: number;
  /** Connections and sends seen. */
  connections: number;
  /** File changes seen. */
  fileChanges: number;
}

/** One thing a process did, as a line. */
export interface Activity {
  /** The event's time. */
  time: string;
  /** `connect`, `send`, `dns`, `file`, `exec`, ... */
  kind: string;
  /** What, in words: `connect 10.0.0.1:443 (example.com)`. */
  text: string;
  /** `allow`, `audit` or `deny`, when the event has one. */
  verdict?: string;
}

/** A process of the tree. */
export interface ProcessNode {
  /** The node's id (index in `processes`). */
  id: number;
  /** Its parent's id, when the parent is known. */
  parent?: number;
  /** The process id. */
  pid: number;
  /** The command name. */
  comm: string;
  /** The command line (argv), once it has exec'd. */
  command?: string;
  /** The CI step. */
  step?: string;
  /** The dependency its install script descends from, as `name@version (script)`. */
  package?: string;
  /** `exit N` or `signal N`, once it ended. */
  exit?: string;
  /** Something it did was denied. */
  blocked?: boolean;
  /** It was killed by the agent. */
  killed?: boolean;
  /** Why it was blocked or killed, short. */
  why?: string;
  /** When it started. */
  start: string;
  /** What it did (capped). */
  activity: Activity[];
  /** Activity lines left out. */
  activityOmitted: number;
}

/** One egress destination, aggregated by domain, address, port, protocol. */
export interface EgressRow {
  /** The DNS name (TLS server name or last question), when known. */
  domain?: string;
  /** The address. */
  address: string;
  /** The port. */
  port: number;
  /** `tcp` or `udp`. */
  protocol: string;
  /** Events. */
  count: number;
  /** Events per verdict. */
  verdicts: Record<string, number>;
  /** Steps (first few). */
  steps: string[];
  /** Processes (first few). */
  processes: string[];
  /** Packages (first few). */
  packages: string[];
}

/** A file change or a protected file touched, aggregated. */
export interface FileRow {
  /** The path (`old → new` for a rename). */
  path: string;
  /** What was done. */
  kind: string;
  /** The process. */
  process: string;
  /** The step. */
  step?: string;
  /** The package. */
  package?: string;
  /** The sensor's verdict. */
  verdict: string;
  /** A checked-out file changed, or a protected path written. */
  tamper: boolean;
  /** Events. */
  count: number;
}

/** A CI step, with its events in order. */
export interface StepRow {
  /** Its name; `(no step)` for processes outside any step. */
  name: string;
  /** First event. */
  first: string;
  /** Last event. */
  last: string;
  /** Events. */
  count: number;
  /** Denied or killed events. */
  blocked: number;
  /** Its notable events (capped). */
  events: Activity[];
  /** Events left out. */
  omitted: number;
}

/** The bounded model the page renders. */
export interface JobData {
  /** The header. */
  header: JobHeader;
  /** The counts. */
  counts: JobCounts;
  /** Processes, in the order they appeared; parents before children when known. */
  processes: ProcessNode[];
  /** Egress destinations, in the order first seen. */
  egress: EgressRow[];
  /** File changes, in the order first seen. */
  files: FileRow[];
  /** Steps, in the order first seen. */
  steps: StepRow[];
  /** The suggested policy (report/suggest.ts), when given. */
  suggestedPolicy?: string;
  /** What the caps left out. */
  omitted: {
    processes: number;
    egress: number;
    files: number;
    steps: number;
  };
}

/** What the model is told besides the events. */
export interface JobContext {
  /** Mode, policy, version. */
  mode?: string;
  /** The policy. */
  policy?: { path: string; sha256?: string };
  /** The agent's version. */
  version?: string;
  /** The suggested policy. */
  suggestedPolicy?: string;
}

const FILE_CHANGES = new Set([
  "create",
  "truncate",
  "unlink",
  "rename",
  "chmod",
  "chown",
  "link",
  "symlink",
  "mkdir",
  "rmdir",
]);

/** `row` with the step and the package of the event it was made for. */
function attributed(
  row: FileRow,
  event: FileSystemEvent | FileSystemSummaryEvent,
): FileRow {
  if (event.step) row.step = event.step.name;
  const pkg = describeDependency(event.dependency);
  if (pkg) row.package = pkg;
  return row;
}

function cut(text: string, max: number): string {
  return text.length > max ? text.slice(0, max - 1) + "…" : text;
}

function endpoint(address: string, port: number): string {
  return address.includes(":") ? `[${address}]:${port}` : `${address}:${port}`;
}

function pushName(list: string[], name: string | undefined): void {
  if (name && list.length < MAX_NAMES && !list.includes(name)) list.push(name);
}

/** Builds a JobData from events, one at a time, in bounded memory. */
export class JobModel {
  readonly #context: JobContext;
  readonly #processes: ProcessNode[] = [];
  /** pid → its current node. */
  readonly #byPid = new Map<number, ProcessNode>();
  readonly #egress = new Map<string, EgressRow>();
  readonly #files = new Map<string, FileRow>();
  readonly #steps = new Map<string, StepRow>();
  /** pid → last A/AAAA question, to name a connection's destination. */
  readonly #questions = new Map<number, string>();
  /** address → first name seen for it. */
  readonly #names = new Map<string, string>();
  readonly #integrity: string[] = [];
  readonly #counts: JobCounts = {
    events: 0,
    processes: 0,
    denied: 0,
    audit: 0,
    killed: 0,
    connections: 0,
    fileChanges: 0,
  };
  readonly #omitted = { processes: 0, egress: 0, files: 0, steps: 0 };
  #first?: string;
  #last?: string;

  /** A model told what the events do not carry. */
  constructor(context: JobContext = {}) {
    this.#context = context;
  }

  /** Sets the suggested policy shown with the job. */
  set suggestedPolicy(text: string | undefined) {
    this.#context.suggestedPolicy = text;
  }

  /** Adds one event. */
  add(event: RingfenceEvent): void {
    this.#counts.events++;
    this.#first ??= event.time;
    this.#last = event.time;
    switch (event.type) {
      case "process_event":
        this.#process(event as ProcessEvent);
        break;
      case "network_event":
        this.#network(event as NetworkEvent);
        break;
      case "file_system_event":
        this.#file(event as FileSystemEvent);
        break;
      case "file_system_summary":
        this.#summary(event as FileSystemSummaryEvent);
        break;
      case "agent":
        if ((event as { kind: string }).kind === "source") {
          this.#source(event as { path?: string; change?: string });
        }
        if ((event as { kind: string }).kind === "tamper") {
          const tamper = event as { what?: string; name?: string };
          if (this.#integrity.length < 50) {
            this.#integrity.push(
              `${tamper.what ?? "tamper"}${
                tamper.name ? ` ${tamper.name}` : ""
              }`,
            );
          }
        }
        this.#note(event, {
          time: event.time,
          kind: event.kind,
          text: `agent ${event.kind}`,
        });
        break;
      default: {
        const verdict = (event as { action?: string }).action === "killed"
          ? "deny"
          : undefined;
        if (verdict) this.#counts.killed++;
        const node = this.#node(event);
        if (verdict && node) {
          node.killed = true;
          node.why ??= `${event.type} ${event.kind}`;
        }
        this.#note(event, {
          time: event.time,
          kind: event.kind,
          text: `${event.type.replace(/_event$/, "")} ${event.kind}`,
          verdict,
        });
      }
    }
  }

  /** The node of the event's process, made when first seen. */
  #node(event: RingfenceEvent): ProcessNode | undefined {
    const known = this.#byPid.get(event.pid);
    if (known) return known;
    return this.#newNode(event, event.pid, event.ppid);
  }

  #newNode(
    event: RingfenceEvent,
    pid: number,
    ppid: number,
  ): ProcessNode | undefined {
    this.#counts.processes++;
    if (this.#processes.length >= MAX_PROCESSES) {
      this.#omitted.processes++;
      this.#byPid.delete(pid);
      return undefined;
    }
    const parent = this.#byPid.get(ppid);
    const node: ProcessNode = {
      id: this.#processes.length,
      pid,
      comm: event.comm,
      start: event.time,
      activity: [],
      activityOmitted: 0,
    };
    if (parent && parent.pid !== pid) node.parent = parent.id;
    if (event.step) node.step = event.step.name;
    const pkg = describeDependency(event.dependency);
    if (pkg) node.package = pkg;
    this.#processes.push(node);
    this.#byPid.set(pid, node);
    return node;
  }

  #activity(node: ProcessNode | undefined, activity: Activity): void {
    if (!node) return;
    if (node.activity.length < MAX_ACTIVITY) node.activity.push(activity);
    else node.activityOmitted++;
  }

  /** Puts a notable event on its step's timeline. */
  #note(event: RingfenceEvent, activity: Activity): void {
    const name = event.step?.name ?? "(no step)";
    let step = this.#steps.get(name);
    if (!step) {
      if (this.#steps.size >= MAX_STEPS) {
        this.#omitted.steps++;
        return;
      }
      step = {
        name,
        first: event.time,
        last: event.time,
        count: 0,
        blocked: 0,
        events: [],
        omitted: 0,
      };
      this.#steps.set(name, step);
    }
    step.count++;
    step.last = event.time;
    if (activity.verdict === "deny") step.blocked++;
    if (step.events.length < MAX_STEP_EVENTS) {
      step.events.push({
        ...activity,
        text: `${event.comm}: ${activity.text}`,
      });
    } else step.omitted++;
  }

  #verdict(verdict: string | undefined, killed: boolean | undefined): void {
    if (verdict === "deny") this.#counts.denied++;
    else if (verdict === "audit") this.#counts.audit++;
    if (killed) this.#counts.killed++;
  }

  #mark(
    node: ProcessNode | undefined,
    verdict: string | undefined,
    killed: boolean | undefined,
    why: string,
  ): void {
    if (!node) return;
    if (verdict === "deny") {
      node.blocked = true;
      node.why ??= why;
    }
    if (killed) {
      node.killed = true;
      node.why = why;
    }
  }

  #process(event: ProcessEvent): void {
    if (event.kind === "fork") {
      // A fork makes a new process: a reused pid starts a new node.
      this.#byPid.delete(event.pid);
      const node = this.#newNode(event, event.pid, event.ppid);
      if (node && !node.parent) {
        const parent = this.#byPid.get(event.ppid);
        if (parent && parent !== node) node.parent = parent.id;
      }
      return;
    }
    const node = this.#node(event);
    if (event.kind === "exec") {
      const argv = event.argv?.length ? event.argv.join(" ") : event.path ?? "";
      const command = cut(argv, MAX_COMMAND);
      if (node) {
        node.command = command;
        node.comm = event.comm;
        if (event.step) node.step = event.step.name;
        const pkg = describeDependency(event.dependency);
        if (pkg) node.package = pkg;
      }
      this.#verdict(event.verdict, event.killed);
      const why = event.rule
        ? `process.deny ${event.rule}`
        : `exec ${event.path ?? ""}`;
      this.#mark(node, event.verdict, event.killed, why);
      const activity: Activity = {
        time: event.time,
        kind: "exec",
        text: `exec ${cut(argv, 160)}${
          event.killed ? ` — killed (${why})` : ""
        }`,
      };
      if (event.verdict) activity.verdict = event.verdict;
      this.#activity(node, activity);
      this.#note(event, activity);
    } else if (event.kind === "exit") {
      this.#questions.delete(event.pid);
      if (node) {
        node.exit = event.signal
          ? `signal ${event.signal}`
          : `exit ${event.exit_code ?? 0}`;
      }
    } else if (event.kind === "untracked") {
      const killed = event.action === "killed";
      this.#verdict(killed ? "deny" : "audit", killed);
      this.#mark(node, killed ? "deny" : undefined, killed, "scope map full");
      this.#note(event, {
        time: event.time,
        kind: "untracked",
        text: "untracked (scope map full)",
        verdict: killed ? "deny" : "audit",
      });
    }
  }

  #network(event: NetworkEvent): void {
    const node = this.#node(event);
    this.#verdict(event.verdict, event.killed);
    if (event.kind === "dns") {
      if (
        event.query && event.verdict !== "deny" &&
        (event.qtype === "A" || event.qtype === "AAAA")
      ) {
        this.#questions.set(event.pid, event.query);
      }
      const activity: Activity = {
        time: event.time,
        kind: "dns",
        text: `dns ${event.qtype ?? ""} ${event.query ?? "?"} via ${
          endpoint(event.daddr, event.dport)
        }`,
        verdict: event.verdict,
      };
      this.#mark(node, event.verdict, event.killed, `dns ${event.query ?? ""}`);
      if (event.verdict !== "allow") {
        this.#activity(node, activity);
        this.#note(event, activity);
      }
      return;
    }
    let domain: string | undefined;
    if (event.reason !== "resolver") {
      domain = event.query ?? this.#questions.get(event.pid) ??
        this.#names.get(event.daddr);
      if (
        domain && !this.#names.has(event.daddr) && this.#names.size < 10_000
      ) {
        this.#names.set(event.daddr, domain);
      }
    }
    const where = `${endpoint(event.daddr, event.dport)}${
      domain ? ` (${domain})` : ""
    }`;
    this.#mark(
      node,
      event.verdict,
      event.killed,
      `${event.kind} ${where}: ${event.reason}`,
    );
    if (event.kind === "connect" || event.kind === "send") {
      this.#counts.connections++;
      const key = `${
        domain ?? ""
      }|${event.daddr}|${event.dport}|${event.protocol}`;
      let row = this.#egress.get(key);
      if (!row) {
        if (this.#egress.size >= MAX_EGRESS) this.#omitted.egress++;
        else {
          row = {
            address: event.daddr,
            port: event.dport,
            protocol: event.protocol,
            count: 0,
            verdicts: {},
            steps: [],
            processes: [],
            packages: [],
          };
          if (domain) row.domain = domain;
          this.#egress.set(key, row);
        }
      }
      if (row) {
        row.count++;
        row.verdicts[event.verdict] = (row.verdicts[event.verdict] ?? 0) + 1;
        pushName(row.steps, event.step?.name);
        pushName(row.processes, event.exe ?? event.comm);
        pushName(row.packages, describeDependency(event.dependency));
      }
    }
    const activity: Activity = {
      time: event.time,
      kind: event.kind,
      text: `${event.kind} ${event.protocol} ${where}${
        event.verdict !== "allow" ? ` — ${event.verdict} (${event.reason})` : ""
      }${event.killed ? ", killed" : ""}`,
      verdict: event.verdict,
    };
    this.#activity(node, activity);
    this.#note(event, activity);
  }

  /** A bulk summary: its changes count as they would have one by one. */
  #summary(event: FileSystemSummaryEvent): void {
    this.#node(event);
    this.#counts.fileChanges += event.total;
    const process = event.exe ?? event.comm;
    for (const [kind, count] of Object.entries(event.counts)) {
      if (!count) continue;
      const key = `${event.directory}/|${kind}|${process}|summary`;
      const row = this.#fileRow(key, () =>
        attributed({
          path: cut(`${event.directory}/…`, 600),
          kind,
          process,
          verdict: "allow",
          tamper: false,
          count: 0,
        }, event));
      if (row) row.count += count;
    }
  }

  /**
   * The row of `key` in the files list, made by `make` when there is none;
   * undefined once the list is full (the change is counted as omitted).
   */
  #fileRow(key: string, make: () => FileRow): FileRow | undefined {
    let row = this.#files.get(key);
    if (!row) {
      if (this.#files.size >= MAX_FILES) {
        this.#omitted.files++;
        return undefined;
      }
      row = make();
      this.#files.set(key, row);
    }
    return row;
  }

  /** A checked-out file found gone or replaced when the agent stopped. */
  #source(event: { path?: string; change?: string }): void {
    if (typeof event.path !== "string") return;
    const kind = event.change ?? "unlink";
    const key = `${event.path}|${kind}|${SOURCE_FOUND_AT_STOP}|allow`;
    const path = event.path;
    const row = this.#fileRow(key, () => ({
      path: cut(path, 600),
      kind,
      process: SOURCE_FOUND_AT_STOP,
      verdict: "allow",
      tamper: true,
      count: 0,
    }));
    if (row) row.count++;
  }

  #file(event: FileSystemEvent): void {
    const node = this.#node(event);
    this.#verdict(event.verdict, event.killed);
    const path = event.new_path
      ? `${event.path} → ${event.new_path}`
      : event.path;
    this.#mark(node, event.verdict, event.killed, `${event.kind} ${path}`);
    const change = FILE_CHANGES.has(event.kind) ||
      (event.kind === "open" &&
        event.flags?.some((flag) =>
          flag === "O_WRONLY" || flag === "O_RDWR" || flag === "O_TRUNC"
        ));
    const tamper = Boolean(event.tamper) || event.verdict !== "allow";
    if (change) this.#counts.fileChanges++;
    if (change || tamper || event.reason === "secret") {
      const process = event.exe ?? event.comm;
      const key = `${path}|${event.kind}|${process}|${event.verdict}`;
      const row = this.#fileRow(key, () =>
        attributed({
          path: cut(path, 600),
          kind: event.kind,
          process,
          verdict: event.verdict,
          tamper,
          count: 0,
        }, event));
      if (row) row.count++;
    }
    const activity: Activity = {
      time: event.time,
      kind: "file",
      text: `${event.kind} ${cut(path, 300)}${
        event.verdict !== "allow" ? ` — ${event.verdict} (${event.reason})` : ""
      }${event.killed ? ", killed" : ""}`,
      verdict: event.verdict,
    };
    if (change || tamper) {
      this.#activity(node, activity);
      this.#note(event, activity);
    }
  }

  /** The model as it stands, for the page. */
  data(): JobData {
    const header: JobHeader = {
      intact: this.#integrity.length === 0,
      integrityReasons: [...this.#integrity],
    };
    if (this.#context.mode) header.mode = this.#context.mode;
    if (this.#context.policy) header.policy = this.#context.policy;
    if (this.#context.version) header.version = this.#context.version;
    if (this.#first) header.first = this.#first;
    if (this.#last) header.last = this.#last;
    const data: JobData = {
      header,
      counts: { ...this.#counts },
      processes: this.#processes,
      egress: [...this.#egress.values()],
      files: [...this.#files.values()],
      steps: [...this.#steps.values()],
      omitted: { ...this.#omitted },
    };
    if (this.#context.suggestedPolicy) {
      data.suggestedPolicy = this.#context.suggestedPolicy;
    }
    return data;
  }
}
