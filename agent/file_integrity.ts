/**
 * Integrity of the protected files while the job runs: the files known by
 * inode in the kernel's `fs_inodes` (kept current as files come and go
 * under protected trees), the start snapshot, a change found at once and
 * put back, fds held open for writing from before the start, and the
 * stop's comparison with the start.
 *
 * A change is found by inotify (agent/inotify.ts) on each protected file's
 * inode and on the protected trees' directories: inotify follows the
 * inode, so a write through a hard link, a bind mount, io_uring or a
 * process out of scope is seen as one through the protected path. A
 * periodic stat of every snapshotted file backs it up (mtime and ctime:
 * writes through a shared mapping raise no inotify event). The file is
 * then hashed and compared with the snapshot; with `files.restore`, its
 * content, mode, owner and times are written back, in place when the
 * inode is the same one (the agent is out of scope: its writes are not
 * policed).
 *
 * Only the policy's own `files.protect` files are snapshotted and watched:
 * the implicit ones (the agent's records, state directory, policy file,
 * guarded sysctls) change by the agent's own hand or are guarded
 * elsewhere; they are in `fs_inodes` all the same.
 *
 * @module
 */

import type { FileSystemEvent, RingfenceEvent } from "../sensors/events.ts";
import {
  fileIntegrityEvent,
  type FileIntegrityKind,
  type FileIntegrityState,
} from "../sensors/file_integrity_event.ts";
import {
  FileClass,
  type FileSystemSensor,
  kernelDev,
} from "../sensors/file_system.ts";
import type { FileFindings } from "./file_findings.ts";
import type { FileRules } from "./file_policy.ts";
import {
  type FileRecord,
  fileState,
  readRecord,
  recordChanges,
  sameContent,
  SNAPSHOT_LIMITS,
  takeSnapshot,
  withSha256,
} from "./file_snapshot.ts";
import { heldForWriting } from "./held_fds.ts";
import { DIR_EVENTS, FILE_EVENTS, IN, Inotify } from "./inotify.ts";
import {
  INODE_WALK_CAP,
  type InodeRecord,
  InodeTable,
  type PatternRoots,
  patternRoots,
  walkTree,
} from "./protected_inodes.ts";
import { eventInode, RecentWriters } from "./recent_writers.ts";
import {
  diffSnapshots,
  type FileState,
  type ProtectedChange,
} from "./tamper.ts";

/** How long a path settles after an inotify event before it is checked. */
const SETTLE_MS = 30;
/** How often every snapshotted file is stat'ed. */
const SWEEP_MS = 2000;
/** Files stat'ed per sweep at most (the rest on the next ones). */
const SWEEP_BATCH = 8192;

/** The inode table and start snapshot, taken before the sensor loads. */
export interface PreparedFiles {
  /** The rules they were taken for. */
  rules: FileRules;
  /** The protected and secret files by inode. */
  table: InodeTable;
  /** The start snapshot: literal protected paths and files under trees. */
  records: Map<string, FileRecord>;
  /** The files under the policy's own trees. */
  files: Set<string>;
  /** The policy's own literal paths and trees. */
  own: PatternRoots;
}

/** What the integrity watch needs of the agent. */
export interface IntegrityHooks {
  /** Hands an event to the subscribers. */
  emit(event: RingfenceEvent): void;
  /** Reads what the rings hold, so that a writer's event is in. */
  flush(): void;
  /** A line for the agent's stderr. */
  log(line: string): void;
}

/** The sensor's share: the inodes it matches. */
export type InodeSink = Pick<
  FileSystemSensor,
  "setInodes" | "addInodes" | "removeInodes"
>;

/** A process described for a finding. */
export interface ProcessInfo {
  comm: string;
  exe?: string;
}

/** The state fields a file_integrity event shows. */
function eventState(record: FileRecord): FileIntegrityState | undefined {
  if (!record.exists) return undefined;
  const state: FileIntegrityState = { size: record.size };
  if (record.sha256) state.sha256 = record.sha256;
  if (record.mode !== undefined) state.mode = record.mode;
  if (record.uid !== undefined) state.uid = record.uid;
  if (record.gid !== undefined) state.gid = record.gid;
  if (record.ino !== undefined) state.ino = record.ino;
  return state;
}

/** What identifies a file's state for "reported already". */
function signature(record: FileRecord): string {
  return record.exists
    ? `${record.dev}:${record.ino}:${
      record.sha256 ?? record.size
    }:${record.mode}:${record.uid}:${record.gid}`
    : "absent";
}

/** What the sweep compares: a changed ctime means something happened. */
function statSignature(info: Deno.FileInfo | undefined): string {
  return info
    ? `${info.ino}:${info.size}:${info.mtime?.getTime()}:${info.ctime?.getTime()}:${info.mode}`
    : "absent";
}

function parentOf(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash <= 0 ? "/" : path.slice(0, slash);
}

function under(path: string, trees: readonly string[]): boolean {
  return trees.some((tree) =>
    tree === "/" ? true : path === tree || path.startsWith(`${tree}/`)
  );
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array): Promise<void> {
  let offset = 0;
  while (offset < bytes.length) {
    offset += await file.write(bytes.subarray(offset));
  }
}

/**
 * The kinds whose file the agent looks up by stat when the event carries
 * no inode: those of a file that exists after the call. An unlink's or a
 * rename's old path names nothing any more.
 */
const STAT_KINDS: ReadonlySet<string> = new Set([
  "open",
  "create",
  "truncate",
  "write",
  "chmod",
  "chown",
  "read",
]);

/** The protected files' integrity while the agent runs. */
export class FileIntegrity {
  readonly #sensor: InodeSink;
  readonly #findings: FileFindings;
  #rules: FileRules;
  #table: InodeTable;
  /** What each watched file should be (the start snapshot, after restores). */
  readonly #expected = new Map<string, FileRecord>();
  /** The stop's reference: literal paths and files under trees at start. */
  readonly #atStart = new Map<string, FileRecord>();
  /** The trees of the policy in force at start (for the stop's walk). */
  readonly #startTrees: string[];
  /** Own trees in force. */
  #trees: string[] = [];
  readonly #recent = new RecentWriters();
  #hooks: IntegrityHooks | undefined;
  #inotify: Inotify | undefined;
  readonly #timers = new Map<string, ReturnType<typeof setTimeout>>();
  readonly #running = new Map<string, Promise<void>>();
  readonly #dirty = new Set<string>();
  /** path → signature of the unrepaired state last reported. */
  readonly #reported = new Map<string, string>();
  /** path → stat signature the sweep saw last. */
  readonly #seen = new Map<string, string>();
  #sweepTimer: ReturnType<typeof setTimeout> | undefined;
  #sweepAt = 0;
  #stopped = false;
  /** Lines saying what is not covered by inode. */
  readonly coverage: string[] = [];

  private constructor(
    sensor: InodeSink,
    findings: FileFindings,
    rules: FileRules,
    table: InodeTable,
  ) {
    this.#sensor = sensor;
    this.#findings = findings;
    this.#rules = rules;
    this.#table = table;
    this.#startTrees = patternRoots(rules.ownProtect).trees;
  }

  /**
   * Walks the protected and secret files (capped) and takes the start
   * snapshot of the protected ones; needs no sensor, so that it runs while
   * the sensors load (their verification is on worker threads).
   */
  static async prepare(rules: FileRules): Promise<PreparedFiles> {
    const table = InodeTable.build(rules.config);
    const own = patternRoots(rules.ownProtect);
    const files = new Set<string>();
    for (const [path, record] of table.paths()) {
      if (!record.dir && under(path, own.trees)) files.add(path);
    }
    const records = await takeSnapshot([
      ...new Set([...rules.protectedPaths, ...files]),
    ]);
    return { rules, table, records, files, own };
  }

  /** Puts a prepared table in `fs_inodes`; call it before the sensor attaches. */
  static start(
    sensor: InodeSink,
    findings: FileFindings,
    prepared: PreparedFiles,
  ): FileIntegrity {
    const { rules, table, records, files, own } = prepared;
    sensor.setInodes(table.entries());
    const integrity = new FileIntegrity(sensor, findings, rules, table);
    integrity.#noteCap();
    integrity.#trees = own.trees;
    const literal = new Set(own.paths);
    for (const [path, record] of records) {
      integrity.#atStart.set(path, { ...record });
      if (literal.has(path) || files.has(path)) {
        integrity.#expected.set(path, record);
      }
    }
    return integrity;
  }

  /** The inode table (for tests and the report). */
  get table(): InodeTable {
    return this.#table;
  }

  /** The protected paths snapshotted and watched. */
  get watched(): string[] {
    return [...this.#expected.keys()];
  }

  /**
   * Starts watching: changes are reported through `hooks` from now on.
   * A first sweep catches what changed since the snapshot.
   */
  arm(hooks: IntegrityHooks): void {
    this.#hooks = hooks;
    if (this.coverage.length) {
      for (const line of this.coverage) hooks.log(line);
    }
    this.#watch();
    this.#sweep();
  }

  /**
   * Takes a judged file_system_event: notes the writer of a protected
   * file, keeps `fs_inodes` current as files are created, renamed or
   * removed under protected trees, and names the protected path an
   * inode match stands for (`protected_path`).
   */
  record(event: FileSystemEvent): void {
    const inode = this.#nameProtected(event);
    if (event.kind === "read") return;
    this.#recent.record(event, inode);
    if (
      !event.reason.startsWith("files.protect") &&
      !event.reason.startsWith("files.secrets")
    ) return;
    switch (event.kind) {
      case "create":
      case "mkdir":
        this.#appeared(event.path);
        break;
      case "rename":
        if (event.new_path !== undefined) this.#appeared(event.new_path);
        this.#gone(event.path);
        break;
      case "link":
        if (event.new_path !== undefined) this.#appeared(event.new_path);
        break;
      case "unlink":
      case "rmdir":
        this.#gone(event.path);
        break;
    }
    if (this.#expected.has(event.path)) this.#schedule(event.path);
    if (event.new_path && this.#expected.has(event.new_path)) {
      this.#schedule(event.new_path);
    }
  }

  /**
   * Puts new rules in force: `fs_inodes` rebuilt from them, files newly
   * protected snapshotted, the watches renewed. The stop still compares
   * what the rules at start named.
   */
  async setRules(rules: FileRules): Promise<void> {
    this.#rules = rules;
    const table = InodeTable.build(rules.config);
    this.#table = table;
    this.#sensor.setInodes(table.entries());
    this.coverage.length = 0;
    this.#noteCap();
    for (const line of this.coverage) this.#hooks?.log(line);
    const own = patternRoots(rules.ownProtect);
    this.#trees = own.trees;
    const files = this.#treeFiles(own.trees);
    const wanted = new Set([...own.paths, ...files]);
    for (const path of [...this.#expected.keys()]) {
      if (!wanted.has(path)) this.#expected.delete(path);
    }
    const fresh = [...wanted].filter((path) => !this.#expected.has(path));
    for (const [path, record] of await takeSnapshot(fresh)) {
      this.#expected.set(path, record);
    }
    if (this.#hooks && !this.#stopped) this.#watch();
  }

  /**
   * Reports each fd that a process of `pids` holds open for writing to a
   * protected file (`held_open`); returns the events, for the agent to
   * send once it has subscribers.
   */
  heldOpen(
    pids: Iterable<number>,
    describe: (pid: number) => ProcessInfo | undefined,
  ): RingfenceEvent[] {
    const events: RingfenceEvent[] = [];
    const held = heldForWriting(pids, (dev, ino) => {
      const record = this.#table.byInode(dev, ino);
      return !!record && !record.dir &&
        [...record.paths].some((path) =>
          this.#table.classesOf(path) & FileClass.protect
        );
    });
    for (const fd of held) {
      const record = this.#table.byInode(fd.dev, fd.ino)!;
      const path = record.paths.has(fd.link) ? fd.link : [...record.paths][0];
      const process = describe(fd.pid);
      const comm = process?.comm ?? "?";
      const detail = this.#rules.enforce
        ? "open for writing since before the agent started: the kernel kills its first write"
        : "open for writing since before the agent started";
      this.#findings.add({
        path,
        kind: "held_open",
        pid: fd.pid,
        exe: process?.exe ?? comm,
        ...(fd.link !== path ? { other_path: fd.link } : {}),
        repaired: false,
        detail,
      }, { announce: false });
      events.push(fileIntegrityEvent({
        kind: "held_open",
        path,
        ...(fd.link !== path ? { other_path: fd.link } : {}),
        writer: {
          pid: fd.pid,
          comm,
          ...(process?.exe ? { exe: process.exe } : {}),
        },
        fd: fd.fd,
        flags: fd.flags,
        repaired: false,
        detail,
      }));
    }
    return events;
  }

  /**
   * Stops watching, after a last look: checks pending or under way run
   * to their end, and every watched file whose stat changed is checked
   * (and put back) before the stop's comparison. Idempotent.
   */
  stop(): Promise<void> {
    return this.#stopping ??= this.#stop();
  }

  #stopping: Promise<void> | undefined;

  async #stop(): Promise<void> {
    clearTimeout(this.#sweepTimer);
    const watcher = this.#inotify;
    this.#inotify = undefined;
    await watcher?.close();
    if (this.#hooks) {
      for (const [path, timer] of this.#timers) {
        clearTimeout(timer);
        this.#run(path);
      }
      this.#timers.clear();
      for (const path of this.#expected.keys()) {
        const seen = statSignature(this.#lstat(path));
        if (this.#seen.get(path) !== seen) this.#run(path);
      }
      while (this.#running.size) {
        await Promise.allSettled([...this.#running.values()]);
      }
    }
    this.#stopped = true;
  }

  /**
   * Compares the protected files, as the rules at start named them (the
   * literal paths, and every file under the trees, walked again), with
   * the start: changed, removed, added.
   */
  async finish(): Promise<ProtectedChange[]> {
    await this.stop();
    const files = this.#treeFiles(this.#startTrees, { walk: true });
    const paths = [...new Set([...this.#atStart.keys(), ...files])];
    const now = await takeSnapshot(paths);
    const before = new Map<string, FileState>();
    const after = new Map<string, FileState>();
    for (const [path, record] of now) {
      // A directory's mtime changes with every file written in it.
      if (record.dir && !this.#atStart.has(path)) continue;
      const start = this.#atStart.get(path);
      // Hashes are taken where the content differs, for the report.
      if (start && sameContent(start, record) !== true) {
        await withSha256(start);
        await withSha256(record);
      } else if (!start) await withSha256(record);
      if (start) before.set(path, fileState(start));
      after.set(path, fileState(record));
    }
    return diffSnapshots(before, after);
  }

  #noteCap(): void {
    const table = this.#table;
    if (!table.capped) return;
    const trees = table.cappedTrees.length
      ? ` under ${table.cappedTrees.join(", ")}`
      : "";
    this.coverage.push(
      `ringfence: more protected and secret files than the ${INODE_WALK_CAP} the kernel's inode map takes at start${trees}: ${table.omitted} and more are matched by path only (a hard link, bind mount or handle to them is not caught) and not snapshotted`,
    );
  }

  /** Files under `trees`: from the table, or by a new walk. */
  #treeFiles(trees: readonly string[], { walk = false } = {}): string[] {
    if (!trees.length) return [];
    const files: string[] = [];
    if (walk) {
      for (const tree of trees) {
        for (const entry of walkTree(tree)) {
          if (!entry.isDirectory) files.push(entry.path);
          if (files.length >= INODE_WALK_CAP) return files;
        }
      }
      return files;
    }
    for (const [path, record] of this.#table.paths()) {
      if (!record.dir && under(path, trees)) files.push(path);
    }
    return files;
  }

  /**
   * The inode a protected event's file is known by: the event's own, or
   * (a path no rule names, matched in the kernel) by stat of the path.
   * Sets `protected_path` when the event reached it by another path.
   */
  #nameProtected(
    event: FileSystemEvent,
  ): { dev: number; ino: bigint } | undefined {
    // Most events are of files the table does not hold: no key is built.
    const given = event.inode?.ino;
    if (given && !this.#table.mayHoldIno(given)) return undefined;
    let inode = eventInode(event);
    if (!inode) {
      // A path the table holds was matched by its name, not its inode.
      if (!STAT_KINDS.has(event.kind) || this.#table.byPath(event.path)) {
        return undefined;
      }
      try {
        const info = Deno.statSync(event.path);
        if (info.ino !== null) {
          inode = { dev: kernelDev(info.dev), ino: BigInt(info.ino) };
        }
      } catch {
        return undefined;
      }
    }
    if (!inode) return undefined;
    const record = this.#table.byInode(inode.dev, inode.ino);
    if (!record) return undefined;
    if (
      !record.paths.has(event.path) &&
      (event.new_path === undefined || !record.paths.has(event.new_path))
    ) {
      const [first] = record.paths;
      if (first !== undefined) event.protected_path = first;
    }
    return inode;
  }

  /** A file appeared at `path`: its inode joins `fs_inodes` when covered. */
  #appeared(path: string): InodeRecord | undefined {
    const before = this.#table.byPath(path);
    const record = this.#table.addPath(path);
    if (before && before !== record && !before.paths.size) {
      this.#sensor.removeInodes([before]);
    }
    if (record) this.#sensor.addInodes([record]);
    else if (this.#table.capped) this.#noteCapOnce();
    return record;
  }

  #capNoted = false;
  #noteCapOnce(): void {
    if (this.#capNoted || this.coverage.length) return;
    this.#capNoted = true;
    this.#noteCap();
    for (const line of this.coverage) this.#hooks?.log(line);
  }

  /** `path` is gone: its inode leaves `fs_inodes` unless another path has it. */
  #gone(path: string): void {
    const orphan = this.#table.removePath(path);
    if (orphan) this.#sensor.removeInodes([orphan]);
  }

  /**
   * (Re)opens the inotify instance: a watch on every directory of the
   * trees, on the directory of each literal path, and on each file's inode.
   */
  #watch(): void {
    if (this.#stopping) return;
    const old = this.#inotify;
    this.#inotify = undefined;
    old?.close();
    try {
      this.#inotify = new Inotify((events, overflow) => {
        if (overflow) this.#sweepAll();
        for (const { path, mask } of events) this.#changed(path, mask);
      });
    } catch (error) {
      this.#hooks?.log(
        `ringfence: cannot watch protected files for changes (${
          (error as Error).message
        }): they are checked every ${SWEEP_MS / 1000} s instead`,
      );
      return;
    }
    for (const tree of this.#trees) this.#addWatch(tree, DIR_EVENTS);
    for (const [path, record] of this.#table.paths()) {
      if (record.dir && under(path, this.#trees)) {
        this.#addWatch(path, DIR_EVENTS);
      }
    }
    for (const [path, record] of this.#expected) {
      if (!under(path, this.#trees)) this.#addWatch(parentOf(path), DIR_EVENTS);
      if (record.exists && !record.dir) this.#addWatch(path, FILE_EVENTS);
    }
  }

  #watchFull = false;

  /** Adds one watch; a full watch table is said once, the sweep goes on. */
  #addWatch(path: string, mask: number): void {
    const watcher = this.#inotify;
    if (!watcher || watcher.has(path)) return;
    try {
      watcher.add(path, mask);
    } catch (error) {
      const message = (error as Error).message;
      if (!/No space left|ENOSPC/.test(message) || this.#watchFull) return;
      this.#watchFull = true;
      this.#hooks?.log(
        `ringfence: inotify's watch limit reached (fs.inotify.max_user_watches) at ${watcher.size} watches: other protected files are checked every ${
          SWEEP_MS / 1000
        } s`,
      );
    }
  }

  /** inotify named `path`. */
  #changed(path: string, mask: number): void {
    if (this.#stopping) return;
    const expected = this.#expected.has(path);
    if (expected) this.#schedule(path);
    const inTree = under(path, this.#trees);
    if (mask & (IN.DELETE | IN.MOVED_FROM)) {
      if (expected || inTree) this.#gone(path);
      return;
    }
    if (!(mask & (IN.CREATE | IN.MOVED_TO)) || (!expected && !inTree)) return;
    // A new file or directory under a protected tree, or a new file at a
    // protected path (by a process out of scope, or one the kernel already
    // reported): known by inode, and a new directory watched, with what
    // was made in it before the watch.
    const record = this.#appeared(path);
    if (!record) return;
    if (record.dir) {
      this.#addWatch(path, DIR_EVENTS);
      for (const entry of walkTree(path)) {
        this.#appeared(entry.path);
        if (entry.isDirectory) this.#addWatch(entry.path, DIR_EVENTS);
        else this.#addWatch(entry.path, FILE_EVENTS);
      }
    } else this.#addWatch(path, FILE_EVENTS);
  }

  /** Every watched file's stat is compared at once (inotify lost events). */
  #sweepAll(): void {
    for (const path of this.#expected.keys()) this.#seen.delete(path);
    for (const path of this.#expected.keys()) this.#schedule(path);
  }

  #schedule(path: string): void {
    if (this.#stopping || !this.#hooks) return;
    clearTimeout(this.#timers.get(path));
    this.#timers.set(
      path,
      setTimeout(() => {
        this.#timers.delete(path);
        this.#run(path);
      }, SETTLE_MS),
    );
  }

  /** Checks `path`, one check at a time per path. */
  #run(path: string): void {
    if (this.#running.has(path)) {
      this.#dirty.add(path);
      return;
    }
    const check = this.#check(path).catch((error) =>
      this.#hooks?.log(
        `ringfence: checking protected ${path} failed: ${
          (error as Error).message
        }`,
      )
    ).finally(() => {
      this.#running.delete(path);
      if (this.#dirty.delete(path)) this.#run(path);
    });
    this.#running.set(path, check);
  }

  async #check(path: string): Promise<void> {
    const expected = this.#expected.get(path);
    if (!expected || this.#stopped) return;
    const now = await readRecord(path, undefined);
    this.#seen.set(path, statSignature(this.#lstat(path)));
    const changes = recordChanges(expected, now);
    if (!changes.length) {
      this.#reported.delete(path);
      return;
    }
    await withSha256(expected);
    await withSha256(now);
    const state = signature(now);
    if (this.#reported.get(path) === state) return;
    const hooks = this.#hooks!;
    hooks.flush();
    const record = this.#table.byPath(path);
    const inode = record && { dev: record.dev, ino: record.ino };
    const write = this.#recent.find(record?.paths ?? [path], inode) ??
      this.#recent.find([path]);
    const kind: FileIntegrityKind =
      now.exists && !changes.includes("inode") && !changes.includes("type")
        ? "changed"
        : "removed";
    let repaired = false;
    let detail: string;
    if (!this.#rules.restore) detail = "files.restore is off";
    else {
      const outcome = await this.#restore(path, expected, now, changes);
      repaired = outcome.ok;
      detail = outcome.detail;
    }
    if (!write) detail = `unknown writer; ${detail}`;
    if (repaired) this.#reported.delete(path);
    else this.#reported.set(path, state);
    this.#findings.add({
      path,
      kind,
      ...(write
        ? {
          pid: write.writer.pid,
          exe: write.writer.exe ?? write.writer.comm,
          ...(write.step ? { step: write.step.name } : {}),
        }
        : {}),
      repaired,
      detail,
    }, { announce: false });
    hooks.emit(fileIntegrityEvent({
      kind,
      path,
      ...(write ? { writer: write.writer } : {}),
      ...(write?.step ? { step: write.step } : {}),
      changes,
      ...(eventState(expected) ? { before: eventState(expected) } : {}),
      ...(eventState(now) ? { after: eventState(now) } : {}),
      repaired,
      detail,
    }));
  }

  #lstat(path: string): Deno.FileInfo | undefined {
    try {
      return Deno.lstatSync(path);
    } catch {
      return undefined;
    }
  }

  /**
   * Puts `path` back as `expected`: in place when the same inode is there,
   * else as a new file (the old one unlinked). Never follows a symlink.
   */
  async #restore(
    path: string,
    expected: FileRecord,
    now: FileRecord,
    changes: string[],
  ): Promise<{ ok: boolean; detail: string }> {
    if (expected.dir) {
      return { ok: false, detail: "a directory is not restored" };
    }
    if (!expected.exists) {
      // Put back means gone again: the path was free at the start.
      if (now.dir) {
        return { ok: false, detail: "not removed: a directory" };
      }
      try {
        await Deno.remove(path);
        this.#gone(path);
        return { ok: true, detail: "removed: absent at the start" };
      } catch (error) {
        return {
          ok: false,
          detail: `not removed: ${(error as Error).message}`,
        };
      }
    }
    const content = expected.content;
    if (!content) {
      return {
        ok: false,
        detail: expected.sha256 === undefined
          ? `not restored: ${expected.size} bytes, beyond what the start snapshot hashes`
          : `not restored: ${expected.size} bytes, beyond the ${
            SNAPSHOT_LIMITS.keepFile / 1024
          } KiB per file and ${
            SNAPSHOT_LIMITS.keepTotal / 1024 / 1024
          } MiB in all the start snapshot keeps`,
      };
    }
    const mode = (expected.mode ?? 0o644) & 0o7777;
    try {
      const same = now.exists && !changes.includes("inode") &&
        !changes.includes("type");
      if (same) {
        const file = await Deno.open(path, { write: true });
        try {
          const info = await file.stat();
          if (
            !info.isFile || info.ino !== expected.ino ||
            info.dev !== expected.dev
          ) throw new Error("the file was replaced while it was restored");
          if (changes.includes("content")) {
            await file.truncate(0);
            await writeAll(file, content);
          }
        } finally {
          file.close();
        }
      } else {
        if (now.exists) {
          if (now.dir) {
            return {
              ok: false,
              detail: "not restored: a directory took its place",
            };
          }
          await Deno.remove(path);
        }
        await Deno.mkdir(parentOf(path), { recursive: true });
        const file = await Deno.open(path, {
          write: true,
          createNew: true,
          mode,
        });
        try {
          await writeAll(file, content);
        } finally {
          file.close();
        }
      }
      const info = await Deno.lstat(path);
      if (!info.isFile) throw new Error("not a file after the restore");
      await Deno.chmod(path, mode);
      if (expected.uid !== undefined && expected.gid !== undefined) {
        await Deno.chown(path, expected.uid, expected.gid);
      }
      const times = expected.times;
      if (times?.atime && times.mtime) {
        await Deno.utime(path, times.atime, times.mtime);
      }
      if (!same) {
        // A new inode: the kernel knows the file by it from now on, and so
        // does the watch.
        expected.dev = info.dev;
        expected.ino = info.ino ?? undefined;
        this.#appeared(path);
        this.#addWatch(path, FILE_EVENTS);
      }
      this.#seen.set(path, statSignature(this.#lstat(path)));
      return { ok: true, detail: "restored from the start snapshot" };
    } catch (error) {
      return {
        ok: false,
        detail: `not restored: ${(error as Error).message}`,
      };
    }
  }

  /** Stats a batch of the snapshotted files; a changed one is checked. */
  #sweep(): void {
    if (this.#stopping) return;
    const paths = [...this.#expected.keys()];
    const end = Math.min(paths.length, this.#sweepAt + SWEEP_BATCH);
    for (let index = this.#sweepAt; index < end; index++) {
      const path = paths[index];
      const info = this.#lstat(path);
      const seen = statSignature(info);
      const last = this.#seen.get(path);
      if (last === undefined) {
        this.#seen.set(path, seen);
        // The first sweep: what changed between the snapshot and now.
        const expected = this.#expected.get(path)!;
        if (
          expected.exists !== !!info ||
          (info && (
            expected.ctime !== info.ctime?.toISOString() ||
            expected.ino !== (info.ino ?? undefined)
          ))
        ) this.#schedule(path);
      } else if (last !== seen) {
        this.#seen.set(path, seen);
        this.#schedule(path);
      }
    }
    this.#sweepAt = end >= paths.length ? 0 : end;
    const timer = this.#sweepTimer = setTimeout(() => this.#sweep(), SWEEP_MS);
    Deno.unrefTimer(timer);
  }
}
