/**
 * Tamper detection: which files under `files.watch` were changed, by which
 * process and step, and which of them are sources rewritten after the
 * checkout; plus what changed in protected files.
 *
 * A file is **checked out** when a checkout writes it: a git process (comm
 * `git` or `git-*`, as `git clone`, `git checkout`, `git pull` and
 * actions/checkout run) or any process of an `actions/checkout` step. A
 * checked-out file that anything else then writes, truncates, renames,
 * replaces (write a temporary file, rename it over: `sed -i`, editors),
 * chmods or unlinks is **tampered**: its event gets `tamper: true` and the
 * report lists it first. Files written only by the build (outputs, caches)
 * are changes, counted and listed after.
 *
 * Only a checkout the agent saw counts: files that were already on disk
 * when it started are changes, not tampering. Steps come from the events'
 * `step` (agent/steps.ts), so a GitHub step name, a GitLab job or the
 * top-level command.
 *
 * Pure logic fed with file_system_events; the protected files themselves
 * are read by agent/file_snapshot.ts.
 *
 * @module
 */

import { kernelDev } from "../sensors/device.ts";
import { kernelDevOf } from "./recent_writers.ts";
import type { FileFinding } from "./file_findings.ts";
import type {
  FileSystemEvent,
  FileSystemKind,
} from "../sensors/file_system.ts";
import type { FileSystemSummaryEvent } from "../sensors/file_system_summary.ts";

/** A checked-out file changed by something other than a checkout. */
export interface TamperEntry {
  /** The file. */
  path: string;
  /** The last change: open (for writing), create, unlink, rename, ... */
  kind: FileSystemKind;
  /** The last writer. */
  pid: number;
  /** Its command name. */
  comm: string;
  /** Its executable, when known. */
  exe?: string;
  /** The last writer's step, when it can be told. */
  step?: string;
  /** The step (or command) of the checkout that wrote the file. */
  checkout: string;
  /** Changes seen since the checkout. */
  changes: number;
  /**
   * Found when the agent stopped, not by an event: the file was gone or
   * another file when no event had named a change to it (a change made
   * through a path with a symbolic link in it, say). `pid` is 0 then.
   */
  atStop?: boolean;
}

/** What the sweep at stop needs of a path: lstat's dev and inode. */
export type Lstat = (path: string) => { dev: number; ino: number } | null;

/** A file a checkout wrote: its checkout, and its inode when known. */
interface CheckedOut {
  checkout: number;
  /** The kernel's encoding of its device (agent/recent_writers.ts). */
  dev?: number;
  ino?: number;
}

/** A protected file's state. */
export interface FileState {
  /** Whether the path existed. */
  exists: boolean;
  /** Its size in bytes, when it existed. */
  size?: number;
  /** ISO 8601. */
  mtime?: string;
  /** Hex, when the snapshot hashed it (agent/file_snapshot.ts limits). */
  sha256?: string;
  /** Permission bits and file type, when known. */
  mode?: number;
  /** Owner, when known. */
  uid?: number;
  /** Group, when known. */
  gid?: number;
}

/** A protected file whose state differs between start and stop. */
export interface ProtectedChange {
  /** The protected path. */
  path: string;
  /** Its state when the agent started. */
  before: FileState;
  /** Its state when the agent stopped. */
  after: FileState;
}

/** What `agent.tamperReport()` returns. */
export interface TamperReport {
  /** Checked-out files under the watched tree changed since. */
  files: TamperEntry[];
  /** Protected files that changed while the agent ran. */
  protected: ProtectedChange[];
  /** Other changes under `files.watch` (build outputs and the like). */
  otherChanges?: number;
  /** What was found wrong with protected files while the agent ran. */
  findings?: FileFinding[];
  /** What the protection did not cover, one sentence each (e.g. more
   * files than the kernel's inode map holds). */
  coverage?: string[];
}

/** Whether `event` was made by a checkout (see the module doc). */
export function isCheckout(event: FileSystemEvent): boolean {
  if (event.comm === "git" || event.comm.startsWith("git-")) return true;
  const exe = event.exe;
  if (exe !== undefined) {
    // The base name, compared in place.
    const base = exe.lastIndexOf("/") + 1;
    if (exe.length - base === 3 && exe.endsWith("git")) return true;
    if (exe.startsWith("git-", base)) return true;
  }
  return event.step?.action?.toLowerCase() === "actions/checkout";
}

function stepName(step: FileSystemEvent["step"]): string | undefined {
  if (!step) return undefined;
  return step.action ? `${step.name} (${step.action})` : step.name;
}

/**
 * Records checked-out files and changes to them as file_system_events
 * arrive. Memory grows with the files checkouts wrote (a path and a small
 * number each) and the files tampered with, not with the build's outputs,
 * which are only counted.
 */
export class TamperTracker {
  /** checked-out path → its checkout (index in #checkouts) and inode */
  readonly #checkedOut = new Map<string, CheckedOut>();
  readonly #checkouts: string[] = [];
  readonly #tampered = new Map<string, TamperEntry>();
  readonly #limit: number;
  #otherChanges = 0;
  #omitted = 0;

  /**
   * @param limit checked-out files remembered, and likewise tampered files
   *   listed; beyond it, changes are counted.
   */
  constructor(limit = 200_000) {
    this.#limit = limit;
  }

  /**
   * Takes a file_system_event (after step attribution). When it tampers
   * with a checked-out file, returns the checkout's step (or comm).
   * Only `files.watch` changes count: protected writes and reads of
   * secrets are reported on their own.
   */
  record(event: FileSystemEvent): string | undefined {
    if (event.kind === "read" || !event.reason.startsWith("files.watch")) {
      return undefined;
    }
    // A hard link leaves its file as it was: only the new name is a change.
    const first = event.new_path !== undefined && event.kind === "link"
      ? event.new_path
      : event.path;
    const second = event.new_path !== undefined && event.kind !== "link"
      ? event.new_path
      : undefined;
    if (isCheckout(event)) {
      const name = stepName(event.step) ?? event.comm;
      let index = this.#checkouts.lastIndexOf(name);
      if (index === -1) index = this.#checkouts.push(name) - 1;
      if (event.kind === "unlink" || event.kind === "rmdir") {
        // A checkout removed it: its absence at stop is no tampering.
        this.#checkedOut.delete(first);
      } else if (second !== undefined) {
        // A rename by the checkout: the file (its inode) moves.
        const moved = this.#checkedOut.get(first);
        this.#checkedOut.delete(first);
        this.#checkOut(second, index, moved?.dev, moved?.ino);
      } else if (event.inode) {
        this.#checkOut(
          first,
          index,
          kernelDevOf(event.inode.dev),
          event.inode.ino,
        );
      } else this.#checkOut(first, index);
      return undefined;
    }
    if (this.#checkedOut.size === 0) {
      // Nothing checked out: every change is another change.
      this.#otherChanges += second === undefined ? 1 : 2;
      return undefined;
    }
    let tampered: string | undefined;
    for (const path of second === undefined ? [first] : [first, second]) {
      const checkedOut = this.#checkedOut.get(path);
      if (checkedOut === undefined) {
        this.#otherChanges++;
        continue;
      }
      const checkout = this.#checkouts[checkedOut.checkout];
      tampered ??= checkout;
      let entry = this.#tampered.get(path);
      if (!entry) {
        if (this.#tampered.size >= this.#limit) {
          this.#omitted++;
          continue;
        }
        entry = {
          path,
          checkout,
          kind: event.kind,
          pid: 0,
          comm: "",
          changes: 0,
        };
        this.#tampered.set(path, entry);
      }
      entry.kind = event.kind;
      entry.pid = event.pid;
      entry.comm = event.comm;
      entry.changes++;
      if (event.exe) entry.exe = event.exe;
      else delete entry.exe;
      const step = stepName(event.step);
      if (step) entry.step = step;
      else delete entry.step;
    }
    return tampered;
  }

  /**
   * Counts a summary's changes as other changes, as its events would have
   * counted one by one: a summary never holds a checkout's change nor a
   * change to a checked-out file (bpf/lib/bulk.h retires a root a
   * checkout writes under). A rename counts both its paths.
   */
  recordSummary(summary: FileSystemSummaryEvent): void {
    this.#otherChanges += summary.total + (summary.counts.rename ?? 0);
  }

  #checkOut(path: string, index: number, dev?: number, ino?: number): void {
    const known = this.#checkedOut.get(path);
    if (known) {
      // Written again by a checkout: its file is the one written last.
      if (ino !== undefined) {
        known.dev = dev;
        known.ino = ino;
      }
      return;
    }
    if (this.#checkedOut.size < this.#limit) {
      this.#checkedOut.set(
        path,
        ino === undefined ? { checkout: index } : { checkout: index, dev, ino },
      );
    } else this.#omitted++;
  }

  /**
   * Looks, once the job is over, at every checked-out file that no event
   * named as changed: one that is gone, or whose inode is another, was
   * changed by a path the events did not give as its own (a name through
   * a symbolic link to its directory: `rm node_modules/x/main.ts` with
   * `x -> ../src`). Only a file whose inode a checkout's event gave is
   * judged, and a missing one only when its nearest existing directory is
   * on the same device: a path that only a container sees is neither.
   * Returns the entries it adds.
   */
  sweep(lstat: Lstat): TamperEntry[] {
    const found: TamperEntry[] = [];
    const dirs = new Map<string, number | null>();
    const devOf = (path: string): number | null => {
      let dev = dirs.get(path);
      if (dev === undefined) {
        const stat = lstat(path);
        dev = stat ? kernelDev(stat.dev) : null;
        dirs.set(path, dev);
      }
      return dev;
    };
    for (const [path, checkedOut] of this.#checkedOut) {
      if (checkedOut.ino === undefined || this.#tampered.has(path)) continue;
      const stat = lstat(path);
      let kind: FileSystemKind | undefined;
      if (stat) {
        if (
          kernelDev(stat.dev) === checkedOut.dev && stat.ino !== checkedOut.ino
        ) kind = "rename";
      } else {
        let dir = path;
        let dev: number | null = null;
        while (dev === null && dir.lastIndexOf("/") > 0) {
          dir = dir.slice(0, dir.lastIndexOf("/"));
          dev = devOf(dir);
        }
        if (dev !== null && dev === checkedOut.dev) kind = "unlink";
      }
      if (kind === undefined) continue;
      if (this.#tampered.size >= this.#limit) {
        this.#omitted++;
        continue;
      }
      const entry: TamperEntry = {
        path,
        kind,
        pid: 0,
        comm: "",
        checkout: this.#checkouts[checkedOut.checkout],
        changes: 1,
        atStop: true,
      };
      this.#tampered.set(path, entry);
      found.push(entry);
    }
    return found;
  }

  /** Checked-out files changed by something else, first changed first. */
  files(): TamperEntry[] {
    return [...this.#tampered.values()];
  }

  /** Changes under `files.watch` to files no checkout wrote. */
  get otherChanges(): number {
    return this.#otherChanges;
  }

  /** Files beyond the limit: neither remembered nor listed. */
  get omitted(): number {
    return this.#omitted;
  }
}

/**
 * Protected files whose state changed between two snapshots: changed,
 * removed (absent after), and added (absent before, or not in `before`).
 * Mode and owner are compared where both snapshots have them.
 */
export function diffSnapshots(
  before: ReadonlyMap<string, FileState>,
  after: ReadonlyMap<string, FileState>,
): ProtectedChange[] {
  const changes: ProtectedChange[] = [];
  const absent: FileState = { exists: false };
  const differ = (a: number | undefined, b: number | undefined) =>
    a !== undefined && b !== undefined && a !== b;
  for (const path of new Set([...before.keys(), ...after.keys()])) {
    const old = before.get(path) ?? absent;
    const now = after.get(path) ?? absent;
    if (
      old.exists !== now.exists || old.size !== now.size ||
      old.mtime !== now.mtime || old.sha256 !== now.sha256 ||
      differ(old.mode, now.mode) || differ(old.uid, now.uid) ||
      differ(old.gid, now.gid)
    ) changes.push({ path, before: old, after: now });
  }
  return changes;
}
