/**
 * Scope by cgroup: the processes of `scope.cgroups` and, in `start` mode,
 * of the runner's service cgroup are in scope, so that one re-parented away
 * from its root, or planted before the agent started, is watched all the
 * same. The kernel adds a process at fork or exec when its cgroup (or an
 * ancestor) is in `scope_cgroups`; this module resolves the cgroups, writes
 * the map and seeds the processes already in them from `cgroup.procs`.
 *
 * The runner's cgroup is the cgroup of a running scope root when it is a
 * service's own: not the root cgroup, `init.scope`, a slice, a login
 * session (`session-*.scope`) or anything under `user.slice`, which hold
 * processes of the whole machine or of a user's logins.
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import {
  type ProcessSensor,
  ScopeCgroupSource,
  ScopeFlag,
} from "../sensors/process.ts";
import type { ProcEntry } from "./procfs.ts";

/** A `scope.cgroups` entry that names no cgroup on this host. */
export class CgroupScopeError extends Error {
  /** Builds the error from a one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "CgroupScopeError";
  }
}

/** A cgroup in scope: its directory and its id. */
export interface ScopeCgroup {
  /** The cgroup's directory under the cgroup2 mount. */
  dir: string;
  /** The cgroup v2 id (the directory's inode number). */
  id: bigint;
  /** Why it is in scope. */
  source: "policy" | "runner";
}

/**
 * The directory of `path` (a `scope.cgroups` entry) under the cgroup2
 * mount `mount`: a path under the mount is taken as it is, any other as
 * relative to the mount (as /proc/PID/cgroup shows them).
 */
export function cgroupDir(mount: string, path: string): string {
  const base = mount.replace(/\/+$/, "");
  if (path === base || path.startsWith(`${base}/`)) {
    return path.replace(/\/+$/, "");
  }
  const relative = path.replace(/^\/+|\/+$/g, "");
  return relative ? `${base}/${relative}` : base;
}

/**
 * The cgroups `scope.cgroups` names, each checked to exist.
 *
 * @throws {CgroupScopeError} naming the first that does not.
 */
export function policyCgroups(
  mount: string,
  paths: readonly string[],
): ScopeCgroup[] {
  return paths.map((path) => {
    const dir = cgroupDir(mount, path);
    let info: Deno.FileInfo;
    try {
      info = Deno.statSync(`${dir}/cgroup.procs`);
    } catch {
      throw new CgroupScopeError(
        `scope.cgroups: cgroup "${path}" does not exist (no ${dir}/cgroup.procs under the cgroup2 mount ${mount})`,
      );
    }
    if (!info.isFile) {
      throw new CgroupScopeError(`scope.cgroups: "${path}" is not a cgroup`);
    }
    return { dir, id: cgroupId(dir), source: "policy" as const };
  });
}

/** The cgroup v2 id of the cgroup at `dir`: its kernfs inode number. */
export function cgroupId(dir: string): bigint {
  const ino = Deno.statSync(dir).ino;
  if (ino === null) throw new CgroupScopeError(`no inode number for ${dir}`);
  return BigInt(ino);
}

/** The cgroup v2 path of a process (`0::/path` of /proc/PID/cgroup). */
export function processCgroup(pid: number): string | undefined {
  try {
    const text = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
    const line = text.split("\n").find((entry) => entry.startsWith("0::"));
    return line?.slice(3);
  } catch {
    return undefined;
  }
}

/**
 * Whether a cgroup path is a service's own (see the module's description):
 * only such a cgroup of a scope root is put in scope automatically.
 */
export function isServiceCgroup(path: string): boolean {
  const parts = path.split("/").filter(Boolean);
  const last = parts.at(-1);
  if (!last || last === "init.scope" || last.endsWith(".slice")) return false;
  if (/^session-.*\.scope$/.test(last)) return false;
  return !parts.some((part) =>
    part === "user.slice" || /^user@\d+\.service$/.test(part)
  );
}

/** The service cgroups of the running scope `roots` (start mode). */
export function runnerCgroups(
  mount: string,
  roots: readonly ProcEntry[],
): ScopeCgroup[] {
  const found = new Map<string, ScopeCgroup>();
  for (const root of roots) {
    const path = processCgroup(root.pid);
    if (path === undefined || !isServiceCgroup(path) || found.has(path)) {
      continue;
    }
    const dir = cgroupDir(mount, path);
    try {
      found.set(path, { dir, id: cgroupId(dir), source: "runner" });
    } catch { /* the cgroup went away with its root */ }
  }
  return [...found.values()];
}

/** The scope roots running in `snapshot`: by comm or executable name. */
export function runningRoots(
  snapshot: readonly ProcEntry[],
  names: readonly string[],
): ProcEntry[] {
  const wanted = new Set(names);
  return snapshot.filter((entry) =>
    entry.pid !== Deno.pid &&
    (wanted.has(entry.comm) ||
      (entry.exe !== undefined && wanted.has(entry.exe.split("/").pop()!)))
  );
}

/** Writes the scope cgroups and the block switch to the kernel. */
export function applyCgroupScope(
  process: ProcessSensor,
  cgroups: readonly ScopeCgroup[],
  mode: Policy["mode"],
): void {
  process.setScopeBlock(mode === "block");
  process.setScopeCgroups(
    new Map(cgroups.map(({ id, source }) => [id, ScopeCgroupSource[source]])),
  );
}

/** Every pid in the cgroup at `dir` and its sub-cgroups. */
export function cgroupPids(dir: string): number[] {
  const pids: number[] = [];
  const stack = [dir];
  while (stack.length) {
    const current = stack.pop()!;
    try {
      const text = Deno.readTextFileSync(`${current}/cgroup.procs`);
      for (const line of text.split("\n")) {
        if (line) pids.push(Number(line));
      }
      for (const entry of Deno.readDirSync(current)) {
        if (entry.isDirectory) stack.push(`${current}/${entry.name}`);
      }
    } catch { /* removed meanwhile */ }
  }
  return pids;
}

/**
 * Puts the processes of `cgroups` that are outside the scope map in it,
 * each its own root, with their descendants (from `snapshot`). Left out:
 * the agent and what it started, and the ancestors of the running scope
 * `roots` (the runner service that started the job, as before).
 * Read after the kernel has the cgroups: a process forked meanwhile is
 * either read here or added by the kernel at fork.
 */
export function seedCgroups(
  process: ProcessSensor,
  cgroups: readonly ScopeCgroup[],
  snapshot: readonly ProcEntry[],
  roots: readonly ProcEntry[],
): number {
  const self = Deno.pid;
  const byPid = new Map(snapshot.map((entry) => [entry.pid, entry]));
  const children = new Map<number, number[]>();
  for (const entry of snapshot) {
    const siblings = children.get(entry.ppid) ?? [];
    siblings.push(entry.pid);
    children.set(entry.ppid, siblings);
  }
  const excluded = new Set<number>([self]);
  for (const root of roots) {
    for (let pid = byPid.get(root.pid)?.ppid; pid && !excluded.has(pid);) {
      excluded.add(pid);
      pid = byPid.get(pid)?.ppid;
    }
  }
  const agentChild = (pid: number) => byPid.get(pid)?.ppid === self;
  let seeded = 0;
  for (const cgroup of cgroups) {
    for (const pid of cgroupPids(cgroup.dir)) {
      if (excluded.has(pid) || agentChild(pid) || process.scopeOf(pid)) {
        continue;
      }
      const stack = [pid];
      while (stack.length) {
        const next = stack.pop()!;
        if (excluded.has(next) || process.scopeOf(next)) continue;
        process.setScope(next, { flags: ScopeFlag.monitored, rootPid: pid });
        seeded++;
        stack.push(...(children.get(next) ?? []));
      }
    }
  }
  return seeded;
}
