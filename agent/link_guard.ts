/**
 * New hard links to protected files, and their removal. Without BPF LSM
 * nothing refuses a link: the kernel kills the policed process that makes
 * one, after the new name exists. The agent removes the new name (once it
 * has checked that the name still leads to the protected file) and reports
 * it as a finding: a second name is a path to the file that no path rule
 * names.
 *
 * Each second it also counts the names (`st_nlink`) of the literal
 * protected paths: a name that appears without a kernel report (made by a
 * process outside the scope, or in another mount namespace) is reported,
 * not removed, as the agent cannot find it. A protected file that has
 * several names at the start is reported too (not repaired): a process
 * may change it through a name the policy does not know.
 *
 * @module
 */

import type { FileSystemEvent } from "../sensors/events.ts";
import type { PathPattern } from "../sensors/file_system.ts";
import type { FileFinding } from "./file_findings.ts";
import type { Culprit } from "./mount_guard.ts";

/** A file's identity and its count of names. */
interface Identity {
  dev: number;
  ino: number;
  nlink: number;
}

function identity(path: string): Identity | undefined {
  try {
    const info = Deno.lstatSync(path);
    if (!info.isFile || info.dev === null || info.ino === null) return;
    return { dev: info.dev, ino: info.ino, nlink: info.nlink ?? 1 };
  } catch {
    return undefined;
  }
}

/** The agent's watch over hard links to protected files. */
export class LinkGuard {
  readonly #patterns: () => readonly PathPattern[];
  readonly #literal: () => readonly string[];
  readonly #repair: () => boolean;
  readonly #found: (finding: Omit<FileFinding, "time">) => void;
  /** Literal protected path → its names as last counted. */
  readonly #names = new Map<string, number>();
  /** Literal protected paths with more names than counted, last check. */
  #rising = new Set<string>();

  /**
   * @param patterns the protect patterns in force.
   * @param literal the literal protected paths.
   * @param repair whether to remove new names (block mode, kill).
   * @param found takes each finding.
   */
  constructor(
    patterns: () => readonly PathPattern[],
    literal: () => readonly string[],
    repair: () => boolean,
    found: (finding: Omit<FileFinding, "time">) => void,
  ) {
    this.#patterns = patterns;
    this.#literal = literal;
    this.#repair = repair;
    this.#found = found;
    for (const path of literal()) {
      const file = identity(path);
      if (!file) continue;
      this.#names.set(path, file.nlink);
      if (file.nlink > 1) {
        found({
          path,
          kind: "hard_linked",
          repaired: false,
          detail: `${file.nlink} names when the agent started: ` +
            "a process outside the policy may write through another",
        });
      }
    }
  }

  /**
   * Takes the kernel's report of a link (`path` the existing name,
   * `new_path` the new one): a new name for a protected file is removed.
   */
  linked(event: FileSystemEvent, culprit: Culprit): void {
    if (event.kind !== "link" || event.new_path === undefined) return;
    const added = identity(event.new_path);
    if (!added) return this.#moved(event, culprit);
    const target = this.#target(event.path, added);
    if (!target) return;
    let repaired = false, detail: string;
    if (this.#repair()) {
      // The name may have been replaced since: only the same file goes.
      const now = identity(event.new_path);
      if (now?.dev === added.dev && now.ino === added.ino) {
        try {
          Deno.removeSync(event.new_path);
          repaired = true;
          detail = "the new name removed by the agent";
        } catch (error) {
          detail = `cannot remove the new name: ${(error as Error).message}`;
        }
      } else detail = "the new name changed before the agent could remove it";
    } else detail = "left in place: the policy does not enforce";
    const counted = identity(target);
    if (counted && this.#names.has(target)) {
      this.#names.set(target, counted.nlink);
    }
    this.#found({
      path: target,
      kind: "hard_linked",
      other_path: event.new_path,
      repaired,
      detail,
      pid: culprit.pid,
      ...(culprit.exe ? { exe: culprit.exe } : {}),
      ...(culprit.step ? { step: culprit.step } : {}),
    });
  }

  /**
   * A link whose new name is gone by the time the agent looks: when the
   * protected file has more names than before, it was renamed away, to
   * where the agent cannot tell.
   */
  #moved(event: FileSystemEvent, culprit: Culprit): void {
    if (!this.#patterns().some((pattern) => pattern.matches(event.path))) {
      return;
    }
    const file = identity(event.path);
    const before = this.#names.get(event.path) ?? 1;
    if (!file || file.nlink <= before) return;
    this.#names.set(event.path, file.nlink);
    this.#found({
      path: event.path,
      kind: "hard_linked",
      other_path: event.new_path,
      repaired: false,
      detail: `the new name moved before the agent could remove it ` +
        `(${file.nlink} names)`,
      pid: culprit.pid,
      ...(culprit.exe ? { exe: culprit.exe } : {}),
      ...(culprit.step ? { step: culprit.step } : {}),
    });
  }

  /** The protected path `added` (a new name of `path`) is, if any. */
  #target(path: string, added: Identity): string | undefined {
    if (this.#patterns().some((pattern) => pattern.matches(path))) {
      const file = identity(path);
      if (file?.dev === added.dev && file.ino === added.ino) return path;
    }
    return this.#literal().find((literal) => {
      const file = identity(literal);
      return file?.dev === added.dev && file.ino === added.ino;
    });
  }

  /**
   * Counts the names of the literal protected paths: more than last time,
   * twice in a row (a kernel report in between is handled by
   * {@linkcode linked}), is a finding.
   */
  check(): void {
    const rising = new Set<string>();
    for (const path of this.#literal()) {
      const file = identity(path);
      if (!file) continue;
      const before = this.#names.get(path);
      if (before === undefined || file.nlink <= before) {
        this.#names.set(path, file.nlink);
        continue;
      }
      if (!this.#rising.has(path)) {
        rising.add(path);
        continue;
      }
      this.#names.set(path, file.nlink);
      this.#found({
        path,
        kind: "hard_linked",
        repaired: false,
        detail: `${file.nlink - before} new ${
          file.nlink - before === 1 ? "name" : "names"
        } (${file.nlink} in all) made where the agent cannot see`,
      });
    }
    this.#rising = rising;
  }
}
