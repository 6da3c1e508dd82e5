/**
 * The kernel's scope map from the agent's side: which processes are
 * watched. Roots are the processes `ringfence run` spawns, or those named
 * in `policy.scope.processes`; the kernel adds their descendants at fork,
 * and this module seeds the ones already running from /proc.
 *
 * @module
 */

import { type ProcessSensor, ScopeFlag } from "../sensors/process.ts";
import { listProcesses, type ProcEntry } from "./procfs.ts";

/**
 * Before attach: in `run` (`spawner`) the agent is the root whose children
 * are roots; otherwise the agent is kept out of scope, as it may itself
 * descend from a root (a runner step that starts it), and the kernel
 * learns the root names to match at exec.
 */
export function prepareScope(
  process: ProcessSensor,
  spawner: boolean,
  rootNames: readonly string[],
  runnerNames: readonly string[] = [],
): void {
  const self = Deno.pid;
  if (spawner) {
    process.setScope(self, {
      flags: ScopeFlag.spawner | ScopeFlag.agent,
      rootPid: self,
    });
    return;
  }
  process.setScope(self, { flags: ScopeFlag.agent, rootPid: self });
  for (const name of rootNames) {
    process.addRootName(name, runnerNames.includes(name));
  }
}

/**
 * After attach: puts the roots named in `rootNames` that already run, and
 * their descendants, in the scope map (none for `run`, whose roots are yet
 * to be spawned). Returns the /proc snapshot, for the process tree.
 *
 * A process forked while the snapshot is taken is either in the snapshot or
 * inherited at fork, the sensor being attached.
 */
export function seedScope(
  process: ProcessSensor,
  rootNames: readonly string[] | undefined,
  runnerNames: readonly string[] = [],
): ProcEntry[] {
  const snapshot = listProcesses();
  if (rootNames) {
    seedFrom(process, snapshot, rootNames, runnerNames);
    // Children forked between the snapshot and the map insert of their
    // parent are missed by both: a second pass picks them up, reading only
    // processes new since the snapshot.
    const known = new Map(snapshot.map((entry) => [entry.pid, entry]));
    seedFrom(process, listProcesses("/proc", known), rootNames, runnerNames);
  }
  return snapshot;
}

/** Replaces the root names the kernel matches at exec. */
export function replaceRootNames(
  process: ProcessSensor,
  old: readonly string[],
  next: readonly string[],
  runnerNames: readonly string[] = [],
): void {
  const names = new Set(next);
  for (const name of old) {
    if (!names.has(name)) process.removeRootName(name);
  }
  for (const name of names) {
    process.addRootName(name, runnerNames.includes(name));
  }
}

/** Whether `pid` is in scope: policed, or a scope root. */
export function inScope(process: ProcessSensor, pid: number): boolean {
  const scope = process.scopeOf(pid);
  return !!scope && (scope.flags & ScopeFlag.monitored) !== 0;
}

/**
 * SIGKILL for a protected write the kernel could not match exactly; never
 * for a process out of scope or a scope root (reported, never blocked).
 */
export function killInScope(process: ProcessSensor, pid: number): boolean {
  const scope = process.scopeOf(pid);
  if (!scope || !(scope.flags & ScopeFlag.monitored)) return false;
  if (scope.flags & ScopeFlag.exempt) return false;
  try {
    Deno.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

/**
 * Puts each scope root found in a /proc snapshot, and its descendants, in
 * the scope map. Roots match by comm or by the executable's file name.
 */
function seedFrom(
  process: ProcessSensor,
  snapshot: readonly ProcEntry[],
  rootNames: readonly string[],
  runnerNames: readonly string[],
): void {
  const self = Deno.pid;
  const names = new Set(rootNames);
  const runners = new Set(runnerNames);
  const isRunner = (entry: ProcEntry) =>
    runners.has(entry.comm) ||
    (entry.exe !== undefined && runners.has(entry.exe.split("/").pop()!));
  const children = new Map<number, ProcEntry[]>();
  for (const entry of snapshot) {
    const siblings = children.get(entry.ppid) ?? [];
    siblings.push(entry);
    children.set(entry.ppid, siblings);
  }
  const isRoot = (entry: ProcEntry) =>
    names.has(entry.comm) ||
    (entry.exe !== undefined && names.has(entry.exe.split("/").pop()!));
  for (const root of snapshot.filter(isRoot)) {
    if (root.pid === self) continue;
    if (!process.scopeOf(root.pid)) {
      process.setScope(root.pid, {
        flags: ScopeFlag.monitored | ScopeFlag.exempt |
          (isRunner(root) ? ScopeFlag.runner : 0),
        rootPid: root.pid,
      });
    }
    const stack = [...(children.get(root.pid) ?? [])];
    while (stack.length) {
      const entry = stack.pop()!;
      if (entry.pid === self || isRoot(entry)) continue;
      if (!process.scopeOf(entry.pid)) {
        process.setScope(entry.pid, {
          flags: ScopeFlag.monitored,
          rootPid: root.pid,
        });
      }
      stack.push(...(children.get(entry.pid) ?? []));
    }
  }
}
