/**
 * The protected files' start snapshot: for each file its inode, size,
 * mode, owner and times, its SHA-256, and for small files the content
 * itself, kept in the agent's memory (never on disk, where a step could
 * reach it) so that a change can be put back.
 *
 * Budgets keep the start short and the memory bounded: files up to
 * {@linkcode SNAPSHOT_LIMITS}.keepFile bytes are kept (and compared byte
 * for byte), until `keepTotal` bytes are; other files up to `hashFile`
 * bytes are hashed, until `hashTotal` bytes are. A file beyond them is compared by size, mtime,
 * ctime and inode only, and a change to it is reported, not restored.
 *
 * @module
 */

import { sha256Hex } from "./sha256.ts";
import type { FileState } from "./tamper.ts";

/** How much of the protected files is read at start. */
export interface SnapshotLimits {
  /** Largest file whose content is kept. */
  keepFile: number;
  /** Content kept in all. */
  keepTotal: number;
  /** Largest file hashed. */
  hashFile: number;
  /** Bytes hashed in all. */
  hashTotal: number;
}

/** The budgets of the start snapshot. */
export const SNAPSHOT_LIMITS: SnapshotLimits = {
  keepFile: 1024 * 1024,
  keepTotal: 32 * 1024 * 1024,
  hashFile: 64 * 1024 * 1024,
  hashTotal: 512 * 1024 * 1024,
};

/** A protected file as the snapshot holds it. */
export interface FileRecord extends FileState {
  /** stat's st_dev (glibc encoding), when it existed. */
  dev?: number;
  /** Inode number, when it existed. */
  ino?: number;
  /** Permission bits and type, when it existed. */
  mode?: number;
  /** Owner, when it existed. */
  uid?: number;
  /** Group, when it existed. */
  gid?: number;
  /** ISO 8601, when it existed. */
  ctime?: string;
  /** A directory. */
  dir?: boolean;
  /** Its bytes, when within the budget. */
  content?: Uint8Array;
  /** atime and mtime as stat said them, to put back after a restore. */
  times?: { atime: Date | null; mtime: Date | null };
}

/** The state of one path, lstat'ed (a symlink is not followed). */
export async function readRecord(
  path: string,
  budget: { hash: number; keep: number } | undefined,
  limits: SnapshotLimits = SNAPSHOT_LIMITS,
  follow = false,
): Promise<FileRecord> {
  let info: Deno.FileInfo;
  try {
    // Sync: a few microseconds each, where an async op costs a round trip
    // of the event loop, thousands of times at start.
    info = follow ? Deno.statSync(path) : Deno.lstatSync(path);
  } catch {
    return { exists: false };
  }
  const record: FileRecord = {
    exists: true,
    size: info.size,
    mtime: info.mtime?.toISOString(),
    ctime: info.ctime?.toISOString(),
    dev: info.dev,
    ino: info.ino ?? undefined,
    mode: info.mode ?? undefined,
    uid: info.uid ?? undefined,
    gid: info.gid ?? undefined,
    times: { atime: info.atime, mtime: info.mtime },
  };
  if (info.isDirectory) record.dir = true;
  if (!info.isFile) return record;
  // A file whose content is kept is compared byte for byte: its hash is
  // taken only when an event or the report shows it (withSha256).
  const keep = info.size <= limits.keepFile &&
    (!budget || budget.keep >= info.size);
  const hash = !keep && info.size <= limits.hashFile &&
    (!budget || budget.hash >= info.size);
  if (!keep && !hash) return record;
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return record;
  }
  if (keep) {
    if (budget) budget.keep -= bytes.length;
    record.content = bytes;
  } else {
    if (budget) budget.hash -= bytes.length;
    record.sha256 = await sha256Hex(bytes);
  }
  return record;
}

/** Fills in the SHA-256 of a record whose content is kept; returns it. */
export async function withSha256(record: FileRecord): Promise<FileRecord> {
  if (record.sha256 === undefined && record.content) {
    record.sha256 = await sha256Hex(record.content);
  }
  return record;
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) {
    if (a[index] !== b[index]) return false;
  }
  return true;
}

/**
 * Whether two records have the same content: by bytes or by hash;
 * undefined when neither can tell (then size and mtime do).
 */
export function sameContent(
  a: FileRecord,
  b: FileRecord,
): boolean | undefined {
  if (a.content && b.content) return bytesEqual(a.content, b.content);
  if (a.sha256 !== undefined && b.sha256 !== undefined) {
    return a.sha256 === b.sha256;
  }
  if (a.size !== b.size) return false;
  return undefined;
}

/**
 * Reads `paths` within `limits`, one after the other: the first paths get
 * the budget first (literal paths, then trees breadth first).
 */
export async function takeSnapshot(
  paths: readonly string[],
  limits: SnapshotLimits = SNAPSHOT_LIMITS,
  budget = { hash: limits.hashTotal, keep: limits.keepTotal },
): Promise<Map<string, FileRecord>> {
  const records = new Map<string, FileRecord>();
  for (const path of paths) {
    records.set(path, await readRecord(path, budget, limits));
  }
  return records;
}

/** What differs between a file's snapshot and its state now; [] when nothing. */
export function recordChanges(before: FileRecord, now: FileRecord): string[] {
  if (before.exists !== now.exists) return [now.exists ? "created" : "removed"];
  if (!before.exists) return [];
  const changes: string[] = [];
  if (before.dev !== now.dev || before.ino !== now.ino) changes.push("inode");
  if (before.dir !== now.dir) changes.push("type");
  if (before.dir) {
    if (before.mode !== now.mode) changes.push("mode");
    if (before.uid !== now.uid || before.gid !== now.gid) changes.push("owner");
    return changes;
  }
  const same = sameContent(before, now);
  if (same === false || (same === undefined && before.mtime !== now.mtime)) {
    changes.push("content");
  }
  if (before.mode !== now.mode) changes.push("mode");
  if (before.uid !== now.uid || before.gid !== now.gid) changes.push("owner");
  return changes;
}

/** The fields of a record the stop's diff and the report show. */
export function fileState(record: FileRecord): FileState {
  if (!record.exists) return { exists: false };
  const state: FileState = {
    exists: true,
    size: record.size,
    mtime: record.mtime,
  };
  if (record.sha256) state.sha256 = record.sha256;
  if (record.mode !== undefined) state.mode = record.mode;
  if (record.uid !== undefined) state.uid = record.uid;
  if (record.gid !== undefined) state.gid = record.gid;
  return state;
}
