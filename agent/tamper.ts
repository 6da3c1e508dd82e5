/**
 * Tamper detection: which files under the watched tree were changed, by
 * which process, in which step; and what changed in protected files.
 *
 * A step is the top-level command under the scope root: the child of the
 * root that the writer descends from (the root itself when it wrote). In
 * `ringfence run -- bash -c 'git clone ...; make'` the steps are
 * `git clone ...` and `make`. A file written by more than one step (a
 * source rewritten after checkout) is listed first.
 *
 * Pure logic fed with file_system_events and the process tree, apart from
 * {@linkcode snapshotFiles}, which reads the protected files.
 *
 * @module
 */

import type {
  FileSystemEvent,
  FileSystemKind,
} from "../sensors/file_system.ts";
import type { ProcessNode, ProcessTree } from "./process_tree.ts";

/** The step a writer belonged to. */
export interface TamperStep {
  /** The step's process. */
  pid: number;
  /** Its command line when the write happened. */
  argv: string[];
}

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
  /** The last writer's step, when it descends from a scope root. */
  step?: TamperStep;
  /** Every step that changed the file, first writer first. */
  steps: TamperStep[];
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
  /** Changed files under the watched tree, suspicious ones first. */
  files: TamperEntry[];
  /** Protected files that changed while the agent ran. */
  protected: ProtectedChange[];
}

/** Files larger than this get size and mtime only. */
export const HASH_LIMIT = 1024 * 1024;

/** The step of `pid`: the child of its scope root on its ancestry. */
export function stepOf(
  tree: ProcessTree,
  pid: number,
  isRoot: (node: ProcessNode) => boolean,
): TamperStep | undefined {
  let node = tree.get(pid);
  for (let depth = 0; node && depth < 256; depth++) {
    if (isRoot(node) || (node.parent && isRoot(node.parent))) {
      return {
        pid: node.pid,
        argv: node.argv?.length ? [...node.argv] : [node.path ?? node.comm],
      };
    }
    node = node.parent;
  }
  return undefined;
}

function sameStep(a: TamperStep | undefined, b: TamperStep | undefined) {
  return a?.pid === b?.pid && a?.argv.join("\0") === b?.argv.join("\0");
}

/** Records changed files as file_system_events arrive. */
export class TamperTracker {
  readonly #tree: ProcessTree;
  readonly #isRoot: (node: ProcessNode) => boolean;
  readonly #files = new Map<string, TamperEntry>();
  readonly #limit: number;

  /**
   * @param isRoot tells a scope root (see agent/steps.ts scopeRootTest).
   * @param limit files remembered; later ones are counted, not listed.
   */
  constructor(
    tree: ProcessTree,
    isRoot: (node: ProcessNode) => boolean,
    limit = 100_000,
  ) {
    this.#tree = tree;
    this.#isRoot = isRoot;
    this.#limit = limit;
  }

  /** Takes a file_system_event; reads and secrets are not changes. */
  record(event: FileSystemEvent): void {
    if (event.kind === "read" || event.reason.startsWith("files.secrets")) {
      return;
    }
    const step = stepOf(this.#tree, event.pid, this.#isRoot);
    const exe = event.exe ?? this.#tree.get(event.pid)?.path;
    const paths = event.new_path === undefined
      ? [event.path]
      : [event.path, event.new_path];
    for (const path of paths) {
      let entry = this.#files.get(path);
      if (!entry) {
        if (this.#files.size >= this.#limit) continue;
        entry = {
          path,
          kind: event.kind,
          pid: event.pid,
          comm: event.comm,
          steps: [],
          changes: 0,
        };
        this.#files.set(path, entry);
      }
      entry.kind = event.kind;
      entry.pid = event.pid;
      entry.comm = event.comm;
      entry.changes++;
      if (exe) entry.exe = exe;
      else delete entry.exe;
      entry.step = step;
      if (step && !entry.steps.some((known) => sameStep(known, step))) {
        entry.steps.push(step);
      }
    }
  }

  /** Changed files: those changed by more than one step first. */
  files(): TamperEntry[] {
    const all = [...this.#files.values()];
    return [
      ...all.filter((entry) => entry.steps.length > 1),
      ...all.filter((entry) => entry.steps.length <= 1),
    ];
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

function describeStep(step: TamperStep): string {
  const text = step.argv.join(" ");
  return JSON.stringify(text.length > 120 ? text.slice(0, 119) + "…" : text);
}

function describeState(state: FileState): string {
  if (!state.exists) return "absent";
  const hash = state.sha256 ? ` sha256 ${state.sha256.slice(0, 16)}` : "";
  return `${state.size} bytes, mtime ${state.mtime}${hash}`;
}

/** The report as lines for stderr, one per file. */
export function tamperLines(report: TamperReport): string[] {
  const lines = report.protected.map((change) =>
    `ringfence: protected ${change.path} changed: ${
      describeState(change.before)
    } -> ${describeState(change.after)}`
  );
  for (const entry of report.files.slice(0, MAX_LINES)) {
    const who = `pid ${entry.pid} ${entry.comm}${
      entry.exe ? ` (${entry.exe})` : ""
    }`;
    const step = entry.step ? ` in step ${describeStep(entry.step)}` : "";
    const first = entry.steps.length > 1
      ? ` (first written in step ${describeStep(entry.steps[0])})`
      : "";
    lines.push(
      `ringfence: tampered ${entry.path} (${entry.kind}) by ${who}${step}${first}`,
    );
  }
  if (report.files.length > MAX_LINES) {
    lines.push(
      `ringfence: ... and ${
        report.files.length - MAX_LINES
      } more changed files (see the events)`,
    );
  }
  return lines;
}
