/**
 * Protected and secret files by device and inode: what the agent puts in
 * sensor.file-system's `fs_inodes` so that the kernel matches the file,
 * whatever path reaches it (a hard link, a bind mount, a handle).
 *
 * The set is every literal `files.protect` and `files.secrets` path, and
 * every file and directory under a pattern that is exactly a tree
 * (`/dir/**`), walked breadth first at start and kept current as files are
 * created or renamed into those trees. The kernel's map holds
 * {@linkcode INODE_MAP_SIZE} entries; the walk stops at
 * {@linkcode INODE_WALK_CAP}, leaving room for files created later. What a
 * capped walk leaves out stays covered by the path rules (the kernel's
 * prefix match), not by inode: the table says so through
 * {@linkcode InodeTable.capped}.
 *
 * @module
 */

import {
  FileClass,
  type InodeEntry,
  kernelDev,
  type PathPattern,
} from "../sensors/file_system.ts";
import { normalizePath } from "../sensors/file_system_rules.ts";

/** Entries `fs_inodes` holds (bpf/sensor.file-system.bpf.c). */
export const INODE_MAP_SIZE = 65_536;
/** Entries the start's walk fills at most; the rest is for later creates. */
export const INODE_WALK_CAP = 61_440;

/** The patterns an inode table is built from. */
export interface InodeRules {
  /** `files.protect` patterns (the policy's and the implicit ones). */
  protect: readonly PathPattern[];
  /** `files.secrets` patterns. */
  secrets: readonly PathPattern[];
  /** Whether a protected write is enforced (block mode, action kill). */
  enforce: boolean;
}

/** One file known by inode, with the protected paths that name it. */
export interface InodeRecord extends InodeEntry {
  /** The paths (literal or under a tree) that lead to this inode. */
  paths: Set<string>;
  /** A directory (under a tree), not a file. */
  dir: boolean;
}

/** The literal paths and exact trees of a set of patterns. */
export interface PatternRoots {
  /** Literal paths. */
  paths: string[];
  /** Tree roots, each a directory whose whole content matches. */
  trees: string[];
}

/** Literal paths and exact trees (`/dir/**`) among `patterns`. */
export function patternRoots(patterns: readonly PathPattern[]): PatternRoots {
  const paths: string[] = [];
  const trees: string[] = [];
  for (const { literal } of patterns) {
    if (literal.kind === "path") paths.push(literal.path);
    else if (
      literal.kind === "prefix" && literal.exact &&
      literal.prefix.endsWith("/")
    ) {
      trees.push(normalizePath(literal.prefix));
    }
  }
  return { paths: [...new Set(paths)], trees: [...new Set(trees)] };
}

/** The map key of a device and inode. */
export function inodeKey(dev: number, ino: bigint | number): string {
  return `${dev}:${ino}`;
}

/**
 * Files known by inode, and the protected paths that name them; the
 * source of `fs_inodes`.
 */
export class InodeTable {
  readonly #byKey = new Map<string, InodeRecord>();
  readonly #byPath = new Map<string, string>();
  /** Records per inode number (as a Number), whatever the device: lets
   * the check of each file event end without building a key. */
  readonly #inos = new Map<number, number>();
  readonly #limit: number;
  readonly #rules: InodeRules;
  #omitted = 0;
  /** Tree roots the start's walk did not finish. */
  readonly cappedTrees: string[] = [];

  private constructor(rules: InodeRules, limit: number) {
    this.#rules = rules;
    this.#limit = limit;
  }

  /**
   * Stats every literal path and walks every exact tree of `rules`
   * (breadth first, symlinks not followed), up to `cap` inodes.
   */
  static build(rules: InodeRules, cap: number = INODE_WALK_CAP): InodeTable {
    const table = new InodeTable(rules, cap);
    const protect = patternRoots(rules.protect);
    const secrets = patternRoots(rules.secrets);
    for (const path of [...protect.paths, ...secrets.paths]) {
      table.addPath(path, { follow: true });
    }
    for (const tree of [...protect.trees, ...secrets.trees]) {
      table.#walk(tree);
    }
    return table;
  }

  /** The FileClass bits of a path under these rules; 0 when not covered. */
  classesOf(path: string): number {
    let classes = 0;
    if (this.#rules.protect.some((pattern) => pattern.matches(path))) {
      classes |= FileClass.protect |
        (this.#rules.enforce ? FileClass.kill : 0);
    }
    if (this.#rules.secrets.some((pattern) => pattern.matches(path))) {
      classes |= FileClass.secret;
    }
    return classes;
  }

  /**
   * Adds the file at `path` (when a rule covers it), by lstat or, with
   * `follow`, by stat; returns its record, or undefined when it is absent,
   * not covered, or the table is full (counted in `omitted`).
   */
  addPath(
    path: string,
    { follow = false, classes }: { follow?: boolean; classes?: number } = {},
  ): InodeRecord | undefined {
    const bits = classes ?? this.classesOf(path);
    if (!bits) return undefined;
    let info: Deno.FileInfo;
    try {
      info = follow ? Deno.statSync(path) : Deno.lstatSync(path);
    } catch {
      return undefined;
    }
    if (!info.isFile && !info.isDirectory) return undefined;
    return this.addInfo(path, info, bits);
  }

  /** Adds a file by what stat said of it, with FileClass `classes`. */
  addInfo(
    path: string,
    info: Pick<Deno.FileInfo, "dev" | "ino" | "isDirectory">,
    classes: number,
  ): InodeRecord | undefined {
    if (info.ino === null) return undefined;
    const dev = kernelDev(info.dev);
    const ino = BigInt(info.ino);
    const key = inodeKey(dev, ino);
    const old = this.#byPath.get(path);
    if (old !== undefined && old !== key) this.removePath(path);
    let record = this.#byKey.get(key);
    if (!record) {
      if (this.#byKey.size >= this.#limit) {
        this.#omitted++;
        return undefined;
      }
      record = {
        dev,
        ino,
        classes: 0,
        paths: new Set(),
        dir: info.isDirectory,
      };
      this.#byKey.set(key, record);
      const number = Number(ino);
      this.#inos.set(number, (this.#inos.get(number) ?? 0) + 1);
    }
    record.classes |= classes;
    record.paths.add(path);
    this.#byPath.set(path, key);
    return record;
  }

  /**
   * Forgets `path`; returns the record when no other path leads to its
   * inode any more (the entry the kernel should drop).
   */
  removePath(path: string): InodeRecord | undefined {
    const key = this.#byPath.get(path);
    if (key === undefined) return undefined;
    this.#byPath.delete(path);
    const record = this.#byKey.get(key)!;
    record.paths.delete(path);
    if (record.paths.size) return undefined;
    this.#byKey.delete(key);
    const number = Number(record.ino);
    const left = (this.#inos.get(number) ?? 1) - 1;
    if (left) this.#inos.set(number, left);
    else this.#inos.delete(number);
    return record;
  }

  /**
   * Whether some file of the table may have inode number `ino` (on any
   * device): false means {@linkcode InodeTable.byInode} finds nothing.
   */
  mayHoldIno(ino: number): boolean {
    return this.#inos.has(ino);
  }

  /** The record of a device (kernel encoding) and inode. */
  byInode(dev: number, ino: bigint | number): InodeRecord | undefined {
    return this.#byKey.get(inodeKey(dev, ino));
  }

  /** The record of a path. */
  byPath(path: string): InodeRecord | undefined {
    const key = this.#byPath.get(path);
    return key === undefined ? undefined : this.#byKey.get(key);
  }

  /** Every path known, with its record. */
  paths(): IterableIterator<[string, InodeRecord]> {
    const byKey = this.#byKey;
    return (function* () {
      for (const record of byKey.values()) {
        for (const path of record.paths) yield [path, record];
      }
    })();
  }

  /** What `fs_inodes` holds. */
  entries(): InodeEntry[] {
    return [...this.#byKey.values()].map(({ dev, ino, classes }) => ({
      dev,
      ino,
      classes,
    }));
  }

  /** Inodes known. */
  get size(): number {
    return this.#byKey.size;
  }

  /** Files left out because the table was full. */
  get omitted(): number {
    return this.#omitted;
  }

  /** Whether the walk or a later add found the table full. */
  get capped(): boolean {
    return this.#omitted > 0;
  }

  #walk(root: string): void {
    for (const entry of walkTree(root)) {
      const before = this.#omitted;
      this.addPath(entry.path);
      if (this.#omitted > before) {
        // Full: what is left of this tree stays covered by the path rules.
        if (!this.cappedTrees.includes(root)) this.cappedTrees.push(root);
        return;
      }
    }
  }
}

/**
 * The files and directories under `root`, breadth first; symlinks and
 * other kinds are left out and not followed, unreadable directories
 * skipped.
 */
export function* walkTree(
  root: string,
): Generator<{ path: string; isDirectory: boolean }> {
  const queue = [root];
  for (let index = 0; index < queue.length; index++) {
    const dir = queue[index];
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      continue;
    }
    for (const entry of entries) {
      if (!entry.isFile && !entry.isDirectory) continue;
      const path = dir === "/" ? `/${entry.name}` : `${dir}/${entry.name}`;
      yield { path, isDirectory: entry.isDirectory };
      if (entry.isDirectory) queue.push(path);
    }
  }
}
