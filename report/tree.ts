/**
 * The report's process tree: every process of the job, folded into the
 * parent/child tree the report shows, bounded to its first
 * {@linkcode MAX_TREE} processes in depth-first order so that a long job
 * (or a daemon's weeks) keeps its memory bounded.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { TreeEntry } from "./types.ts";

/** Processes shown in the report's tree. */
export const MAX_TREE = 500;

/** Exited processes remembered for the events read after their exit. */
const MAX_EXITED = 4_096;

/** A process as the tree knows it. */
export interface TreeNode {
  pid: number;
  ppid: number;
  comm: string;
  argv?: string[];
  path?: string;
  /** The CI step's name, once an event of the process carries it. */
  step?: string;
  exitCode?: number;
  signal?: number;
  children: TreeNode[];
  parent?: TreeNode;
  /** Past the tree's MAX_TREE first entries for good: never shown. */
  dropped?: boolean;
  /** Made from another event than its fork, at this time: a fork of the
   * pid read later (another sensor's ring) is its own. */
  unforked?: string;
  /** Its exit's time, once it has exited. */
  exited?: string;
  /** Placed under its nearest known ancestor, its parent being unknown. */
  reparented?: boolean;
  /**
   * A process under it is past the first MAX_TREE for good: its subtree
   * runs past the limit, so a child forked from now on (appended at the
   * subtree's end) is too.
   */
  overflowed?: boolean;
}

/** The processes of a job, from their events, folded into a tree. */
export class ReportTree {
  /** Processes seen: one per fork, or per pid first seen while not live. */
  #processes = 0;
  readonly #live = new Map<number, TreeNode>();
  /** The last exited process of each pid, oldest first. */
  readonly #exited = new Map<number, TreeNode>();
  /**
   * The exits in the order they came, from `#exitHead` on, with each
   * one's time: the oldest current entry of `#exited` is the first whose
   * node is still there with that time. Asking the Map for its first key
   * instead walks past every entry deleted from its front.
   */
  #exitOrder: TreeNode[] = [];
  #exitTimes: string[] = [];
  #exitHead = 0;
  /** The nodes that may still be shown, in order of creation. */
  #nodes: TreeNode[] = [];
  /** Parentless nodes by their parent's pid: a process that started
   * before the agent (a hook's shell) shows up after its children, which
   * then go under it. */
  readonly #waiting = new Map<number, TreeNode[]>();

  /** Processes seen so far. */
  get processes(): number {
    return this.#processes;
  }

  /**
   * The node of the event's process, created when the pid is not live; a
   * process event also updates it (exec: command; exit: status, and the
   * pid is free for reuse). Events come in time order per sensor, not
   * across sensors: an event of an exited pid from before its exit is the
   * exited process's, and a fork read after another event of its pid
   * takes the node that event made.
   */
  apply(event: RingfenceEvent): TreeNode {
    let node = this.#live.get(event.pid);
    if (event.type !== "process_event") {
      return node ?? this.#exitedBefore(event) ?? this.#newNode(event);
    }
    if (event.kind === "fork") {
      node = node?.unforked !== undefined && event.time <= node.unforked
        ? this.#adopt(node, event.ppid)
        : this.#newNode(event);
    } else if (!node) node = this.#exitedBefore(event) ?? this.#newNode(event);
    if (event.kind === "exec") {
      node.comm = event.comm;
      node.argv = event.argv;
      node.path = event.path;
    } else if (event.kind === "exit") {
      node.exitCode = event.exit_code;
      node.signal = event.signal;
      node.exited = event.time;
      if (this.#live.get(event.pid) === node) this.#live.delete(event.pid);
      this.#exited.delete(event.pid);
      this.#exited.set(event.pid, node);
      this.#exitOrder.push(node);
      this.#exitTimes.push(event.time);
      if (this.#exited.size > MAX_EXITED) this.#forgetOldestExit();
    }
    return node;
  }

  /** Forgets the process that exited first of those remembered. */
  #forgetOldestExit(): void {
    while (this.#exitHead < this.#exitOrder.length) {
      const index = this.#exitHead++;
      const old = this.#exitOrder[index];
      if (
        this.#exited.get(old.pid) === old &&
        old.exited === this.#exitTimes[index]
      ) {
        this.#exited.delete(old.pid);
        break;
      }
    }
    // Drop the forgotten prefix once it dominates the arrays.
    if (this.#exitHead > 1024 && this.#exitHead * 2 > this.#exitOrder.length) {
      this.#exitOrder = this.#exitOrder.slice(this.#exitHead);
      this.#exitTimes = this.#exitTimes.slice(this.#exitHead);
      this.#exitHead = 0;
    }
  }

  /** The exited process of the event's pid, when the event is from before
   * its exit. */
  #exitedBefore(event: RingfenceEvent): TreeNode | undefined {
    const node = this.#exited.get(event.pid);
    return node?.exited !== undefined && event.time <= node.exited
      ? node
      : undefined;
  }

  /** The process `pid` is or was: live, or the last exited with it. */
  #known(pid: number): TreeNode | undefined {
    return this.#live.get(pid) ?? this.#exited.get(pid);
  }

  /** A node made before its fork was read: under the fork's parent now. */
  #adopt(node: TreeNode, ppid: number): TreeNode {
    node.unforked = undefined;
    const parent = this.#known(ppid);
    if (!parent || parent === node.parent || parent.dropped || node.dropped) {
      return node;
    }
    if (node.parent) {
      node.parent.children = node.parent.children.filter((child) =>
        child !== node
      );
    }
    node.parent = parent;
    node.ppid = ppid;
    node.reparented = undefined;
    parent.children.push(node);
    return node;
  }
  /** The tree's first MAX_TREE processes, and how many are left out. */
  fold(): { tree: TreeEntry[]; omitted: number } {
    let budget = MAX_TREE;
    const fold = (node: TreeNode): TreeEntry => {
      budget--;
      const entry: TreeEntry = {
        pid: node.pid,
        comm: node.comm,
        children: [],
      };
      if (node.argv?.length) entry.command = node.argv.join(" ");
      else if (node.path) entry.command = node.path;
      if (node.step) entry.step = node.step;
      if (node.reparented) entry.reparented = true;
      if (node.signal) entry.exit = `signal ${node.signal}`;
      else if (node.exitCode !== undefined) {
        entry.exit = `exit ${node.exitCode}`;
      }
      for (const child of node.children) {
        if (budget <= 0) break;
        entry.children.push(fold(child));
      }
      return entry;
    };
    const tree: TreeEntry[] = [];
    for (const root of this.#nodes.filter((node) => !node.parent)) {
      if (budget <= 0) break;
      tree.push(fold(root));
    }
    return { tree, omitted: this.#processes - (MAX_TREE - budget) };
  }

  /**
   * A new process: under its parent, or when the report does not know its
   * parent, under the nearest ancestor it knows (the event's `ancestors`),
   * marked as reparented; a root otherwise.
   */
  #newNode(event: RingfenceEvent): TreeNode {
    const { pid, ppid, comm } = event;
    this.#processes++;
    let parent = this.#known(ppid);
    let reparented = false;
    if (!parent && event.type === "network_event") {
      for (const ancestor of event.ancestors ?? []) {
        parent = this.#known(ancestor.pid);
        if (parent) {
          reparented = ancestor.pid !== ppid;
          break;
        }
      }
    }
    if (parent === undefined || parent.pid === pid) parent = undefined;
    // Every field from the start: a node that gains fields one by one
    // changes its shape and reallocates its property store each time,
    // and an exec burst makes thousands of them a second.
    const node: TreeNode = {
      pid,
      ppid,
      comm,
      argv: undefined,
      path: undefined,
      step: undefined,
      exitCode: undefined,
      signal: undefined,
      children: [],
      parent,
      dropped: undefined,
      unforked: event.kind !== "fork" ? event.time : undefined,
      exited: undefined,
      reparented: reparented || undefined,
      overflowed: undefined,
    };
    this.#live.set(pid, node);
    this.#exited.delete(pid);
    if (parent?.dropped || parent?.overflowed) {
      // Its place in the tree comes after its parent's.
      node.dropped = true;
      return node;
    }
    parent?.children.push(node);
    this.#nodes.push(node);
    this.#adoptWaiting(node);
    if (!parent && this.#waiting.size < MAX_EXITED) {
      const siblings = this.#waiting.get(ppid);
      if (siblings) siblings.push(node);
      else this.#waiting.set(ppid, [node]);
    }
    if (this.#nodes.length >= 2 * MAX_TREE) this.#prune();
    return node;
  }

  /** Takes the parentless nodes that named `node`'s pid as their parent. */
  #adoptWaiting(node: TreeNode): void {
    const waiting = this.#waiting.get(node.pid);
    if (!waiting) return;
    this.#waiting.delete(node.pid);
    for (const child of waiting) {
      if (child.parent || child.dropped || child === node) continue;
      child.parent = node;
      node.children.push(child);
    }
  }

  /**
   * Forgets the nodes past the first MAX_TREE of the tree's depth-first
   * order, which is all `fold()` shows. New nodes only ever enter that
   * order after their parent, so a node's place in it only moves back: one
   * past the limit is past it for good.
   */
  #prune(): void {
    const kept = new Set<TreeNode>();
    const stack = this.#nodes.filter((node) => !node.parent).reverse();
    while (stack.length && kept.size < MAX_TREE) {
      const node = stack.pop()!;
      kept.add(node);
      for (let index = node.children.length - 1; index >= 0; index--) {
        stack.push(node.children[index]);
      }
    }
    for (const node of this.#nodes) {
      if (kept.has(node)) {
        node.children = node.children.filter((child) => kept.has(child));
      } else {
        node.dropped = true;
        node.children = [];
        for (
          let above = node.parent;
          above && !above.overflowed;
          above = above.parent
        ) above.overflowed = true;
      }
    }
    this.#nodes = this.#nodes.filter((node) => kept.has(node));
  }
}
