/**
 * The file_system_summary event: what one process changed under one bulk
 * directory (node_modules, .venv, target, ...) beyond its first change
 * there, counted by sensor.file-system (bpf/lib/bulk.h) rather than sent
 * one by one. The agent makes it from `fs_summaries` (agent/bulk_dirs.ts).
 *
 * @module
 */

import type { BaseEvent } from "./event.ts";
import type { FileSystemKind } from "./file_system_event.ts";

/** A file_system_summary in the JSON-lines contract. */
export interface FileSystemSummaryEvent extends BaseEvent {
  /** Which kind of event. */
  type: "file_system_summary";
  /** Always `bulk`. */
  kind: "bulk";
  /** The bulk directory (e.g. `/ws/node_modules`). */
  directory: string;
  /**
   * Changes counted under `directory`, by kind (`create`, `mkdir`,
   * `symlink`, `unlink`, `rmdir`, `chmod`, `rename`, `link`). The
   * process's first change there is its own file_system_event and is not
   * counted here.
   */
  counts: Partial<Record<FileSystemKind, number>>;
  /** The sum of `counts`. */
  total: number;
  /** When the first change (the one sent as its own event) happened. */
  first: string;
  /** When the last change counted happened. */
  last: string;
  /** The rule that makes these changes reported: `files.watch "..."`. */
  reason: string;
  /** Always `allow`: a change a protected rule names is never summarised. */
  verdict: "allow";
  /** The process's executable, when known. */
  exe?: string;
  /** `false` when the process was still running (at the stop, or a
   * periodic summary of a long-lived process); counting goes on then. */
  exited: boolean;
}
