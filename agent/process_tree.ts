/**
 * The process tree: seeded from /proc when the agent starts, then kept
 * current by applying process events (the seed's event sourcing).
 *
 * Nodes link to their parent object, not only to a pid, so ancestry stays
 * right when pids are reused. A node's parent is the process that forked
 * it, even after the kernel reparents an orphan to init or a subreaper: the
 * question the tree answers is "who started this", which is what a report
 * about a job needs.
 *
 * @module
 */

import type { GuardEvent } from "../sensors/guard_event.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import type { ProcEntry } from "./procfs.ts";

/** One process, alive or exited. */
export interface ProcessNode {
  /** Process id. */
  pid: number;
  /** The process that forked it (fork-time parent), if known. */
  parent?: ProcessNode;
  /** Its parent's pid as first seen. */
  ppid: number;
  /**
   * Processes it forked, in order: the live ones and the exited ones the
   * tree still keeps (a Set, so forgetting one is O(1) even under a parent
   * that forks thousands). The tree changes it; read it only.
   */
  children: ReadonlySet<ProcessNode>;
  /** Command name. */
  comm: string;
  /** Executable path of the last exec. */
  path?: string;
  /** Arguments of the last exec. */
  argv?: string[];
  /** Real uid, when known. */
  uid?: number;
  /** "proc" when read at start, "event" when learnt from the sensor. */
  source: "proc" | "event";
  /** Fork time, for processes seen being forked. */
  forked?: string;
  /** Exit time, once exited. */
  exited?: string;
  /** exit() status, once exited. */
  exitCode?: number;
  /** The signal that ended it, or 0. */
  signal?: number;
}

/**
 * The children of every process that has forked none, shared: most
 * processes of a build fork nothing, and an empty Set of their own would
 * hold memory for as long as the tree keeps them.
 */
const NO_CHILDREN: ReadonlySet<ProcessNode> = new Set<ProcessNode>();

function addChild(parent: ProcessNode, child: ProcessNode): void {
  if (parent.children === NO_CHILDREN) parent.children = new Set([child]);
  else (parent.children as Set<ProcessNode>).add(child);
}

function removeChild(parent: ProcessNode, child: ProcessNode): void {
  if (parent.children !== NO_CHILDREN) {
    (parent.children as Set<ProcessNode>).delete(child);
  }
}

/**
 * Options of {@linkcode ProcessTree}: how many exited processes it keeps,
 * the oldest going first. An event read after its process's exit still
 * finds the process: the rings are read in batches, each sensor's on its
 * own, and a record of another sensor can be read up to a batch after the
 * exit that followed it. A live process keeps its exited ancestors through
 * `parent` regardless, so ancestry needs none of these.
 */
export interface ProcessTreeOptions {
  /**
   * At most this many, even when batches hold more exits. A daemon that
   * runs for weeks must not grow without bound; two full process rings
   * hold fewer.
   *
   * @default {8192}
   */
  maxExited?: number;
  /**
   * At least this many; beyond them, only the exits of the current batch
   * and the one before it (see {@linkcode ProcessTree.endBatch}), which
   * under a storm are many, each holding its node while it is kept.
   *
   * @default {1024}
   */
  minExited?: number;
}

/** A tree of processes keyed by pid. */
export class ProcessTree {
  readonly #live = new Map<number, ProcessNode>();
  readonly #exited: ProcessNode[] = [];
  readonly #lastExited = new Map<number, ProcessNode>();
  readonly #maxExited: number;
  readonly #minExited: number;
  #exitedStart = 0;
  /** Exits in the batch being applied, and in the one before it. */
  #batchExits = 0;
  #previousBatchExits = 0;

  /** An empty tree. */
  constructor(options: ProcessTreeOptions = {}) {
    this.#maxExited = options.maxExited ?? 8192;
    this.#minExited = Math.min(options.minExited ?? 1024, this.#maxExited);
  }

  /** Builds a tree from a /proc snapshot. */
  static fromProc(
    entries: readonly ProcEntry[],
    options?: ProcessTreeOptions,
  ): ProcessTree {
    const tree = new ProcessTree(options);
    for (const entry of entries) {
      tree.#live.set(entry.pid, {
        pid: entry.pid,
        ppid: entry.ppid,
        children: NO_CHILDREN,
        comm: entry.comm,
        path: entry.exe,
        argv: entry.argv,
        uid: entry.uid,
        source: "proc",
      });
    }
    for (const node of tree.#live.values()) {
      const parent = tree.#live.get(node.ppid);
      if (parent && parent !== node) {
        node.parent = parent;
        addChild(parent, node);
      }
    }
    return tree;
  }

  /** The live process with this pid, or the latest exited one. */
  get(pid: number): ProcessNode | undefined {
    return this.#live.get(pid) ?? this.#lastExited.get(pid);
  }

  /** Live processes. */
  get size(): number {
    return this.#live.size;
  }

  /** Every node known, live first, then exited ones still kept. */
  *nodes(): IterableIterator<ProcessNode> {
    yield* this.#live.values();
    for (let index = this.#exitedStart; index < this.#exited.length; index++) {
      yield this.#exited[index];
    }
  }

  /**
   * The chain of parents of `pid`, nearest first: at most `limit`, up to
   * and with the process `root` (a scope root: what is above it is not the
   * job's), and never `outside` or what is above it (the agent).
   */
  ancestors(
    pid: number,
    limit = Number.POSITIVE_INFINITY,
    root?: number,
    outside?: number,
  ): ProcessNode[] {
    const chain: ProcessNode[] = [];
    const seen = new Set<ProcessNode>();
    const start = this.get(pid);
    let node = start?.pid === root ? undefined : start?.parent;
    while (
      node && !seen.has(node) && chain.length < limit && node.pid !== outside
    ) {
      seen.add(node);
      chain.push(node);
      if (node.pid === root) break;
      node = node.parent;
    }
    return chain;
  }

  /** `root` and everything it forked, depth first. */
  descendants(root: ProcessNode): ProcessNode[] {
    const found: ProcessNode[] = [];
    const stack = [root];
    while (stack.length) {
      const node = stack.pop()!;
      found.push(node);
      stack.push(...[...node.children].reverse());
    }
    return found;
  }

  /** Applies one process event (a guard event changes nothing). */
  apply(event: ProcessEvent | GuardEvent): void {
    switch (event.kind) {
      case "fork":
        this.#fork(event);
        break;
      case "exec": {
        const node = this.#live.get(event.pid) ?? this.#fork(event);
        node.comm = event.comm;
        node.path = event.path;
        node.argv = event.argv;
        node.uid = event.uid;
        break;
      }
      case "exit": {
        const node = this.#live.get(event.pid) ?? this.#fork(event);
        node.exited = event.time;
        node.exitCode = event.exit_code;
        node.signal = event.signal;
        this.#retire(node);
        break;
      }
    }
  }

  #fork(event: ProcessEvent): ProcessNode {
    // A live node with this pid is stale: its exit was not seen (it left
    // before the agent started watching it). Retire it.
    const stale = this.#live.get(event.pid);
    if (stale) this.#retire(stale);
    const parent = this.#live.get(event.ppid);
    // Every field from the start: a node that gains its exec's and exit's
    // fields later changes shape and reallocates its property store each
    // time, thousands of times a second under an exec burst.
    const node: ProcessNode = {
      pid: event.pid,
      ppid: event.ppid,
      parent,
      children: NO_CHILDREN,
      comm: event.comm,
      path: undefined,
      argv: undefined,
      uid: event.uid,
      source: "event",
      forked: event.kind === "fork" ? event.time : undefined,
      exited: undefined,
      exitCode: undefined,
      signal: undefined,
    };
    if (parent) addChild(parent, node);
    this.#live.set(node.pid, node);
    return node;
  }

  /**
   * Ends a batch of events (the agent calls it after each read of the
   * rings): the processes that exited before the previous batch may go,
   * down to `minExited`. A tree whose batches never end keeps `maxExited`.
   */
  endBatch(): void {
    this.#previousBatchExits = this.#batchExits;
    this.#batchExits = 0;
    this.#forget();
  }

  #retire(node: ProcessNode): void {
    if (this.#live.get(node.pid) === node) this.#live.delete(node.pid);
    this.#exited.push(node);
    this.#lastExited.set(node.pid, node);
    this.#batchExits++;
    this.#forget();
  }

  /** Lets the oldest exited processes go, down to what must be kept. */
  #forget(): void {
    const keep = Math.min(
      this.#maxExited,
      Math.max(this.#minExited, this.#batchExits + this.#previousBatchExits),
    );
    while (this.#exited.length - this.#exitedStart > keep) {
      const old = this.#exited[this.#exitedStart++];
      if (this.#lastExited.get(old.pid) === old) {
        this.#lastExited.delete(old.pid);
      }
      if (old.parent) removeChild(old.parent, old);
    }
    // Compact the retired prefix once it dominates the array.
    if (
      this.#exitedStart > 1024 && this.#exitedStart * 2 > this.#exited.length
    ) {
      this.#exited.splice(0, this.#exitedStart);
      this.#exitedStart = 0;
    }
  }
}
