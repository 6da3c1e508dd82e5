/**
 * The `files` rules as sensor.file-system applies them: the kernel's share
 * of each pattern (a literal prefix or last segment it can look up), and
 * the final match in user space of what the kernel sends.
 *
 * The input types here are the sensor's own: agent/file_policy.ts maps a
 * policy onto them.
 *
 * @module
 */

import {
  FileClass,
  type FileSystemMaps,
  NAME_MAX,
  PREFIX_MAX,
} from "./file_system_maps.ts";
import type {
  FileSystemEvent,
  RawFileSystemEvent,
} from "./file_system_event.ts";
import { InstallScriptRule } from "./install_scripts.ts";

/**
 * The literal part of a pattern. `exact`: every path the literal part
 * admits matches the pattern.
 */
export type PatternLiteral =
  /** The pattern is this one path. */
  | { kind: "path"; path: string }
  /** Paths under the directory `prefix` (it ends in "/"). */
  | { kind: "prefix"; prefix: string; exact: boolean }
  /** Paths whose last segment is `name`. */
  | { kind: "name"; name: string; exact: boolean }
  /** Nothing literal: any path may match. */
  | { kind: "none" };

/** A compiled path pattern (policy/glob.ts's `Glob` is one). */
export interface PathPattern {
  /** The pattern as written, quoted in reasons. */
  readonly text: string;
  /** Whether a normalised absolute path matches. */
  matches(path: string): boolean;
  /** The pattern's literal part, which the kernel filters on. */
  readonly literal: PatternLiteral;
}

/** The `files` rules, compiled. */
export interface FileRulesConfig {
  /** Writes to report. */
  watch: readonly PathPattern[];
  /** Writes to report as denied (or audit), and to stop when enforced. */
  protect: readonly PathPattern[];
  /** Reads to report. */
  secrets: readonly PathPattern[];
  /** Whether a protected write is enforced (block mode, action kill). */
  enforce: boolean;
  /** dependencies.install_scripts' file rules, when it has them. */
  installScripts?: InstallScriptFiles;
  /** files.detail: summary: bulk roots' changes are counted in the kernel. */
  summary?: boolean;
}

/**
 * What an install script may not touch (dependencies.install_scripts,
 * `files: protect-secrets`) besides `files.secrets` and `files.protect`:
 * the kernel judges the patterns it matches exactly.
 */
export interface InstallScriptFiles {
  /** Credential files whose read is a violation. */
  secrets: readonly PathPattern[];
  /** Paths whose change is a violation (the workspace's `.github`). */
  protect: readonly PathPattern[];
  /** `InstallScriptRule` bits (./install_scripts.ts). */
  rule: number;
}

/** How the kernel narrows the paths a pattern may match. */
export type KernelPlan =
  /** Paths starting with `prefix` (a whole path ends in "\0"). */
  | { kind: "prefix"; prefix: string; exact: boolean }
  /** Paths whose last segment is `name`. */
  | { kind: "name"; name: string; exact: boolean }
  /** No literal part the kernel can use: every path is sent. */
  | { kind: "all"; exact: false };

/**
 * The kernel's share of a pattern: its literal part as far as the maps
 * hold it. A whole path is stored with its NUL so that it matches only
 * itself; a prefix longer than the trie compares is cut, and no longer
 * exact; a name too long for the name map leaves every path to user space.
 */
export function kernelPlan(literal: PatternLiteral): KernelPlan {
  switch (literal.kind) {
    case "path":
      return fitPrefix(literal.path + "\0", true);
    case "prefix":
      return fitPrefix(literal.prefix, literal.exact);
    case "name":
      return new TextEncoder().encode(literal.name).length < NAME_MAX
        ? literal
        : { kind: "all", exact: false };
    case "none":
      return { kind: "all", exact: false };
  }
}

function fitPrefix(prefix: string, exact: boolean): KernelPlan {
  const encoded = new TextEncoder().encode(prefix);
  if (encoded.length <= PREFIX_MAX) return { kind: "prefix", prefix, exact };
  let end = PREFIX_MAX;
  // Back off to a character boundary.
  while (end > 0 && (encoded[end] & 0xc0) === 0x80) end--;
  return {
    kind: "prefix",
    prefix: new TextDecoder().decode(encoded.subarray(0, end)),
    exact: false,
  };
}

/**
 * The directories at or above a pattern the kernel matches exactly: for a
 * literal path, every ancestor up to "/"; for a literal directory followed
 * by `/**`, that directory and every ancestor. Nothing for the rest: their
 * literal part is no tree the kernel holds exactly.
 */
export function aboveDirectories(literal: PatternLiteral): string[] {
  const plan = kernelPlan(literal);
  if (plan.kind !== "prefix" || !plan.exact) return [];
  let directory: string;
  if (literal.kind === "path") {
    directory = normalizePath(literal.path + "/..");
  } else if (literal.kind === "prefix") {
    directory = normalizePath(literal.prefix);
  } else return [];
  const out = [directory];
  while (directory !== "/") {
    directory = normalizePath(directory + "/..");
    out.push(directory);
  }
  return out;
}

/**
 * Lexical normalisation of an absolute path: `//` and `.` dropped, `..`
 * takes one segment off (never above `/`). Symlinks are not followed.
 */
export function normalizePath(path: string): string {
  if (isNormal(path)) return path;
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return "/" + out.join("/");
}

/**
 * Whether normalizePath() would return `path` as it is: absolute, with no
 * empty, `.` or `..` segment and no trailing `/` (`/` alone is normal).
 * What the kernel sends mostly is; the test allocates nothing.
 */
function isNormal(path: string): boolean {
  const length = path.length;
  if (length === 0 || path.charCodeAt(0) !== 0x2f) return false;
  if (length === 1) return true;
  if (path.charCodeAt(length - 1) === 0x2f) return false;
  // Each segment starts after a `/`: look at its first two characters.
  for (let index = 0; index < length; index++) {
    if (path.charCodeAt(index) !== 0x2f) continue;
    const first = path.charCodeAt(index + 1);
    if (first === 0x2f) return false;
    if (first !== 0x2e) continue;
    const second = index + 2 < length ? path.charCodeAt(index + 2) : 0x2f;
    if (second === 0x2f) return false;
    if (second === 0x2e) {
      const third = index + 3 < length ? path.charCodeAt(index + 3) : 0x2f;
      if (third === 0x2f) return false;
    }
  }
  return true;
}

/** The first of `patterns` that matches `path` or `newPath`. */
function firstMatch(
  patterns: readonly PathPattern[],
  path: string,
  newPath: string | undefined,
): PathPattern | undefined {
  // An index loop: for-of allocates an iterator per call.
  for (let index = 0; index < patterns.length; index++) {
    const pattern = patterns[index];
    if (
      pattern.matches(path) ||
      (newPath !== undefined && pattern.matches(newPath))
    ) return pattern;
  }
  return undefined;
}

/**
 * `${section} ${JSON.stringify(pattern.text)}`, made once per pattern:
 * the reason of every event the pattern matches.
 */
class Reasons {
  readonly #section: string;
  readonly #texts = new Map<PathPattern, string>();

  constructor(section: string) {
    this.#section = section;
  }

  of(pattern: PathPattern): string {
    let text = this.#texts.get(pattern);
    if (text === undefined) {
      text = `${this.#section} ${JSON.stringify(pattern.text)}`;
      this.#texts.set(pattern, text);
    }
    return text;
  }
}

/**
 * The `files` rules: what the kernel filters on, and the final match of
 * the events it sends.
 */
export class FileSystemRules {
  readonly #watch: readonly PathPattern[];
  readonly #protect: readonly PathPattern[];
  readonly #secrets: readonly PathPattern[];
  readonly #install: InstallScriptFiles | undefined;
  /** Whether a protected write is enforced (block mode, action kill). */
  readonly enforce: boolean;
  /** Whether bulk roots' changes are summarised (files.detail). */
  readonly summary: boolean;
  readonly #watchReasons = new Reasons("files.watch");
  readonly #secretReasons = new Reasons("files.secrets");

  /** Rules of `config`. */
  constructor(config: FileRulesConfig) {
    this.#watch = config.watch;
    this.#protect = config.protect;
    this.#secrets = config.secrets;
    this.#install = config.installScripts;
    this.enforce = config.enforce;
    this.summary = config.summary ?? false;
  }

  /** The compiled `files.watch` patterns. */
  get watchPatterns(): readonly PathPattern[] {
    return this.#watch;
  }

  /** The protect patterns, those the agent adds included. */
  get protectPatterns(): readonly PathPattern[] {
    return this.#protect;
  }

  /** Literal protected paths (those without wildcards). */
  get protectedPaths(): string[] {
    return this.#protect.filter((pattern) => pattern.literal.kind === "path")
      .map((pattern) => pattern.text);
  }

  /** The kernel maps for these rules. */
  kernelMaps(): FileSystemMaps {
    const prefixes = new Map<string, number>();
    const names = new Map<string, number>();
    let matchAll = 0;
    const add = (patterns: readonly PathPattern[], bit: number) => {
      for (const pattern of patterns) {
        const kernel = kernelPlan(pattern.literal);
        const bits = bit |
          (bit === FileClass.protect && kernel.exact ? FileClass.kill : 0);
        if (kernel.kind === "prefix") {
          prefixes.set(
            kernel.prefix,
            (prefixes.get(kernel.prefix) ?? 0) | bits,
          );
        } else if (kernel.kind === "name") {
          names.set(kernel.name, (names.get(kernel.name) ?? 0) | bits);
        } else matchAll |= bit;
      }
    };
    add(this.#watch, FileClass.watch);
    add(this.#protect, FileClass.protect);
    add(this.#secrets, FileClass.secret);
    if (this.#install) {
      // What install scripts may not touch, where the kernel matches it
      // exactly: a prefix match alone must not kill.
      const exact = (patterns: readonly PathPattern[], bit: number) =>
        add(patterns.filter((p) => kernelPlan(p.literal).exact), bit);
      exact([...this.#install.secrets, ...this.#secrets], FileClass.depSecret);
      exact(this.#install.protect, FileClass.depProtect);
    }
    // Directories at or above what the kernel protects exactly: a mount
    // on one or of one, or a rename of one, changes what the protected
    // path names. Whole paths, so that each matches only itself.
    for (const pattern of this.#protect) {
      for (const directory of aboveDirectories(pattern.literal)) {
        const key = directory + "\0";
        if (new TextEncoder().encode(key).length > PREFIX_MAX) continue;
        prefixes.set(key, (prefixes.get(key) ?? 0) | FileClass.above);
      }
    }
    // The trie answers with the longest prefix only: each entry carries
    // the classes of the shorter entries it extends.
    const closed = new Map<string, number>();
    for (const [prefix, bits] of prefixes) {
      let all = bits;
      for (const [other, otherBits] of prefixes) {
        if (other !== prefix && prefix.startsWith(other)) all |= otherBits;
      }
      closed.set(prefix, all);
    }
    return {
      prefixes: closed,
      names,
      matchAll,
      readClasses: this.#secrets.length ? FileClass.secret : 0,
      readPaths: this.#secrets.some((pattern) =>
        kernelPlan(pattern.literal).kind !== "name"
      ),
      kill: this.enforce,
      installScripts: this.#install?.rule ?? 0,
      summary: this.summary,
    };
  }

  /**
   * The final word on a kernel record: the event with verdict and reason,
   * or undefined when no pattern matches after all (the kernel's filter
   * is a superset). `kill` is called for a protected write the kernel
   * could not match exactly, in block mode.
   */
  judge(
    raw: RawFileSystemEvent,
    kill: (pid: number) => boolean,
  ): FileSystemEvent | undefined {
    const { classes: _, installScript, ...event } = raw;
    return this.complete(event, raw.classes, !!installScript, kill);
  }

  /**
   * judge() of an event decoded without the kernel's classes
   * (`decodeFileSystemRecord`): completes it in place (normalised paths,
   * verdict and reason) and returns it, or undefined when no pattern
   * matches after all.
   */
  complete(
    event: FileSystemEvent,
    classes: number,
    installScript: boolean,
    kill: (pid: number) => boolean,
  ): FileSystemEvent | undefined {
    const kernelKilled = event.killed;
    const path = event.path = normalizePath(event.path);
    const newPath = event.new_path === undefined
      ? undefined
      : event.new_path = normalizePath(event.new_path);
    if (!installScript && event.kind !== "read" && event.kind !== "handle") {
      // The common case, without the closures below: a watched change.
      const protect = firstMatch(this.#protect, path, newPath);
      if (
        !protect && !event.killed && !event.refused &&
        (!event.by_inode ||
          (classes & (FileClass.protect | FileClass.kill)) === 0) &&
        ((event.kind !== "mount" && event.kind !== "rename") ||
          (classes & FileClass.above) === 0)
      ) {
        const watch = firstMatch(this.#watch, path, newPath);
        const secret = watch
          ? undefined
          : firstMatch(this.#secrets, path, newPath);
        if (!watch && !secret) return undefined;
        event.verdict = "allow";
        event.reason = watch
          ? this.#watchReasons.of(watch)
          : this.#secretReasons.of(secret!);
        return event;
      }
    }
    return this.#judgeRest(event, classes, installScript, kernelKilled, kill);
  }

  #judgeRest(
    event: FileSystemEvent,
    classes: number,
    installScript: boolean,
    kernelKilled: boolean | undefined,
    kill: (pid: number) => boolean,
  ): FileSystemEvent | undefined {
    const raw = { classes, killed: kernelKilled };
    const paths = event.new_path === undefined
      ? [event.path]
      : [event.path, event.new_path];
    const first = (patterns: readonly PathPattern[]) =>
      patterns.find((pattern) => paths.some((path) => pattern.matches(path)));
    const byInode = (bits: number) =>
      !!event.by_inode && (raw.classes & bits) !== 0;
    if (installScript) {
      const install = this.#install;
      const secret = first([...install?.secrets ?? [], ...this.#secrets]);
      const read = event.kind === "read" || !!secret;
      const pattern = read
        ? secret
        : first([...install?.protect ?? [], ...this.#protect]);
      const what = read ? "secret" : "protected path";
      return Object.assign(event, {
        verdict: (install?.rule ?? 0) & InstallScriptRule.enforce
          ? "deny" as const
          : "audit" as const,
        reason: `dependencies.install_scripts: ${what}` +
          (pattern ? ` ${JSON.stringify(pattern.text)}` : ""),
      });
    }
    if (event.kind === "read") {
      const secret = first(this.#secrets);
      if (!secret && !byInode(FileClass.secret)) return undefined;
      return Object.assign(event, {
        verdict: "allow" as const,
        reason: secret
          ? `files.secrets ${JSON.stringify(secret.text)}`
          : "files.secrets, matched by device and inode",
      });
    }
    if (event.kind === "handle") {
      // A handle changes nothing: open_by_handle_at is judged as an open.
      const pattern = first(this.#protect) ?? first(this.#secrets);
      if (!pattern) return undefined;
      const section = this.#protect.includes(pattern) ? "protect" : "secrets";
      return Object.assign(event, {
        verdict: "allow" as const,
        reason: `files.${section} ${JSON.stringify(pattern.text)}`,
      });
    }
    const protect = first(this.#protect);
    const inode = !protect && byInode(FileClass.protect | FileClass.kill);
    const above = !protect && !inode &&
      (event.kind === "mount" || event.kind === "rename") &&
      (raw.classes & FileClass.above) !== 0;
    if (protect || inode || above || event.killed || event.refused) {
      const reason = protect
        ? `files.protect ${JSON.stringify(protect.text)}`
        : inode
        ? "files.protect, matched by device and inode"
        : above
        ? "files.protect, a directory at or above a protected tree"
        : "files.protect (matched in the kernel)";
      if (event.refused) {
        return Object.assign(event, {
          verdict: "deny" as const,
          reason: `${reason}, refused by BPF LSM`,
        });
      }
      if (this.enforce && !event.killed && kill(event.pid)) {
        event.killed = true;
      }
      return Object.assign(event, {
        verdict: this.enforce ? "deny" as const : "audit" as const,
        reason: event.killed && !raw.killed
          ? `${reason}, killed by the agent after the syscall`
          : reason,
      });
    }
    const watch = first(this.#watch);
    const secret = watch ? undefined : first(this.#secrets);
    if (!watch && !secret) return undefined;
    return Object.assign(event, {
      verdict: "allow" as const,
      reason: watch
        ? `files.watch ${JSON.stringify(watch.text)}`
        : `files.secrets ${JSON.stringify(secret!.text)}`,
    });
  }
}
