/**
 * The job report as data: what report/build.ts aggregates from events,
 * what `--format json` prints and what report/markdown.ts renders.
 *
 * @module
 */

import type { ProtectedChange } from "../agent/tamper.ts";
import type { ProtectedFileFinding } from "../sensors/agent_event.ts";

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
  /** Findings of the agent about itself (e.g. its policy file changed). */
  integrityReasons?: string[];
  /** What the live agent found wrong with protected files (all of it,
   * those of its stop too); otherwise taken from the `file` events. */
  fileFindings?: ProtectedFileFinding[];
  /** The agent and the policy the report is about (a live agent's). */
  header?: ReportHeader;
  /** The agent process's CPU time (a live agent's). */
  agentCpu?: AgentCpu;
}

/** The agent process's CPU time, in seconds. */
export interface AgentCpu {
  /** From its start to its stop. */
  total: number;
  /** From its start until it was armed. */
  start: number;
}

/**
 * The agent and the policy a report is about: what the job summary opens
 * with. A report built from saved events has none.
 */
export interface ReportHeader {
  /** The policy's mode when the report was built. */
  mode: "audit" | "block";
  /** The policy file and its SHA-256 when the agent started; absent for
   * the built-in policy. */
  policy?: { path: string; sha256?: string };
  /** The agent's version. */
  version: string;
  /**
   * What block mode does besides refusing, per section: whether an
   * audit-mode event of that section stands for a process block mode
   * would kill (`network.action`, `files.action`, `process.action`,
   * `dependencies.install_scripts.action`).
   */
  kills?: {
    network: boolean;
    files: boolean;
    process: boolean;
    installScripts?: boolean;
  };
}

/**
 * A policed process's signals to the agent, as the kernel recorded them
 * (agent/evidence.ts reads them from the pinned map).
 */
export interface SignalEvidence {
  /** The sender's pid. */
  senderPid: number;
  /** Its command name. */
  comm: string;
  /** The last signal number it sent. */
  signal: number;
  /** Signals it sent. */
  count: number;
  /** Its real uid. */
  uid: number;
}

/**
 * What the kernel knows of tampering with the agent, whether or not the
 * agent lived to see it: handed to the integrity report when available.
 */
export interface IntegrityEvidence {
  /** Who signalled the agent. */
  signals?: SignalEvidence[];
  /** Actions the kernel refused while no agent ran. */
  refused?: number;
  /** Processes the kernel killed while no agent ran. */
  killed?: number;
}

/** What was known of the agent when its integrity was judged. */
export interface AgentFacts {
  /** The agent's pid, from its root-only record. */
  pid: number;
  /** When it armed (ISO 8601). */
  started?: string;
  /** Its last heartbeat (ISO 8601). */
  lastSeen?: string;
  /** Its counters at the last heartbeat. */
  counters?: {
    events: number;
    denied: number;
    refused: number;
    killed: number;
  };
  /** What the pid file said, when it differed or was missing. */
  pidFile?: string;
}

/** Whether the agent and what it guards stayed intact. */
export interface IntegrityReport {
  /** `tampered` when any reason was found. */
  status: "ok" | "tampered";
  /** One sentence per finding. */
  reasons: string[];
  /** What is known of the agent (`ringfence stop`). */
  agent?: AgentFacts;
  /** The kernel's own record, when available. */
  evidence?: IntegrityEvidence;
}

/** One egress destination, aggregated. */
export interface EgressEntry {
  /** The DNS name that led to the address, when known. */
  domain?: string;
  /** The destination address, as text. */
  address: string;
  /** The destination port; 0 when the event has none. */
  port: number;
  /** `tcp` or `udp`. */
  protocol: string;
  /** The network event's kind: `connect`, `send`, `dns`. */
  kind: string;
  /** The executable (or comm). */
  process: string;
  /** The CI step's name, when known. */
  step?: string;
  /** The dependency whose install script the process descends from, as
   * `name@version (script)` (report/dependency.ts). */
  package?: string;
  /** `allow`, `audit` (would block) or `deny`. */
  verdict: string;
  /** Why the sensor gave that verdict. */
  reason: string;
  /** Events aggregated into this entry. */
  count: number;
}

/** A DNS query refused (or that block mode would refuse) for its name. */
export interface DnsRefusedEntry {
  /** The name asked, whole; a description when the sensor read none. */
  name: string;
  /** The query type, e.g. `A`, `TXT`, when the sensor read one. */
  qtype?: string;
  /** The resolver asked, as `address:port`. */
  resolver: string;
  /** `udp` or `tcp`. */
  protocol: string;
  /** The executable (or comm). */
  process: string;
  /** The CI step's name, when known. */
  step?: string;
  /** The dependency whose install script the process descends from. */
  package?: string;
  /** `deny` (refused) or `audit` (block mode would refuse it). */
  verdict: string;
  /** Queries aggregated into this entry. */
  count: number;
}

/**
 * A privileged network primitive monitored processes asked for (raw or
 * packet socket, netfilter socket, TUN/TAP attach), aggregated.
 */
export interface PrivilegedEntry {
  /** What was asked for, e.g. `raw socket (udp)`, `packet socket`. */
  primitive: string;
  /** The executable (or comm). */
  process: string;
  /** The CI step's name, when known. */
  step?: string;
  /** `allow`, `audit` (would block) or `deny`. */
  verdict: string;
  /** The sensor's reason: `raw_socket`, `packet_socket`, `netfilter`,
   * `tun`, or `exempt_root`. */
  reason: string;
  /** A process was killed for it. */
  killed?: boolean;
  /** Events aggregated into this entry. */
  count: number;
}

/**
 * A policed process that reached for another process's memory, called
 * bpf() or signalled the agent, aggregated (report/guard.ts).
 */
export interface GuardEntry {
  /** The event's kind. */
  kind: "memory_access" | "bpf" | "signal";
  /** What it did, e.g. `opened /proc/PID/mem`, `bpf(BPF_LINK_DETACH)`. */
  what: string;
  /** The caller's executable (or comm). */
  process: string;
  /** The caller's pid (the first one, when aggregated). */
  pid: number;
  /** The process reached for, e.g. `Runner.Worker (pid 12, root)`. */
  target?: string;
  /** The CI step's name, when known. */
  step?: string;
  /** `killed` (block mode) or `audit` (reported only). */
  action: "killed" | "audit";
  /** Events aggregated into this entry. */
  count: number;
}

/**
 * A process killed, or that block mode would have killed (audit mode):
 * for a connection, a denied program, a protected file written, tampering,
 * a full scope map, an install script (report/kills.ts).
 */
export interface KilledEntry {
  /** The process. */
  pid: number;
  /** The executable (or comm). */
  process: string;
  /** The CI step's name, when known. */
  step?: string;
  /** The dependency whose install script the process descends from. */
  package?: string;
  /** `killed`, or `audit` when block mode would have killed it. */
  action: "killed" | "audit";
  /** What it was killed for, e.g. `process.deny "/usr/bin/nc"`,
   * `network: 198.51.100.7:8000 (not_in_allow_list)`. */
  why: string;
  /** Network kills: where it tried to connect (the name, when known, and
   * the endpoint), or the privileged primitive it asked for. */
  destination?: string;
  /** The event's time, as the event gives it. */
  time: string;
}

/** A node of the folded process tree. */
export interface TreeEntry {
  /** The process id. */
  pid: number;
  /** The command name the kernel gives it. */
  comm: string;
  /** The command line, or the executable's path, once it has exec'd. */
  command?: string;
  /** The CI step's name, when known. */
  step?: string;
  /** `exit <code>` or `signal <number>`, once it has ended. */
  exit?: string;
  /** Placed under its nearest known ancestor: the parent it was forked by
   * is unknown to the report. */
  reparented?: true;
  /** The processes it forked, in order. */
  children: TreeEntry[];
}

/**
 * A file tampered with (a checked-out source changed by something else) or
 * a protected path written.
 */
export interface TamperEntry {
  /** The path, or `old → new` for a rename. */
  path: string;
  /** What was done: `open`, `truncate`, `unlink`, `rename`, ... */
  kind: string;
  /** The executable (or comm). */
  process: string;
  /** The CI step's name, when known. */
  step?: string;
  /** The dependency whose install script the process descends from. */
  package?: string;
  /** The sensor's verdict, when it gave one. */
  verdict?: string;
  /** The checkout the change came after (agent/tamper.ts). */
  checkout?: string;
  /** Events aggregated into this entry. */
  count: number;
}

/** Changes under `files.watch`, by step and package. */
export interface WrittenEntry {
  /** The step's name; absent for processes outside any step. */
  step?: string;
  /** The dependency whose install or build script made the changes, as
   * `name@version (script)` (report/dependency.ts). */
  package?: string;
  /** Changes (a rename counts once). */
  count: number;
  /** The first few paths changed, in order. */
  examples: string[];
}

/** A secret file read. */
export interface SecretReadEntry {
  /** The file read. */
  path: string;
  /** The executable (or comm). */
  process: string;
  /** The CI step's name, when known. */
  step?: string;
  /** The dependency whose install script the process descends from. */
  package?: string;
  /** Reads aggregated into this entry. */
  count: number;
}

/** An exec of a privilege tool (sudo, su, pkexec, doas, ...). */
export interface SudoAttemptEntry {
  /** The tool, by file name: `sudo`, `su`, `pkexec`, `doas`, ... */
  tool: string;
  /** Its command line. */
  command: string;
  /** The CI step's name, when known. */
  step?: string;
  /** `disabled`: the runner user's sudo rights were taken away at the
   * time; `audit`: block mode would have taken them (`runner.sudo: deny`
   * in audit mode); `allowed`: sudo was left to the job. */
  sudo: "disabled" | "audit" | "allowed";
  /** The process. */
  pid: number;
  /** The exec's time, as the event gives it. */
  time: string;
  /** Its exit status, once it exited normally. */
  exit?: number;
  /** The signal that ended it, if one did. */
  signal?: number;
}

/** The report as data (`--format json`). */
export interface Report {
  /** The agent and its policy (a live agent's report). */
  header?: ReportHeader;
  /** The figures the report opens with. */
  summary: {
    /** Processes seen. */
    processes: number;
    /** Events read. */
    events: number;
    /** Operations denied. */
    blocked: number;
    /** Operations that block mode would deny. */
    wouldBlock: number;
    /** Processes killed. */
    killed: number;
    /** Processes block mode would have killed (audit mode). */
    wouldKill?: number;
    /** Records lost in the kernel (ring buffer full). */
    kernelDrops: number;
    /** Events exporters could not deliver, by exporter. */
    exporterDrops: Record<string, number>;
    /** Processes not tracked (scope map full). */
    scopeFull: number;
    /**
     * The agent process's CPU seconds (a live agent's report): in all, and
     * of it until armed, most of which is the kernel verifying the
     * sensors. Its BPF programs' time is not in it: they run in the
     * traced processes' own syscalls.
     */
    agentCpu?: AgentCpu;
  };
  /**
   * What the agent found of its own kernel state (`tamper`: a link
   * detached, a config map changed, a scope entry removed, and whether it
   * was repaired) and pins it adopted from a dead agent (present when
   * there are any).
   */
  agent?: AgentEntry[];
  /** Egress destinations: denied first, then would-be-denied, then allowed. */
  egress: EgressEntry[];
  /** DNS queries refused for their name (present when there are any);
   * these are not in `egress`, whose destinations they did not reach. */
  dnsRefused?: DnsRefusedEntry[];
  /** Privileged network primitives asked for: denied first. */
  privileged: PrivilegedEntry[];
  /** Privilege tools run (sudo, su, ...), in order (present when any). */
  sudo?: SudoAttemptEntry[];
  /** Privilege tool runs left out of `sudo` beyond its limit (present
   * when any). */
  sudoOmitted?: number;
  /** Processes killed and, in audit mode, those block mode would have
   * killed, in order. */
  killed: KilledEntry[];
  /** Memory access and tampering by policed processes (present when there
   * are any): killed first. */
  guard?: GuardEntry[];
  /** Files tampered with, and protected paths written. */
  tampered: TamperEntry[];
  /** Protected files whose size, mtime or hash changed (live agent only). */
  protectedChanged: ProtectedChange[];
  /**
   * What the agent found wrong with protected files: mounts over or of
   * them, new hard links, changes, and whether each was put right
   * (present when there are any).
   */
  protectedFiles?: ProtectedFileFinding[];
  /** Findings left out of `protectedFiles` beyond its limit (present when
   * there are any). */
  protectedFilesOmitted?: number;
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
  /** The process tree, from its roots. */
  tree: TreeEntry[];
  /** Processes left out of `tree` beyond its size limit. */
  treeOmitted: number;
  /** Egress destinations (or events) left out beyond the limits. */
  egressOmitted: number;
  /** Refused DNS queries left out of `dnsRefused` beyond its limit
   * (present when there are any). */
  dnsRefusedOmitted?: number;
  /** Whether the agent and what it guards stayed intact. */
  integrity: IntegrityReport;
}

/** An event of the agent about itself (`{"type":"agent"}`). */
export interface AgentEntry {
  /** When (ISO 8601). */
  time: string;
  /** `tamper`, `adopted` or `recovered`. */
  kind: string;
  /** tamper: `link_detached`, `chain_changed`, `map_changed` or
   * `scope_removed`. */
  what?: string;
  /** tamper: the link or chained program, the map or the pid. */
  name?: string;
  /** tamper: put back by the agent. */
  repaired?: boolean;
  /** adopted, recovered: the dead agent's pid. */
  previousPid?: number;
  /** adopted, recovered: refusals while no agent ran. */
  refused?: number;
  /** adopted, recovered: kills while no agent ran. */
  killed?: number;
}
