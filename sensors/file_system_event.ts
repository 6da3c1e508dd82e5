/**
 * The records of sensor.file-system (`struct file_system_event`,
 * bpf/file_system.h) and their decoding into file_system_events of the
 * JSON-lines contract.
 *
 * @module
 */

import {
  type BaseEvent,
  decodeHeader,
  EVENT_HEADER,
  headerFlags,
  readCString,
  readU64,
  type TimeFormatter,
} from "./event.ts";
import { namesByValue, struct } from "./layout.ts";
import { callName } from "./file_system_calls.ts";

/** `struct file_system_event` (bpf/file_system.h). */
export const FILE_SYSTEM_EVENT = struct("file_system_event", 4192, {
  header: [0, EVENT_HEADER],
  flags: [56, "u32"],
  owner_uid: [60, "u32"],
  owner_gid: [64, "u32"],
  classes: [68, "u32"],
  path_size: [72, "u32"],
  new_path_size: [76, "u32"],
  call: [80, "u32"],
  dev: [84, "u32"],
  ino: [88, "u64"],
  data: [96, ["char", 4096]],
});

/** `enum file_system_event_kind`: what happened to a file. */
export const FileSystemKind = {
  /** opened for writing, the existing file kept */
  open: 1,
  /** the open created the file */
  create: 2,
  truncate: 3,
  unlink: 4,
  rename: 5,
  chmod: 6,
  chown: 7,
  /** opened read-only: reported for secrets only */
  read: 8,
  link: 9,
  symlink: 10,
  mkdir: 11,
  rmdir: 12,
  /** a write through an fd to a protected file */
  write: 13,
  /** a mount on, of or above a protected path */
  mount: 14,
  /** name_to_handle_at of a protected or secret file */
  handle: 15,
} as const;

/** What happened to a file. */
export type FileSystemKind = keyof typeof FileSystemKind;

/** `enum file_system_event_flag`: header.flags of a file_system_event. */
export const FileSystemFlag = {
  pathTruncated: 1,
  newPathTruncated: 2,
  killed: 4,
  /** the kernel did not normalise the path: user space does */
  unnormalized: 8,
  /** a BPF LSM hook refused the change */
  denied: 16,
  /** the call came by the 32-bit ABI: `call` is its i386 number */
  compat: 32,
  /** an io_uring request did it: `call` is the IORING_OP_* opcode */
  uring: 64,
  /** the file was matched by device and inode, not by path */
  inode: 128,
  /** a dependency's install script broke dependencies.install_scripts */
  installScript: 256,
} as const;

const KINDS = namesByValue(FileSystemKind);

/** A file_system_event in the JSON-lines contract. */
export interface FileSystemEvent extends BaseEvent {
  /** Which sensor's event. */
  type: "file_system_event";
  /** What was done to the file. */
  kind: FileSystemKind;
  /** Full path (of the old name, for a rename), normalised. */
  path: string;
  /** rename: the new name; link: the new name of the file at `path`. */
  new_path?: string;
  /** open, create, truncate by open, read: the open flags, e.g. O_WRONLY. */
  flags?: string[];
  /** chmod, mkdir: the mode (e.g. 0o755 is 493). */
  mode?: number;
  /** chown: the new owner; absent when left unchanged. */
  owner_uid?: number;
  /** chown: the new group; absent when left unchanged. */
  owner_gid?: number;
  /** `deny`: protected and enforced; `audit`: protected, block mode with
   * `files.action: kill` would have killed; `allow`: watched or secret. */
  verdict: "allow" | "deny" | "audit";
  /** The rule that matched, e.g. `files.protect "/etc/hosts"`. */
  reason: string;
  /** The writer was sent SIGKILL. */
  killed?: boolean;
  /** A BPF LSM hook refused the change with EPERM: it did not happen. */
  refused?: boolean;
  /**
   * A killed install script's change was undone by the agent: the file
   * its open created (before any byte was written), the directory it
   * made, or the name it renamed or linked in was removed.
   */
  removed?: boolean;
  /** The path was longer than what was captured, or deeper. */
  path_truncated?: boolean;
  /** rename, link: likewise for the new path. */
  new_path_truncated?: boolean;
  /**
   * How the change came: `syscall` (x86-64), `compat` (the i386 ABI:
   * `int $0x80` or an ia32 program) or `io_uring` (a submitted request).
   */
  via?: "syscall" | "compat" | "io_uring";
  /**
   * The syscall (in the ABI of `via`) or io_uring opcode, by name when
   * known (e.g. `openat`, `pwrite64`, `IORING_OP_WRITE`), else its number.
   */
  call?: string | number;
  /** The file was known by its device and inode (a hard link, a bind
   * mount, an fd opened elsewhere), not by the path reported. */
  by_inode?: boolean;
  /** The file's device (`major:minor`) and inode number, when known. */
  inode?: { dev: string; ino: number };
  /** The writer's executable, from the process tree. */
  exe?: string;
  /** A file a checkout wrote was changed by something else since
   * (agent/tamper.ts). */
  tamper?: boolean;
  /** With `tamper`: the step (or command) of that checkout. */
  checked_out_by?: string;
  /**
   * Matched by device and inode through another path (a hard link, a bind
   * mount): the protected path that names the same file.
   */
  protected_path?: string;
  /**
   * A write to what the agent's integrity rests on (a guarded sysctl, its
   * records, policy file or state directory): tampering with the agent.
   */
  integrity?: boolean;
}

/** The record as the kernel sent it, before the policy's final word. */
export interface RawFileSystemEvent extends FileSystemEvent {
  /** FileClass bits the kernel saw (./file_system_maps.ts). */
  classes: number;
  /** The kernel judged it under dependencies.install_scripts. */
  installScript?: boolean;
}

const OPEN_FLAGS: [number, string][] = [
  [0o100, "O_CREAT"],
  [0o200, "O_EXCL"],
  [0o1000, "O_TRUNC"],
  [0o2000, "O_APPEND"],
  [0o4000, "O_NONBLOCK"],
  [0o200000, "O_DIRECTORY"],
  [0o400000, "O_NOFOLLOW"],
  [0o2000000, "O_CLOEXEC"],
  [0o10000000, "O_PATH"],
  [0o20200000, "O_TMPFILE"],
];

/** Flag lists by value: a handful of values recur, record after record. */
const flagNames = new Map<number, string[]>();

/** Names of open(2) flags, access mode first (one list per value, shared:
 * not to be changed). */
export function openFlagNames(flags: number): string[] {
  let names = flagNames.get(flags);
  if (names) return names;
  names = listFlagNames(flags);
  if (flagNames.size < 256) flagNames.set(flags, names);
  return names;
}

function listFlagNames(flags: number): string[] {
  const names = [["O_RDONLY", "O_WRONLY", "O_RDWR", "O_ACCMODE"][flags & 3]];
  for (const [bit, name] of OPEN_FLAGS) {
    if ((flags & bit) === bit) names.push(name);
  }
  // O_TMPFILE contains O_DIRECTORY's bit.
  if (names.includes("O_TMPFILE")) {
    names.splice(names.indexOf("O_DIRECTORY"), 1);
  }
  return names;
}

const F = FILE_SYSTEM_EVENT.fields;

/** Decodes one sensor.file-system record. */
export function decodeFileSystemEvent(
  view: DataView,
  offset: number,
  time: TimeFormatter,
): RawFileSystemEvent {
  return decode(view, offset, time, true) as RawFileSystemEvent;
}

/**
 * Decodes one record without the kernel's classes (which
 * {@linkcode recordClasses} and {@linkcode recordInstallScript} read): the
 * event the policy's final word completes in place
 * (`FileSystemRules.complete`), with neither verdict nor reason yet.
 */
export function decodeFileSystemRecord(
  view: DataView,
  offset: number,
  time: TimeFormatter,
): FileSystemEvent {
  return decode(view, offset, time, false);
}

/** The FileClass bits the kernel saw, of a record. */
export function recordClasses(view: DataView, offset: number): number {
  return view.getUint32(offset + F.classes, true);
}

/** Whether the kernel judged a record under dependencies.install_scripts. */
export function recordInstallScript(view: DataView, offset: number): boolean {
  return (headerFlags(view, offset) & FileSystemFlag.installScript) !== 0;
}

function decode(
  view: DataView,
  offset: number,
  time: TimeFormatter,
  raw: boolean,
): FileSystemEvent {
  const kind = KINDS[view.getUint8(offset + EVENT_HEADER.fields.kind)] ||
    "open";
  const event = decodeHeader(
    view,
    offset,
    "file_system_event",
    kind,
    time,
  ) as RawFileSystemEvent;
  const flags = headerFlags(view, offset);
  const pathSize = view.getUint32(offset + F.path_size, true);
  const newPathSize = view.getUint32(offset + F.new_path_size, true);
  const data = offset + F.data;
  event.path = readCString(view, data, pathSize);
  if (newPathSize) {
    event.new_path = readCString(view, data + pathSize, newPathSize);
  }
  const value = view.getUint32(offset + F.flags, true);
  if (kind === "chmod" || kind === "mkdir") event.mode = value;
  else if (kind === "open" || kind === "create" || kind === "read") {
    event.flags = openFlagNames(value);
  } else if ((kind === "truncate" || kind === "write") && value) {
    event.flags = openFlagNames(value);
  }
  if (kind === "chown") {
    const uid = view.getUint32(offset + F.owner_uid, true);
    const gid = view.getUint32(offset + F.owner_gid, true);
    if (uid !== 0xffffffff) event.owner_uid = uid;
    if (gid !== 0xffffffff) event.owner_gid = gid;
  }
  if (raw) event.classes = view.getUint32(offset + F.classes, true);
  if (flags & FileSystemFlag.killed) event.killed = true;
  if (flags & FileSystemFlag.denied) event.refused = true;
  if (raw && flags & FileSystemFlag.installScript) event.installScript = true;
  decodeOrigin(view, offset, flags, event);
  if (flags & FileSystemFlag.pathTruncated) event.path_truncated = true;
  if (flags & FileSystemFlag.newPathTruncated) event.new_path_truncated = true;
  return event;
}

/** `major:minor` of the kernel's device numbers, by number. */
const deviceNames = new Map<number, string>();

function deviceName(dev: number): string {
  let name = deviceNames.get(dev);
  if (name === undefined) {
    // the kernel's encoding: major << 20 | minor
    name = `${dev >>> 20}:${dev & 0xfffff}`;
    if (deviceNames.size < 256) deviceNames.set(dev, name);
  }
  return name;
}

/** `via`, `call`, `by_inode` and `inode` of a record into event. */
function decodeOrigin(
  view: DataView,
  offset: number,
  flags: number,
  event: FileSystemEvent,
): void {
  const call = view.getUint32(offset + F.call, true);
  const via = flags & FileSystemFlag.uring
    ? "io_uring"
    : flags & FileSystemFlag.compat
    ? "compat"
    : "syscall";
  // 0 is no followed syscall in either ABI: the record names none (a BPF
  // LSM hook); io_uring's 0 is IORING_OP_NOP, which changes nothing.
  if (call || via !== "syscall") {
    event.via = via;
    event.call = callName(via, call);
  }
  if (flags & FileSystemFlag.inode) event.by_inode = true;
  const dev = view.getUint32(offset + F.dev, true);
  const ino = readU64(view, offset + F.ino);
  if (dev || ino) event.inode = { dev: deviceName(dev), ino };
}
