/**
 * Bulk directories: the dependency and build directories (`files.bulk`:
 * node_modules, .venv, target, ...) under `files.watch` whose creates,
 * unlinks, mkdirs, ... sensor.file-system counts per process rather than
 * sends one by one (bpf/lib/bulk.h), and the file_system_summary events
 * made from those counts.
 *
 * The registry of roots: a directory is a root when a process that is not
 * a checkout makes it (mkdir, or a rename onto the name) under a watched
 * tree, or when it is there at the start (a bounded scan of the watched
 * trees). A symbolic link never is one: a name through it reaches another
 * directory, and the kernel builds such names without following links
 * (the agent checks the directory with lstat when it adds it). A root stops
 * being one when the directory is moved away or something else takes its
 * name (a rename onto it, a symlink made there once it is gone): made again,
 * it is a new root. A root is retired for good once a checkout changes
 * something under it: the files there are checked out, and tamper
 * detection needs every change to them (the kernel retires it itself at
 * the checkout's change, the agent takes it out of the prefix map).
 * Past {@linkcode MAX_ROOTS} roots, new ones are not added: full detail.
 *
 * Summaries go out when their process exits, at the stop for the live
 * ones, and every {@linkcode PERIODIC_MS} for long-lived ones (counting
 * goes on, the next summary has what came since).
 *
 * @module
 */

import type { FileSystemEvent, ProcessEvent } from "../sensors/events.ts";
import type { FileSystemSensor, SummaryEntry } from "../sensors/file_system.ts";
import { FileSystemKind } from "../sensors/file_system_event.ts";
import type { FileSystemSummaryEvent } from "../sensors/file_system_summary.ts";
import { namesByValue } from "../sensors/layout.ts";
import { TimeFormatter } from "../sensors/event.ts";
import type { PathPattern } from "../sensors/file_system_rules.ts";
import { isCheckout } from "./tamper.ts";

/** Roots at most: beyond, new bulk directories get full detail. */
export const MAX_ROOTS = 1024;
/** Root ids the kernel's fs_bulk_retired holds (FS_BULK_ROOTS). */
const ROOT_IDS = 4096;
/** Directory levels below a watched tree the start scan looks at. */
export const SCAN_DEPTH = 3;
/** Directories the start scan reads at most. */
const SCAN_DIRS = 2000;
/** How often a live process's summary goes out. */
export const PERIODIC_MS = 60_000;

const KINDS = namesByValue(FileSystemKind);

/** A bulk root. */
interface Root {
  id: number;
  /** The directory, without its trailing "/". */
  directory: string;
  /** The directory with its trailing "/": the prefix map's key. */
  prefix: string;
  /** `files.watch "..."`: the watch pattern that covers every path under it. */
  reason: string;
}

/** What a summary event copies from its process's first change. */
type Template = Pick<
  FileSystemEvent,
  | "pid"
  | "tid"
  | "ppid"
  | "uid"
  | "gid"
  | "comm"
  | "cgroup_id"
  | "step"
  | "dependency"
  | "exe"
>;

/** What {@linkcode BulkDirs} needs of the policy. */
export interface BulkConfig {
  /** `files.bulk`: directory names. */
  names: readonly string[];
  /** `files.detail: summary`. */
  summary: boolean;
  /** `files.watch`, compiled. */
  watch: readonly PathPattern[];
}

/** The roots, and the summaries made from the kernel's counts. */
export class BulkDirs {
  readonly #sensor: FileSystemSensor;
  #config: BulkConfig;
  #names: Set<string>;
  /** prefix → root, for roots in force */
  readonly #roots = new Map<string, Root>();
  /** id → root, retired ones too (their counts still come out) */
  readonly #byId = new Map<number, Root>();
  /** directories a checkout wrote under: never roots again */
  readonly #retired = new Set<string>();
  /** pid → root id → its first change's process fields */
  readonly #pairs = new Map<number, Map<number, Template>>();
  readonly #time = new TimeFormatter();
  #nextId = 1;
  /** exits seen in this read of the rings, and in the one before */
  #waiting: number[] = [];
  #due: number[] = [];
  #periodic = Date.now();
  /** the latest event time seen: the time of the summaries made */
  #latest = "";

  constructor(sensor: FileSystemSensor, config: BulkConfig) {
    this.#sensor = sensor;
    this.#config = config;
    this.#names = new Set(config.names);
  }

  /** Roots in force. */
  get roots(): string[] {
    return [...this.#roots.values()].map((root) => root.directory);
  }

  /**
   * Takes a policy reload's config: a root no longer named or watched is
   * taken out; new names apply to directories made from now on.
   */
  set config(config: BulkConfig) {
    this.#config = config;
    this.#names = new Set(config.names);
    for (const root of [...this.#roots.values()]) {
      const name = root.directory.slice(root.directory.lastIndexOf("/") + 1);
      const reason = this.#watchReason(root.prefix);
      if (!config.summary || !this.#names.has(name) || !reason) {
        this.#remove(root);
      } else root.reason = reason;
    }
  }

  /**
   * Looks for bulk directories already there: under each watched tree
   * (a `files.watch` pattern whose literal directory covers every path
   * below it), {@linkcode SCAN_DEPTH} levels deep, {@linkcode SCAN_DIRS}
   * directories at most. Symbolic links are not followed.
   */
  async scan(): Promise<void> {
    if (!this.#config.summary || !this.#names.size) return;
    const trees = new Set<string>();
    for (const pattern of this.#config.watch) {
      const { literal } = pattern;
      if (literal.kind === "prefix" && literal.exact) trees.add(literal.prefix);
    }
    let budget = SCAN_DIRS;
    const walk = async (dir: string, depth: number): Promise<void> => {
      if (budget-- <= 0 || this.#roots.size >= MAX_ROOTS) return;
      const children: string[] = [];
      try {
        for await (const entry of Deno.readDir(dir)) {
          if (!entry.isDirectory) continue;
          const path = `${dir === "/" ? "" : dir}/${entry.name}`;
          if (this.#names.has(entry.name)) this.#add(path);
          else if (depth < SCAN_DEPTH) children.push(path);
        }
      } catch {
        return;
      }
      for (const child of children) await walk(child, depth + 1);
    };
    for (const tree of trees) {
      await walk(tree.length > 1 ? tree.slice(0, -1) : tree, 0);
    }
  }

  /**
   * Takes a judged file_system_event (after step attribution): learns
   * roots from directories made, retires roots a checkout writes under,
   * and keeps the first change of each process under each root, whose
   * process fields its summary copies.
   */
  observe(event: FileSystemEvent): void {
    this.#seen(event.time);
    if (!this.#config.summary || event.kind === "read") return;
    const checkout = isCheckout(event);
    // Most events come while no root is known (or outside every root):
    // nothing here allocates for them.
    if (this.#roots.size) {
      this.#underRoots(event, event.path, checkout);
      if (event.new_path !== undefined) {
        this.#underRoots(event, event.new_path, checkout);
      }
    }
    if (checkout || !event.reason.startsWith("files.watch")) return;
    // Not a symbolic link: names through it reach another directory.
    const made = event.kind === "mkdir"
      ? event.path
      : event.kind === "rename"
      ? event.new_path
      : undefined;
    if (made === undefined) return;
    const name = made.slice(made.lastIndexOf("/") + 1);
    if (this.#names.has(name)) this.#add(made);
  }

  /**
   * One path of an event while roots are known: a checkout under a root
   * retires it; another process's first change under it is kept; a root
   * replaced by something else than its directory goes.
   */
  #underRoots(event: FileSystemEvent, path: string, checkout: boolean): void {
    const root = this.#rootOf(path);
    if (root) {
      if (checkout) {
        this.#retired.add(root.directory);
        this.#remove(root);
      } else {
        let pairs = this.#pairs.get(event.pid);
        if (!pairs) this.#pairs.set(event.pid, pairs = new Map());
        if (!pairs.has(root.id)) pairs.set(root.id, template(event));
      }
    }
    // Something other than the directory under a root's name (a symbolic
    // link to elsewhere, moved or made there), or the directory moved away:
    // names under it no longer reach it. An rmdir leaves the root: made
    // again by mkdir, it is the same kind of directory.
    if (
      event.kind === "symlink" || event.kind === "unlink" ||
      event.kind === "rename"
    ) {
      const gone = this.#roots.get(`${path}/`);
      if (gone) this.#remove(gone);
    }
  }

  /**
   * Notes a process's exit: its summaries go out with the next read but
   * one ({@linkcode BulkDirs.read}), when every record it made before it
   * exited has been read (the rings are read one after the other).
   */
  noteExit(exit: ProcessEvent): void {
    this.#seen(exit.time);
    if (this.#byId.size) this.#waiting.push(exit.pid);
  }

  /**
   * The summaries due after a read of the rings: those of the processes
   * that exited before the read before, and every {@linkcode PERIODIC_MS}
   * those of live processes.
   */
  read(): FileSystemSummaryEvent[] {
    const events = this.#due.flatMap((pid) => this.#exited(pid));
    this.#due = this.#waiting;
    this.#waiting = [];
    if (this.#byId.size && Date.now() - this.#periodic >= PERIODIC_MS) {
      this.#periodic = Date.now();
      events.push(...this.#live(false));
    }
    return events;
  }

  /** At the stop: the summaries of every process, exited or not. */
  finish(): FileSystemSummaryEvent[] {
    const events = [...this.#due, ...this.#waiting].flatMap((pid) =>
      this.#exited(pid)
    );
    this.#due = this.#waiting = [];
    if (this.#byId.size) events.push(...this.#live(true));
    return events;
  }

  #exited(pid: number): FileSystemSummaryEvent[] {
    const pairs = this.#pairs.get(pid);
    if (!pairs) return [];
    this.#pairs.delete(pid);
    const events: FileSystemSummaryEvent[] = [];
    for (const [id, first] of pairs) {
      const entry = this.#sensor.takeSummary(pid, id);
      const event = entry && this.#event(entry, first, true);
      if (event) events.push(event);
    }
    return events;
  }

  /**
   * The summaries of processes still counting: what they did so far.
   * `final` (the stop): nothing is counted after. Otherwise the counts
   * leave the map, so the next summary has only what came since.
   */
  #live(final: boolean): FileSystemSummaryEvent[] {
    const events: FileSystemSummaryEvent[] = [];
    for (const entry of this.#sensor.summaries()) {
      const first = this.#pairs.get(entry.tgid)?.get(entry.root);
      const taken = final
        ? entry
        : this.#sensor.takeSummary(entry.tgid, entry.root);
      if (!taken) continue;
      const event = this.#event(taken, first, false);
      if (event) events.push(event);
    }
    return events;
  }

  #seen(time: string): void {
    if (time > this.#latest) this.#latest = time;
  }

  #event(
    entry: SummaryEntry,
    first: Template | undefined,
    exited: boolean,
  ): FileSystemSummaryEvent | undefined {
    const root = this.#byId.get(entry.root);
    const counts: FileSystemSummaryEvent["counts"] = {};
    let total = 0;
    entry.count.forEach((count, kind) => {
      const name = KINDS[kind];
      if (!count || !name) return;
      counts[name] = count;
      total += count;
    });
    if (!total || !root) return undefined;
    const process: Template = first ?? {
      pid: entry.tgid,
      tid: entry.tgid,
      ppid: 0,
      uid: 0,
      gid: 0,
      comm: "",
      cgroup_id: 0,
    };
    return {
      type: "file_system_summary",
      kind: "bulk",
      time: this.#latest,
      ...process,
      directory: root.directory,
      counts,
      total,
      first: this.#format(entry.first),
      last: this.#format(entry.last),
      verdict: "allow",
      reason: root.reason,
      exited,
    };
  }

  #format(ns: bigint): string {
    return this.#time.format(
      Number(ns >> 32n),
      Number(ns & 0xffff_ffffn),
    );
  }

  /** The root `path` is under (roots do not nest), if any. */
  #rootOf(path: string): Root | undefined {
    if (!this.#roots.size) return undefined;
    let end = path.indexOf("/", 1);
    while (end !== -1) {
      const start = path.lastIndexOf("/", end - 1) + 1;
      if (this.#names.has(path.slice(start, end))) {
        const root = this.#roots.get(path.slice(0, end + 1));
        if (root) return root;
      }
      end = path.indexOf("/", end + 1);
    }
    return undefined;
  }

  /** The watch pattern that covers every path under `prefix`. */
  #watchReason(prefix: string): string | undefined {
    const pattern = this.#config.watch.find(({ literal }) =>
      literal.kind === "prefix" && literal.exact &&
      prefix.startsWith(literal.prefix)
    );
    return pattern && `files.watch ${JSON.stringify(pattern.text)}`;
  }

  /** Makes `directory` a root when it may be one. */
  #add(directory: string): void {
    const prefix = `${directory}/`;
    if (
      this.#roots.has(prefix) || this.#retired.has(directory) ||
      this.#roots.size >= MAX_ROOTS || this.#nextId >= ROOT_IDS ||
      this.#rootOf(prefix) || this.#inside(prefix)
    ) return;
    const reason = this.#watchReason(prefix);
    if (!reason || !isDirectory(directory)) return;
    const root = { id: this.#nextId, directory, prefix, reason };
    if (!this.#sensor.setBulkRoot(prefix, root.id)) return;
    this.#nextId++;
    this.#roots.set(prefix, root);
    this.#byId.set(root.id, root);
  }

  /** Whether a root is inside `prefix` (it would nest). */
  #inside(prefix: string): boolean {
    for (const other of this.#roots.keys()) {
      if (other.startsWith(prefix)) return true;
    }
    return false;
  }

  #remove(root: Root): void {
    if (!this.#roots.delete(root.prefix)) return;
    this.#sensor.removeBulkRoot(root.prefix);
  }
}

/** Whether `path` is a directory itself, not a symbolic link to one. */
function isDirectory(path: string): boolean {
  try {
    return Deno.lstatSync(path).isDirectory;
  } catch {
    return false;
  }
}

function template(event: FileSystemEvent): Template {
  const { pid, tid, ppid, uid, gid, comm, cgroup_id } = event;
  const fields: Template = { pid, tid, ppid, uid, gid, comm, cgroup_id };
  if (event.step) fields.step = event.step;
  if (event.dependency) fields.dependency = event.dependency;
  if (event.exe) fields.exe = event.exe;
  return fields;
}
