/**
 * What the host must offer before any sensor loads, checked up front so that
 * a missing piece reads as one line that says how to fix it.
 *
 * @module
 */

import { libbpfInfo } from "./libbpf.ts";
import { mountFileSystem } from "./libc.ts";

/** A host requirement that is not met; the CLI exits 2 on it. */
export class PreflightError extends Error {
  /** Builds the error from a one-line explanation with its remedy. */
  constructor(message: string) {
    super(message);
    this.name = "PreflightError";
  }
}

/** One line of /proc/mounts. */
export interface Mount {
  /** Device or pseudo-fs source. */
  source: string;
  /** Mount point. */
  target: string;
  /** File system type, e.g. "cgroup2". */
  type: string;
}

/**
 * A field of /proc/mounts or /proc/PID/mountinfo with its octal escapes
 * undone (space, tab, newline and backslash are written as `\040` ...).
 */
export function unescapeMountField(field: string): string {
  return field.replace(
    /\\([0-7]{3})/g,
    (_, octal) => String.fromCharCode(parseInt(octal, 8)),
  );
}

/** Parses the text of /proc/mounts. */
export function parseMounts(text: string): Mount[] {
  return text.split("\n").filter(Boolean).map((line) => {
    const [source, target, type] = line.split(" ");
    return {
      source: unescapeMountField(source),
      target: unescapeMountField(target),
      type,
    };
  });
}

function readMounts(): Mount[] {
  return parseMounts(Deno.readTextFileSync("/proc/mounts"));
}

/**
 * The cgroup v2 mount point: `/sys/fs/cgroup` on unified hosts,
 * `/sys/fs/cgroup/unified` on hybrid ones. Never assumed: read from
 * /proc/mounts.
 *
 * @throws {PreflightError} when no cgroup2 file system is mounted.
 */
export function cgroup2Mount(mounts: Mount[] = readMounts()): string {
  const mount = mounts.find((entry) => entry.type === "cgroup2");
  if (!mount) {
    throw new PreflightError(
      "no cgroup v2 file system is mounted: mount one with 'mount -t cgroup2 none /sys/fs/cgroup/unified'",
    );
  }
  return mount.target;
}

/** Whether a path exists (stat succeeds). */
export function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

const SECURITYFS = "/sys/kernel/security";

/**
 * Whether BPF LSM programs can be expected to load here (and refuse a
 * change themselves rather than punish it afterwards): `bpf` among the
 * active LSMs. Mounts securityfs when
 * the kernel has it and it is not mounted. The kernel has the last word:
 * callers fall back when it refuses the programs anyway.
 */
export function bpfLsm(
  mounts: Mount[] = readMounts(),
): { usable: boolean; reason: string } {
  if (
    !mounts.some((entry) => entry.type === "securityfs") &&
    exists(SECURITYFS)
  ) {
    try {
      mountFileSystem("securityfs", SECURITYFS);
    } catch { /* the read below says what is missing */ }
  }
  const read = (name: string) => {
    try {
      return Deno.readTextFileSync(`${SECURITYFS}/${name}`).trim();
    } catch {
      return undefined;
    }
  };
  const lsm = read("lsm");
  if (lsm === undefined) {
    return {
      usable: false,
      reason: `${SECURITYFS}/lsm is missing (a kernel without LSMs)`,
    };
  }
  if (!lsm.split(",").includes("bpf")) {
    return {
      usable: false,
      reason: `bpf is not an active LSM (${lsm}; boot with lsm=${lsm},bpf)`,
    };
  }
  return { usable: true, reason: "bpf is an active LSM" };
}

/** Facts about the host that the agent needs or reports. */
export interface HostFacts {
  /** Kernel release (uname -r). */
  kernel: string;
  /** Where libbpf came from and its version. */
  libbpf: { path: string; version: string };
}

/**
 * Checks that the agent can run: root, BTF, libbpf. (Not tracefs: the
 * sensors attach raw tracepoints, by name.)
 *
 * @throws {PreflightError} naming what is missing and how to fix it.
 */
export function preflight(): HostFacts {
  if (Deno.uid() !== 0) {
    throw new PreflightError(
      "ringfence must run as root (it loads BPF programs): rerun with sudo",
    );
  }
  if (!exists("/sys/kernel/btf/vmlinux")) {
    throw new PreflightError(
      "this kernel has no BTF (/sys/kernel/btf/vmlinux is missing): ringfence needs Linux >= 5.8 built with CONFIG_DEBUG_INFO_BTF=y",
    );
  }
  let libbpf: HostFacts["libbpf"];
  try {
    libbpf = libbpfInfo();
  } catch (error) {
    throw new PreflightError((error as Error).message);
  }
  if (Number(libbpf.version.split(".")[0]) < 1) {
    throw new PreflightError(
      `libbpf ${libbpf.version} is too old (need 1.x): install libbpf1`,
    );
  }
  return { kernel: Deno.osRelease(), libbpf };
}
