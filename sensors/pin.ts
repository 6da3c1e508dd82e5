/**
 * BPF objects held by bpffs (pins): a link or map pinned there outlives
 * the process that made it, so the kernel keeps enforcing after the agent
 * dies. This module mounts bpffs where the machine lacks it, pins and
 * opens objects by path, and reads what the kernel says of a link or map
 * (`bpf_obj_get_info_by_fd`): whether a cgroup link is still attached.
 *
 * @module
 */

import { check, libbpf } from "./libbpf.ts";
import { closeFd, cString, mountFileSystem } from "./libc.ts";

/** Where bpffs is mounted on a standard Linux system. */
export const BPFFS = "/sys/fs/bpf";

/** Whether bpffs is mounted at `target`, as /proc/mounts lists it. */
export function bpffsMounted(
  target = BPFFS,
  mounts = Deno.readTextFileSync("/proc/mounts"),
): boolean {
  // The last mount at a path is the one in force (sysfs may be below).
  const types = mounts.split("\n").map((line) => line.split(" "))
    .filter((fields) => fields[1] === target).map((fields) => fields[2]);
  return types.at(-1) === "bpf";
}

/**
 * Mounts bpffs at {@linkcode BPFFS} when it is not mounted there (a fresh
 * machine may lack it).
 *
 * @throws {Error} with the kernel's reason when the mount fails.
 */
export function ensureBpffs(): string {
  if (!bpffsMounted()) mountFileSystem("bpf", BPFFS);
  return BPFFS;
}

/**
 * Pins the object behind `fd` (a link, map or program) at `path`, in a
 * bpffs directory.
 *
 * @throws {import("./libbpf.ts").BpfError} when the kernel refuses.
 */
export function pinFd(fd: number, path: string): void {
  check(libbpf().bpf_obj_pin(fd, cString(path)), `pin ${path}`);
}

/**
 * Opens the object pinned at `path`; the caller owns (closes) the fd.
 *
 * @throws {import("./libbpf.ts").BpfError} when nothing is pinned there.
 */
export function openPinned(path: string): number {
  return check(libbpf().bpf_obj_get(cString(path)), `open pin ${path}`);
}

/** `struct bpf_link_info`: what {@linkcode linkInfo} reads of it. */
export interface LinkInfo {
  /** `enum bpf_link_type`: 1 raw tracepoint, 3 cgroup, ... */
  type: number;
  /** The link's id (`bpftool link show`). */
  id: number;
  /** The id of the program it attaches. */
  programId: number;
  /** For a cgroup link: the cgroup's id, 0 once detached. */
  cgroupId: bigint;
}

/** `BPF_LINK_TYPE_CGROUP`. */
export const LINK_TYPE_CGROUP = 3;

/** What the kernel says of the link behind `fd`. */
export function linkInfo(fd: number): LinkInfo {
  // struct bpf_link_info: type, id, prog_id (u32 each), then a union
  // aligned to 8; for a cgroup link it starts with cgroup_id (u64).
  const view = objectInfo(fd, 64, "link");
  return {
    type: view.getUint32(0, true),
    id: view.getUint32(4, true),
    programId: view.getUint32(8, true),
    cgroupId: view.getBigUint64(16, true),
  };
}

/** `struct bpf_map_info`: what {@linkcode mapInfo} reads of it. */
export interface MapInfo {
  /** `enum bpf_map_type`. */
  type: number;
  /** The map's id. */
  id: number;
  keySize: number;
  valueSize: number;
  maxEntries: number;
  /** The map's name (at most 15 bytes). */
  name: string;
}

/** What the kernel says of the map behind `fd`. */
export function mapInfo(fd: number): MapInfo {
  // struct bpf_map_info: type, id, key_size, value_size, max_entries,
  // map_flags (u32 each), name[16].
  const view = objectInfo(fd, 88, "map");
  const name = new Uint8Array(view.buffer, 24, 16);
  const end = name.indexOf(0);
  return {
    type: view.getUint32(0, true),
    id: view.getUint32(4, true),
    keySize: view.getUint32(8, true),
    valueSize: view.getUint32(12, true),
    maxEntries: view.getUint32(16, true),
    name: new TextDecoder().decode(name.subarray(0, end < 0 ? 16 : end)),
  };
}

/** The id of the program behind `fd` (`struct bpf_prog_info`'s `id`). */
export function programId(fd: number): number {
  // struct bpf_prog_info: type, id (u32 each), ...
  return objectInfo(fd, 16, "program").getUint32(4, true);
}

/**
 * The first `size` bytes of the kernel's info struct of the link, map or
 * program behind `fd` (`bpf_obj_get_info_by_fd`).
 */
function objectInfo(fd: number, size: number, what: string): DataView {
  const info = new Uint8Array(size);
  const length = new Uint32Array([size]);
  check(
    libbpf().bpf_obj_get_info_by_fd(fd, info, new Uint8Array(length.buffer)),
    `read ${what} info`,
  );
  return new DataView(info.buffer);
}

/** Opens each map pinned in `dir`, by file name; the caller closes them. */
export function openPinnedMaps(dir: string): Map<string, number> {
  const fds = new Map<string, number>();
  try {
    for (const entry of Deno.readDirSync(dir)) {
      if (!entry.isFile || !entry.name.startsWith("map_")) continue;
      fds.set(entry.name.slice(4), openPinned(`${dir}/${entry.name}`));
    }
  } catch (error) {
    fds.forEach(closeFd);
    throw error;
  }
  return fds;
}

/** `BPF_MAP_TYPE_ARRAY`. */
const MAP_TYPE_ARRAY = 2;
/** Bytes of one slot of a meta map: a JSON text, NUL-padded. */
export const META_SLOT_BYTES = 4096;

/**
 * Creates a small array map that holds JSON texts by slot: bpffs holds
 * no regular files, so what a pin directory says of itself (its owner,
 * a heartbeat) lives in a map pinned beside the rest. The caller owns the
 * fd.
 */
export function createMetaMap(slots: number): number {
  return check(
    libbpf().bpf_map_create(
      MAP_TYPE_ARRAY,
      cString("rf_meta"),
      4,
      META_SLOT_BYTES,
      slots,
      null,
    ),
    "create meta map",
  );
}

/** Writes `value` as JSON into slot `slot` of a meta map. */
export function writeMeta(fd: number, slot: number, value: unknown): void {
  const text = new TextEncoder().encode(JSON.stringify(value));
  if (text.length >= META_SLOT_BYTES) {
    throw new Error(`meta slot ${slot}: ${text.length} bytes is too long`);
  }
  const bytes = new Uint8Array(META_SLOT_BYTES);
  bytes.set(text);
  check(
    libbpf().bpf_map_update_elem(
      fd,
      new Uint8Array(new Uint32Array([slot]).buffer),
      bytes,
      0n,
    ),
    "write meta map",
  );
}

/** The JSON value in slot `slot` of a meta map; undefined when empty. */
export function readMeta<T>(fd: number, slot: number): T | undefined {
  const bytes = new Uint8Array(META_SLOT_BYTES);
  const key = new Uint8Array(new Uint32Array([slot]).buffer);
  if (libbpf().bpf_map_lookup_elem(fd, key, bytes) < 0) return undefined;
  const end = bytes.indexOf(0);
  if (end <= 0) return undefined;
  try {
    return JSON.parse(new TextDecoder().decode(bytes.subarray(0, end))) as T;
  } catch {
    return undefined;
  }
}
