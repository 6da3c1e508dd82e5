/**
 * `{"type":"file_integrity"}`: what the agent itself found wrong with a
 * protected file, not read from a sensor's ring: a change that landed, a
 * removal, an fd held open for writing from before the start. The header
 * fields (`pid`, `comm`, ...) are the agent's own; the process that did it
 * is `writer`.
 *
 * @module
 */

import { agentHeader } from "./agent_event.ts";
import type { BaseEvent } from "./event.ts";

/** What happened to the protected file. */
export type FileIntegrityKind =
  /** its content, mode or owner changed */
  | "changed"
  /** it was removed, or another file took its place */
  | "removed"
  /** a process in scope held it open for writing when the agent started */
  | "held_open";

/** A file's state as a file_integrity event shows it. */
export interface FileIntegrityState {
  /** Bytes. */
  size?: number;
  /** Hex SHA-256, when hashed. */
  sha256?: string;
  /** Permission bits and type. */
  mode?: number;
  /** Owner. */
  uid?: number;
  /** Group. */
  gid?: number;
  /** Inode number. */
  ino?: number;
}

/** The process behind a finding, as far as the agent knows it. */
export interface FileIntegrityWriter {
  /** Its pid. */
  pid: number;
  /** Its command name. */
  comm: string;
  /** Its executable, when known. */
  exe?: string;
  /** Whether the kernel or the agent sent it SIGKILL. */
  killed?: boolean;
}

/** A file_integrity event in the JSON-lines contract. */
export interface FileIntegrityEvent extends BaseEvent {
  /** Always "file_integrity". */
  type: "file_integrity";
  /** What the agent found. */
  kind: FileIntegrityKind;
  /** Never set: the kernel's events carry the policy's verdicts. */
  verdict?: undefined;
  /** The protected path (a file under a protected tree, or a literal). */
  path: string;
  /** held_open: the path the fd was opened by, when it differs. */
  other_path?: string;
  /** The process that did it (changed: a kernel event for the file in the
   * last seconds names it; held_open: the holder); absent when unknown. */
  writer?: FileIntegrityWriter;
  /** changed: what changed (`content`, `mode`, `owner`, `inode`). */
  changes?: string[];
  /** The file at the agent's start. */
  before?: FileIntegrityState;
  /** The file as found. */
  after?: FileIntegrityState;
  /** held_open: the fd. */
  fd?: number;
  /** held_open: its open flags, e.g. `["O_WRONLY", "O_APPEND"]`. */
  flags?: string[];
  /** Whether the agent put it right (restored from the start snapshot). */
  repaired: boolean;
  /** A phrase: "restored from the start snapshot", "unknown writer", why
   * it was not restored. */
  detail?: string;
}

/** A file_integrity event from this process, now. */
export function fileIntegrityEvent(
  fields:
    & Omit<FileIntegrityEvent, Exclude<keyof BaseEvent, "kind"> | "verdict">
    & Pick<BaseEvent, "step">,
  time: string = new Date().toISOString(),
): FileIntegrityEvent {
  return {
    type: "file_integrity",
    ...agentHeader(time),
    ...fields,
  } as FileIntegrityEvent;
}
