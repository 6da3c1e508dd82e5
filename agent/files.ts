/**
 * What the agent keeps about files while sensor.file-system runs: the rules
 * that judge its records, the checked-out files and changes to them, and
 * the protected files' state at the start, compared at the stop.
 *
 * @module
 */

import type { FileSystemEvent } from "../sensors/events.ts";
import type { FileSystemSensor } from "../sensors/file_system.ts";
import { FileFindings } from "./file_findings.ts";
import type { FileRules } from "./file_policy.ts";
import { LinkGuard } from "./link_guard.ts";
import { MountGuard } from "./mount_guard.ts";
import {
  diffSnapshots,
  type FileState,
  type ProtectedChange,
  snapshotFiles,
  type TamperReport,
  TamperTracker,
} from "./tamper.ts";

/** sensor.file-system and what the agent learns from it. */
export class FileWatch {
  readonly sensor: FileSystemSensor;
  /** The rules of the policy in force (replaced with the policy). */
  rules: FileRules;
  readonly #tamper = new TamperTracker();
  /** What was found wrong with protected files (agent/file_findings.ts). */
  readonly findings: FileFindings = new FileFindings();
  /** Literal protected paths as they were when the agent started. */
  readonly #atStart: Map<string, FileState>;
  #protectedChanges: ProtectedChange[] = [];
  readonly #mounts: MountGuard;
  readonly #links: LinkGuard;

  private constructor(
    sensor: FileSystemSensor,
    rules: FileRules,
    atStart: Map<string, FileState>,
  ) {
    this.sensor = sensor;
    this.rules = rules;
    this.#atStart = atStart;
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

  /** Takes the protected files' state; call it before the sensor attaches. */
  static async start(
    sensor: FileSystemSensor,
    rules: FileRules,
  ): Promise<FileWatch> {
    const atStart = await snapshotFiles(rules.protectedPaths);
    return new FileWatch(sensor, rules, atStart);
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
    const checkout = this.#tamper.record(event);
    if (checkout !== undefined) {
      event.tamper = true;
      event.checked_out_by = checkout;
    }
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
   * Compares the protected paths, as the policy in force at the start
   * named them, with their state at the start.
   */
  async finish(): Promise<void> {
    this.#protectedChanges = diffSnapshots(
      this.#atStart,
      await snapshotFiles([...this.#atStart.keys()]),
    );
  }

  /** Watched files changed, and protected files changed (once finished). */
  report(): TamperReport {
    return {
      files: this.#tamper.files(),
      otherChanges: this.#tamper.otherChanges,
      protected: this.#protectedChanges,
      findings: this.findings.list(),
    };
  }
}
