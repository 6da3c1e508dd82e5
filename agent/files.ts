/**
 * What the agent keeps about files while sensor.file-system runs: the rules
 * that judge its records, the checked-out files and changes to them, and
 * the protected files' integrity (agent/file_integrity.ts): known by inode
 * in the kernel, snapshotted at start, watched, put back with
 * `files.restore`, and compared with the start at the stop.
 *
 * @module
 */

import type {
  FileSystemEvent,
  FileSystemSummaryEvent,
  RingfenceEvent,
} from "../sensors/events.ts";
import type { FileSystemSensor } from "../sensors/file_system.ts";
import { type AgentEvent, agentEvent } from "../sensors/agent_event.ts";
import { type BulkConfig, BulkDirs } from "./bulk_dirs.ts";
import { FileFindings } from "./file_findings.ts";
import {
  FileIntegrity,
  type IntegrityHooks,
  type PreparedFiles,
  type ProcessInfo,
} from "./file_integrity.ts";
import type { FileRules } from "./file_policy.ts";
import { LinkGuard } from "./link_guard.ts";
import { MountGuard } from "./mount_guard.ts";
import {
  type ProtectedChange,
  type TamperReport,
  TamperTracker,
} from "./tamper.ts";

/** lstat's device and inode of `path`; null when it cannot be read. */
function lstatInode(path: string): { dev: number; ino: number } | null {
  try {
    const stat = Deno.lstatSync(path);
    return stat.ino === null ? null : { dev: stat.dev, ino: stat.ino };
  } catch {
    return null;
  }
}

function bulkConfig(rules: FileRules): BulkConfig {
  return {
    names: rules.bulk,
    summary: rules.summary,
    watch: rules.watchPatterns,
  };
}

/** sensor.file-system and what the agent learns from it. */
export class FileWatch {
  readonly sensor: FileSystemSensor;
  #rules: FileRules;
  readonly #tamper = new TamperTracker();
  /** What was found wrong with protected files (agent/file_findings.ts). */
  readonly findings: FileFindings;
  /** The protected files' inodes, snapshot and watch. */
  readonly integrity: FileIntegrity;
  #protectedChanges: ProtectedChange[] = [];
  #finished: Promise<void> | undefined;
  readonly #mounts: MountGuard;
  readonly #links: LinkGuard;
  /** Bulk directories and their summaries (agent/bulk_dirs.ts). */
  readonly bulk: BulkDirs;

  private constructor(
    sensor: FileSystemSensor,
    rules: FileRules,
    findings: FileFindings,
    integrity: FileIntegrity,
  ) {
    this.sensor = sensor;
    this.#rules = rules;
    this.findings = findings;
    this.integrity = integrity;
    this.bulk = new BulkDirs(sensor, bulkConfig(rules));
    const patterns = () => this.rules.protectPatterns;
    const repair = () => this.rules.enforce;
    const found = (finding: Parameters<FileFindings["add"]>[0]) => {
      this.findings.add(finding);
    };
    this.#mounts = new MountGuard(patterns, repair, found);
    this.#links = new LinkGuard(
      patterns,
      () =>
        this.rules.protectPatterns.flatMap((pattern) =>
          pattern.literal.kind === "path" ? [pattern.literal.path] : []
        ),
      repair,
      found,
    );
  }

  /**
   * Walks the protected and secret files and takes the protected files'
   * snapshot, with no sensor yet: start it while the sensors load.
   */
  static prepare(rules: FileRules): Promise<PreparedFiles> {
    return FileIntegrity.prepare(rules);
  }

  /**
   * Puts the protected and secret files in `fs_inodes` (`prepared` for
   * `rules`, or taken now); call it before the sensor attaches.
   */
  static async start(
    sensor: FileSystemSensor,
    rules: FileRules,
    prepared?: Promise<PreparedFiles | undefined>,
  ): Promise<FileWatch> {
    const findings = new FileFindings();
    let ready = await prepared;
    if (ready?.rules !== rules) ready = await FileIntegrity.prepare(rules);
    const integrity = FileIntegrity.start(sensor, findings, ready);
    const watch = new FileWatch(sensor, rules, findings, integrity);
    await watch.bulk.scan();
    return watch;
  }

  /** The rules of the policy in force. */
  get rules(): FileRules {
    return this.#rules;
  }

  /**
   * Puts new rules in force: records from now on are judged by them, and
   * `fs_inodes`, the snapshot and the watches follow them (in the
   * background; a failure is logged).
   */
  set rules(rules: FileRules) {
    this.#rules = rules;
    this.bulk.config = bulkConfig(rules);
    this.integrity.setRules(rules).catch((error) =>
      console.error(
        `ringfence: protected files not rescanned after the reload: ${
          (error as Error).message
        }`,
      )
    );
  }

  /** Starts watching the protected files; changes go out through `hooks`. */
  arm(hooks: IntegrityHooks): void {
    this.integrity.arm(hooks);
  }

  /**
   * Reports fds that processes in scope (`pids`) held open for writing to
   * protected files before the start; returns the events.
   */
  heldOpen(
    pids: Iterable<number>,
    describe: (pid: number) => ProcessInfo | undefined,
  ): RingfenceEvent[] {
    return this.integrity.heldOpen(pids, describe);
  }

  /**
   * Marks an event that changes a checked-out file with the checkout's step.
   * Call it once the event's own step is known: a checkout is told by its
   * step too.
   */
  record(event: FileSystemEvent): void {
    if (event.kind === "mount" || event.kind === "link") {
      const culprit = {
        pid: event.pid,
        exe: event.exe ?? event.comm,
        step: event.step?.name,
      };
      if (event.kind === "mount") {
        this.#mounts.reported(culprit, event.path, event.new_path);
        this.#mounts.check();
      } else this.#links.linked(event, culprit);
    }
    this.integrity.record(event);
    const checkout = this.#tamper.record(event);
    if (checkout !== undefined) {
      event.tamper = true;
      event.checked_out_by = checkout;
    }
    this.bulk.observe(event);
  }

  /**
   * Takes a summary (agent/bulk_dirs.ts) into the tamper report's counts,
   * as the changes it counts would have been one by one.
   */
  recordSummary(summary: FileSystemSummaryEvent): void {
    this.#tamper.recordSummary(summary);
  }

  /**
   * Once the job is over: the checked-out files found gone or replaced
   * that no event named as changed (TamperTracker.sweep), as the agent's
   * `source` events. Run it once, after the last records were read.
   */
  sweepSources(): AgentEvent[] {
    return this.#tamper.sweep(lstatInode).map((entry) =>
      agentEvent("source", {
        path: entry.path,
        change: entry.kind === "rename" ? "rename" : "unlink",
        checked_out_by: entry.checkout,
      })
    );
  }

  /**
   * Looks for mounts on, of or above protected paths and new names of
   * protected files that no kernel report announced; run every second.
   */
  check(): void {
    this.#mounts.check();
    this.#links.check();
  }

  /**
   * Stops watching and compares the protected files, as the policy in
   * force at the start named them (literal paths and every file under its
   * trees), with their state at the start. Idempotent.
   */
  finish(): Promise<void> {
    return this.#finished ??= (async () => {
      this.#protectedChanges = await this.integrity.finish();
    })();
  }

  /** Watched files changed, and protected files changed (once finished). */
  report(): TamperReport {
    const report: TamperReport = {
      files: this.#tamper.files(),
      otherChanges: this.#tamper.otherChanges,
      protected: this.#protectedChanges,
      findings: this.findings.list(),
    };
    if (this.integrity.coverage.length) {
      report.coverage = [...this.integrity.coverage];
    }
    return report;
  }
}
