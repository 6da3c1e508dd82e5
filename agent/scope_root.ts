/**
 * Which scope root a process descends from, for the `ancestors` of its
 * events: the chain stops there, as what is above a root (the runner's
 * service, the agent and its parents in `run`) is not the job's.
 *
 * @module
 */

import type { ProcessSensor } from "../sensors/process.ts";
import type { ProcessNode, ProcessTree } from "./process_tree.ts";

/** Roots by process: one map lookup per process, not per event. */
const roots = new WeakMap<ProcessNode, number>();

/**
 * The pid of the scope root `pid` descends from (itself when it is one),
 * from the kernel's scope map; undefined when it is not in the map (gone,
 * or out of scope).
 */
export function scopeRootOf(
  process: Pick<ProcessSensor, "scopeOf">,
  tree: ProcessTree,
  pid: number,
): number | undefined {
  const node = tree.get(pid);
  const cached = node && roots.get(node);
  if (cached !== undefined) return cached;
  const root = process.scopeOf(pid)?.rootPid;
  if (node && root) roots.set(node, root);
  return root || undefined;
}
