/**
 * Mounts on, of or above protected paths in the agent's mount namespace,
 * and their undoing. Neither a raw tracepoint nor a cgroup hook can refuse
 * a mount: the kernel kills the policed process that makes one, after the
 * mount exists. The agent compares `/proc/self/mountinfo` with what it
 * was at the start, when the kernel reports a mount and every second, and
 * detaches (umount2 MNT_DETACH) each new mount
 *
 * - whose mount point is a protected path, lies under a protected tree, or
 *   is a directory above one (`mounted_over`: readers of the protected
 *   path would see the mounted files), or
 * - whose source is such a path (a bind mount: same device, and a `root`
 *   at, under or above the protected path: `bind_mounted`, a second path
 *   to the protected files).
 *
 * Mounts there at the start are the runner's own: the baseline. A mount
 * in another mount namespace is not the agent's to undo: writes through
 * it are judged by device and inode.
 *
 * @module
 */

import type { PathPattern } from "../sensors/file_system.ts";
import { normalizePath } from "../sensors/file_system_rules.ts";
import { detachMount } from "../sensors/libc.ts";
import { unescapeMountField } from "../sensors/system.ts";
import type { FileFinding, FileFindingKind } from "./file_findings.ts";

/** One line of `/proc/PID/mountinfo`. */
export interface MountEntry {
  /** The mount's id (unique while it is mounted). */
  id: number;
  /** Its parent's id. */
  parent: number;
  /** The file system's device, `major:minor`. */
  device: string;
  /** The directory of the file system that the mount shows. */
  root: string;
  /** Where it is mounted. */
  mountPoint: string;
  /** The file system type, e.g. `ext4`, `tmpfs`. */
  fsType: string;
}

/** Parses `/proc/PID/mountinfo`; lines it cannot read are skipped. */
export function parseMountInfo(text: string): MountEntry[] {
  const mounts: MountEntry[] = [];
  for (const line of text.split("\n")) {
    const fields = line.split(" ");
    const separator = fields.indexOf("-", 6);
    if (fields.length < 10 || separator < 0) continue;
    mounts.push({
      id: Number(fields[0]),
      parent: Number(fields[1]),
      device: fields[2],
      root: unescapeMountField(fields[3]),
      mountPoint: unescapeMountField(fields[4]),
      fsType: fields[separator + 1] ?? "",
    });
  }
  return mounts;
}

/** The agent's own mount namespace's mounts. */
export function readMounts(): MountEntry[] {
  return parseMountInfo(Deno.readTextFileSync("/proc/self/mountinfo"));
}

/** Whether `path` is `other` or a directory above it. */
function atOrAbove(path: string, other: string): boolean {
  return path === other || path === "/" ||
    other.startsWith(path.endsWith("/") ? path : `${path}/`);
}

/**
 * The directory or file a pattern's protected paths all lie at or under:
 * a literal path, or a pattern's literal directory; undefined when the
 * pattern has no literal directory (e.g. `** /name`).
 */
function anchor(pattern: PathPattern): string | undefined {
  const literal = pattern.literal;
  if (literal.kind === "path") return normalizePath(literal.path);
  if (literal.kind === "prefix") return normalizePath(literal.prefix);
  return undefined;
}

/**
 * The protect pattern `path` touches: `path` matches it, or is a
 * directory at or above its literal part.
 */
export function touchedPattern(
  patterns: readonly PathPattern[],
  path: string,
): PathPattern | undefined {
  const normal = normalizePath(path);
  return patterns.find((pattern) => {
    if (pattern.matches(normal)) return true;
    const root = anchor(pattern);
    return root !== undefined && atOrAbove(normal, root);
  });
}

/** Who did something, from the kernel's event, when there is one. */
export interface Culprit {
  pid: number;
  /** Executable, or command name. */
  exe?: string;
  /** The step's name. */
  step?: string;
}

/** A kernel report of a mount, kept a while to name the mounter. */
interface Reported extends Culprit {
  mountPoint: string;
  source?: string;
  at: number;
}

/** How long a reported mount's culprit is kept for a finding (ms). */
const REPORTED_FOR_MS = 10_000;

/** The agent's watch over mounts in its namespace. */
export class MountGuard {
  readonly #patterns: () => readonly PathPattern[];
  readonly #repair: () => boolean;
  readonly #found: (finding: Omit<FileFinding, "time">) => void;
  /** The mounts of the last check (the start's, at first), by key. */
  #known: Set<string>;
  /** The start's mounts still there, by key: one that goes is a finding
   * when it lay on, under or above a protected path. */
  readonly #baseline: Map<string, MountEntry>;
  /** The baseline's mounts by device, to read a bind's source path. */
  readonly #byDevice = new Map<string, MountEntry[]>();
  #reported: Reported[] = [];

  /**
   * @param patterns the protect patterns in force.
   * @param repair whether to detach what is found (block mode, kill).
   * @param found takes each finding.
   * @param baseline the mounts at the start (read now by default).
   */
  constructor(
    patterns: () => readonly PathPattern[],
    repair: () => boolean,
    found: (finding: Omit<FileFinding, "time">) => void,
    baseline: MountEntry[] = readMounts(),
  ) {
    this.#patterns = patterns;
    this.#repair = repair;
    this.#found = found;
    this.#baseline = new Map(baseline.map((mount) => [key(mount), mount]));
    this.#known = new Set(this.#baseline.keys());
    for (const mount of baseline) {
      const same = this.#byDevice.get(mount.device) ?? [];
      same.push(mount);
      this.#byDevice.set(mount.device, same);
    }
  }

  /**
   * Notes the kernel's report of a mount by a policed process (its mount
   * point and source), to name it in the finding; call check() next.
   */
  reported(culprit: Culprit, mountPoint: string, source?: string): void {
    this.#reported.push({
      ...culprit,
      mountPoint: normalizePath(mountPoint),
      source: source === undefined ? undefined : normalizePath(source),
      at: Date.now(),
    });
  }

  /** Compares the mounts with the start; returns the findings it made. */
  check(mounts: () => MountEntry[] = readMounts): FileFinding[] {
    const now = Date.now();
    this.#reported = this.#reported.filter((entry) =>
      now - entry.at < REPORTED_FOR_MS
    );
    let current: MountEntry[];
    try {
      current = mounts();
    } catch {
      return []; // the next check
    }
    const made: FileFinding[] = [];
    const found = (entry: Omit<FileFinding, "time">) => {
      this.#found(entry);
      made.push({ time: new Date().toISOString(), ...entry });
    };
    const known = this.#known;
    this.#known = new Set(current.map(key));
    for (const [id, mount] of this.#baseline) {
      if (this.#known.has(id)) continue;
      this.#baseline.delete(id);
      const touched = touchedPattern(this.#patterns(), mount.mountPoint);
      if (!touched) continue;
      // What the path showed at the start is gone: it names other files.
      found({
        path: touched.text,
        kind: "removed",
        other_path: mount.mountPoint,
        repaired: false,
        detail: `the ${mount.fsType} mount on ${mount.mountPoint} ` +
          "there at the start was unmounted or moved",
      });
    }
    for (const mount of current) {
      if (known.has(key(mount))) continue;
      const finding = this.#judge(mount);
      if (!finding) continue;
      let repaired = false, detail: string;
      if (this.#repair()) {
        ({ repaired, detail } = detach(
          mount,
          (other) => this.#baseline.has(key(other)),
        ));
      } else detail = "left mounted: the policy does not enforce";
      const culprit = this.#culprit(mount, finding.source);
      const entry = {
        path: finding.path,
        kind: finding.kind,
        other_path: finding.other,
        repaired,
        detail: `${finding.what}; ${detail}`,
        ...(culprit?.pid ? { pid: culprit.pid } : {}),
        ...(culprit?.exe ? { exe: culprit.exe } : {}),
        ...(culprit?.step ? { step: culprit.step } : {}),
      };
      found(entry);
    }
    return made;
  }

  /** What a new mount does to protected paths, if anything. */
  #judge(mount: MountEntry):
    | {
      path: string;
      kind: FileFindingKind;
      other: string;
      what: string;
      source?: string;
    }
    | undefined {
    const patterns = this.#patterns();
    const over = touchedPattern(patterns, mount.mountPoint);
    if (over) {
      return {
        path: over.matches(normalizePath(mount.mountPoint))
          ? normalizePath(mount.mountPoint)
          : over.text,
        kind: "mounted_over",
        other: mount.mountPoint,
        what: `${mount.fsType} mounted on ${mount.mountPoint}`,
      };
    }
    for (const source of this.#sourcePaths(mount)) {
      const of = touchedPattern(patterns, source);
      if (of) {
        return {
          path: of.matches(source) ? source : of.text,
          kind: "bind_mounted",
          other: mount.mountPoint,
          what: `${source} mounted again on ${mount.mountPoint}`,
          source,
        };
      }
    }
    return undefined;
  }

  /**
   * The paths a new mount shows, as the baseline's mounts of the same
   * device name them.
   */
  *#sourcePaths(mount: MountEntry): Iterable<string> {
    for (const base of this.#byDevice.get(mount.device) ?? []) {
      // A mount of a directory above what the base shows shows all of it.
      if (atOrAbove(mount.root, base.root)) yield base.mountPoint;
      if (!atOrAbove(base.root, mount.root)) continue;
      const rest = mount.root.slice(base.root === "/" ? 0 : base.root.length);
      yield normalizePath(`${base.mountPoint}/${rest}`);
    }
  }

  /** The kernel's report that matches a mount, if any. */
  #culprit(mount: MountEntry, source?: string): Culprit | undefined {
    const point = normalizePath(mount.mountPoint);
    const index = this.#reported.findIndex((entry) =>
      entry.mountPoint === point ||
      (source !== undefined && entry.source === source)
    );
    if (index < 0) return undefined;
    return this.#reported.splice(index, 1)[0];
  }
}

/** Mounts stacked on a new one, at most, that go before it. */
const STACKED_MAX = 8;

/**
 * Detaches a mount: the path names the top of what is mounted there, and
 * what is on top of a new mount is newer still, so it goes first. A mount
 * of the start on top (one placed beneath it) stops that: the runner's
 * mounts are never the agent's to remove.
 */
function detach(
  mount: MountEntry,
  atStart: (mount: MountEntry) => boolean,
): { repaired: boolean; detail: string } {
  const present = () => readMounts().some((other) => other.id === mount.id);
  try {
    if (!present()) {
      return { repaired: true, detail: "gone with the mount it was on" };
    }
    for (let tries = 0; tries < STACKED_MAX; tries++) {
      const top = topAt(readMounts(), mount.mountPoint);
      if (top && atStart(top)) {
        return {
          repaired: false,
          detail: "not unmounted: a mount of the start is on top of it",
        };
      }
      detachMount(mount.mountPoint);
      if (!present()) {
        return { repaired: true, detail: "unmounted by the agent" };
      }
    }
    return { repaired: false, detail: "unmount did not remove it" };
  } catch (error) {
    return { repaired: false, detail: (error as Error).message };
  }
}

/**
 * The mount a path shows of those mounted on it: stacked mounts have the
 * one beneath as their parent, so the top is no other's parent.
 */
export function topAt(
  mounts: readonly MountEntry[],
  mountPoint: string,
): MountEntry | undefined {
  const here = mounts.filter((mount) => mount.mountPoint === mountPoint);
  return here.find((mount) => !here.some((other) => other.parent === mount.id));
}

/**
 * A mount's identity across checks: an id is reused once free, so the
 * device, root and place count too.
 */
function key(mount: MountEntry): string {
  return `${mount.id} ${mount.device} ${mount.root} ${mount.mountPoint}`;
}
