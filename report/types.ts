/**
 * The job report as data: what report/build.ts aggregates from events,
 * what `--format json` prints and what report/markdown.ts renders.
 *
 * @module
 */

import type { ProtectedChange } from "../agent/tamper.ts";

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
