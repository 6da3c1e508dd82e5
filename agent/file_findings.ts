/**
 * What the agent found wrong with protected files while the job ran: a
 * change that landed, a mount over or of a protected path, a new hard link,
 * a file held open for writing from before the start. Each says whether the
 * agent put it right; one that stays unrepaired means the job report can no
 * longer vouch for the file.
 *
 * @module
 */

import type { ProtectedFileFinding } from "../sensors/agent_event.ts";

/** What happened to a protected file. */
export type FileFindingKind =
  /** its content, mode or owner changed */
  | "changed"
  /** it was removed or replaced by another file */
  | "removed"
  /** something was mounted on it or on a directory above it */
  | "mounted_over"
  /** it (or a directory above it) was mounted elsewhere: a second path */
  | "bind_mounted"
  /** a new hard link to it appeared: a second path */
  | "hard_linked"
  /** a process held it open for writing when the agent started */
  | "held_open";

/**
 * One thing found wrong with a protected file: the `finding` of the
 * agent's `file` event, with its kind narrowed.
 */
export interface FileFinding extends ProtectedFileFinding {
  /** What happened to it. */
  kind: FileFindingKind;
}

/** The findings of one agent run, in the order found. */
export class FileFindings {
  readonly #findings: FileFinding[] = [];
  /** Findings reported by an event of their own (file_integrity). */
  readonly #quiet = new WeakSet<FileFinding>();
  /** Called with each finding to announce as it is added (the agent's
   * event). */
  onAdd: ((finding: FileFinding) => void) | undefined;

  /**
   * Records a finding and returns it. `announce: false` for one whose
   * caller sends an event of its own about it: it is listed (the report)
   * but not announced again.
   */
  add(
    finding: Omit<FileFinding, "time"> & { time?: string },
    { announce = true }: { announce?: boolean } = {},
  ): FileFinding {
    const entry = { time: new Date().toISOString(), ...finding };
    this.#findings.push(entry);
    if (announce) this.onAdd?.(entry);
    else this.#quiet.add(entry);
    return entry;
  }

  /** Every finding so far. */
  list(): FileFinding[] {
    return [...this.#findings];
  }

  /** The findings to announce: those without an event of their own. */
  announced(): FileFinding[] {
    return this.#findings.filter((finding) => !this.#quiet.has(finding));
  }

  /** Whether every protected file can still be vouched for. */
  get vouched(): boolean {
    return this.#findings.every((finding) => finding.repaired);
  }
}
