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
 * Pure logic fed with file_system_events, apart from
 * {@linkcode snapshotFiles}, which reads the protected files.
 *
 * @module
 */

import type {
  FileSystemEvent,
  FileSystemKind,
} from "../sensors/file_system.ts";

/** One changed file. */
export interface TamperEntry {
  /** The file. */
  path: string;
  /** The last change: open (for writing), create, unlink, rename, ... */
  kind: FileSystemKind;
  /** The last writer. */
  pid: number;
  comm: string;
  exe?: string;
  /** The last writer's step, when it can be told. */
  step?: string;
  /** The step whose checkout wrote the file, when one did. */
  checkout?: string;
  /** Changed by something other than the checkout after it. */
  tampered: boolean;
  /** Changes seen. */
  changes: number;
}

/** A protected file's state. */
export interface FileState {
  exists: boolean;
  size?: number;
  /** ISO 8601. */
  mtime?: string;
  /** Hex; only for files up to {@linkcode HASH_LIMIT} bytes. */
  sha256?: string;
}

/** A protected file whose state differs between start and stop. */
export interface ProtectedChange {
  path: string;
  before: FileState;
  after: FileState;
}

/** What `agent.tamperReport()` returns. */
export interface TamperReport {
  /** Changed files under the watched tree, tampered ones first. */
  files: TamperEntry[];
  /** Protected files that changed while the agent ran. */
  protected: ProtectedChange[];
  /** Changed files beyond the tracker's limit, not listed. */
  omitted?: number;
}

/** Files larger than this get size and mtime only. */
export const HASH_LIMIT = 1024 * 1024;

/** Whether `event` was made by a checkout (see the module doc). */
export function isCheckout(event: FileSystemEvent): boolean {
  if (event.comm === "git" || event.comm.startsWith("git-")) return true;
  const exe = event.exe?.split("/").pop();
  if (exe === "git" || exe?.startsWith("git-")) return true;
  return event.step?.action?.toLowerCase() === "actions/checkout";
}

function stepName(step: FileSystemEvent["step"]): string | undefined {
  if (!step) return undefined;
  return step.action ? `${step.name} (${step.action})` : step.name;
}

/** Records changed files as file_system_events arrive. */
export class TamperTracker {
  readonly #files = new Map<string, TamperEntry>();
  readonly #limit: number;
  #omitted = 0;

  /** @param limit files remembered; later ones are counted, not listed. */
  constructor(limit = 100_000) {
    this.#limit = limit;
  }

  /**
   * Takes a file_system_event (after step attribution). When it tampers
   * with a checked-out file, returns the checkout's step (or comm).
   * Reads of secrets are not changes.
   */
  record(event: FileSystemEvent): string | undefined {
    if (event.kind === "read" || event.reason.startsWith("files.secrets")) {
      return undefined;
    }
    const checkout = isCheckout(event);
    const step = stepName(event.step);
    let tampered: string | undefined;
    const paths = event.new_path === undefined
      ? [event.path]
      : [event.path, event.new_path];
    for (const path of paths) {
      let entry = this.#files.get(path);
      if (!entry) {
        if (this.#files.size >= this.#limit) {
          this.#omitted++;
          continue;
        }
        entry = {
          path,
          kind: event.kind,
          pid: event.pid,
          comm: event.comm,
          tampered: false,
          changes: 0,
        };
        this.#files.set(path, entry);
      }
      entry.kind = event.kind;
      entry.pid = event.pid;
      entry.comm = event.comm;
      entry.changes++;
      if (event.exe) entry.exe = event.exe;
      else delete entry.exe;
      if (step) entry.step = step;
      else delete entry.step;
      if (checkout) entry.checkout ??= step ?? event.comm;
      else if (entry.checkout !== undefined) {
        entry.tampered = true;
        tampered ??= entry.checkout;
      }
    }
    return tampered;
  }

  /** Changed files: tampered ones first. */
  files(): TamperEntry[] {
    const all = [...this.#files.values()];
    return [
      ...all.filter((entry) => entry.tampered),
      ...all.filter((entry) => !entry.tampered),
    ];
  }

  /** Files changed beyond the limit, not listed. */
  get omitted(): number {
    return this.#omitted;
  }
}

/** Reads size, mtime and (up to 1 MiB) sha256 of each path. */
export async function snapshotFiles(
  paths: readonly string[],
): Promise<Map<string, FileState>> {
  const states = new Map<string, FileState>();
  for (const path of paths) {
    try {
      const info = await Deno.stat(path);
      const state: FileState = {
        exists: true,
        size: info.size,
        mtime: info.mtime?.toISOString(),
      };
      if (info.isFile && info.size <= HASH_LIMIT) {
        const digest = await crypto.subtle.digest(
          "SHA-256",
          await Deno.readFile(path),
        );
        state.sha256 = Array.from(
          new Uint8Array(digest),
          (byte) => byte.toString(16).padStart(2, "0"),
        ).join("");
      }
      states.set(path, state);
    } catch {
      states.set(path, { exists: false });
    }
  }
  return states;
}

/** Protected files whose state changed between two snapshots. */
export function diffSnapshots(
  before: ReadonlyMap<string, FileState>,
  after: ReadonlyMap<string, FileState>,
): ProtectedChange[] {
  const changes: ProtectedChange[] = [];
  for (const [path, old] of before) {
    const now = after.get(path) ?? { exists: false };
    if (
      old.exists !== now.exists || old.size !== now.size ||
      old.mtime !== now.mtime || old.sha256 !== now.sha256
    ) changes.push({ path, before: old, after: now });
  }
  return changes;
}

/** At most this many tampered files are printed; the rest are counted. */
export const MAX_LINES = 50;

/** `12 bytes, mtime … sha256 …` (its first 16 hex digits), or `absent`. */
export function describeFileState(state: FileState): string {
  if (!state.exists) return "absent";
  const hash = state.sha256 ? ` sha256 ${state.sha256.slice(0, 16)}` : "";
  return `${state.size} bytes, mtime ${state.mtime}${hash}`;
}

function quoted(text: string): string {
  return JSON.stringify(text.length > 120 ? text.slice(0, 119) + "…" : text);
}

/** The report as lines for stderr: one per tampered or protected file. */
export function tamperLines(report: TamperReport): string[] {
  const lines = report.protected.map((change) =>
    `ringfence: protected ${change.path} changed: ${
      describeFileState(change.before)
    } -> ${describeFileState(change.after)}`
  );
  const tampered = report.files.filter((entry) => entry.tampered);
  for (const entry of tampered.slice(0, MAX_LINES)) {
    const who = `pid ${entry.pid} ${entry.comm}${
      entry.exe ? ` (${entry.exe})` : ""
    }`;
    const step = entry.step ? ` in step ${quoted(entry.step)}` : "";
    lines.push(
      `ringfence: tampered ${entry.path} (${entry.kind}) by ${who}${step}, after checkout by ${
        quoted(entry.checkout!)
      }`,
    );
  }
  if (tampered.length > MAX_LINES) {
    lines.push(
      `ringfence: ... and ${
        tampered.length - MAX_LINES
      } more tampered files (see the events)`,
    );
  }
  const others = report.files.length - tampered.length + (report.omitted ?? 0);
  if (others) {
    lines.push(
      `ringfence: ${others} other ${
        others === 1 ? "file" : "files"
      } changed under files.watch (see the events)`,
    );
  }
  return lines;
}
