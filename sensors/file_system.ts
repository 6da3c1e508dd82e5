/**
 * sensor.file-system: writes, creates, truncates, unlinks, renames, chmods
 * and chowns of the processes in scope, and their reads of secret files
 * (bpf/sensor.file-system.bpf.c), and the policy's `files` rules: the
 * kernel's share (prefix and name maps) and the final glob match.
 *
 * @module
 */

import {
  type BaseEvent,
  decodeHeader,
  EVENT_HEADER,
  headerFlags,
  readCString,
  type StructLayout,
  type TimeFormatter,
} from "./event.ts";
import { mapDelete, mapKeys, mapUpdate } from "./libbpf.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";
import { compileGlob, type Glob, normalizePath } from "../policy/glob.ts";
import type { FilesPolicy, Mode } from "../policy/schema.ts";

/** `struct file_system_event` (bpf/file_system.h). */
export const FILE_SYSTEM_EVENT = {
  name: "file_system_event",
  size: 4176,
  fields: {
    header: 0,
    flags: 56,
    owner_uid: 60,
    owner_gid: 64,
    classes: 68,
    path_size: 72,
    new_path_size: 76,
    data: 80,
  },
} as const satisfies StructLayout;

/** `struct file_system_config`. */
export const FILE_SYSTEM_CONFIG = {
  name: "file_system_config",
  size: 16,
  fields: { kill: 0, match_all: 4, read_classes: 8, read_paths: 12 },
} as const satisfies StructLayout;

/** `struct fs_prefix_key`: the LPM trie's key. */
export const FS_PREFIX_KEY = {
  name: "fs_prefix_key",
  size: 260,
  fields: { prefixlen: 0, data: 4 },
} as const satisfies StructLayout;

/** `struct fs_name_key`. */
export const FS_NAME_KEY = {
  name: "fs_name_key",
  size: 64,
  fields: { name: 0 },
} as const satisfies StructLayout;

/** Bytes of a path the sensor captures, with its NUL. */
export const FS_PATH_CAPTURE_BYTES = 1024;

/** FS_CLASS_* of bpf/file_system.h. */
export const FileClass = {
  watch: 1,
  protect: 2,
  secret: 4,
  /** A protected path the kernel matches exactly: it kills the writer. */
  kill: 8,
} as const;

const KINDS = [
  "",
  "open",
  "create",
  "truncate",
  "unlink",
  "rename",
  "chmod",
  "chown",
  "read",
  "link",
  "symlink",
  "mkdir",
  "rmdir",
] as const satisfies readonly ("" | FileSystemKind)[];
const FLAG_PATH_TRUNCATED = 1;
const FLAG_NEW_PATH_TRUNCATED = 2;
const FLAG_KILLED = 4;
const FLAG_REFUSED = 16;

/** What happened to a file (FS_KIND_* of bpf/file_system.h but none). */
export type FileSystemKind =
  | "open"
  | "create"
  | "truncate"
  | "unlink"
  | "rename"
  | "chmod"
  | "chown"
  | "read"
  | "link"
  | "symlink"
  | "mkdir"
  | "rmdir";

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
  /** The path was longer than what was captured, or deeper. */
  path_truncated?: boolean;
  /** rename, link: likewise for the new path. */
  new_path_truncated?: boolean;
  /** The writer's executable, from the process tree. */
  exe?: string;
  /** A file a checkout wrote was changed by something else since
   * (agent/tamper.ts). */
  tamper?: boolean;
  /** With `tamper`: the step (or command) of that checkout. */
  checked_out_by?: string;
}

/** The record as the kernel sent it, before the policy's final word. */
export interface RawFileSystemEvent extends FileSystemEvent {
  /** FileClass bits the kernel saw. */
  classes: number;
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

/** Names of open(2) flags, access mode first. */
export function openFlagNames(flags: number): string[] {
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
  } else if (kind === "truncate" && value) event.flags = openFlagNames(value);
  if (kind === "chown") {
    const uid = view.getUint32(offset + F.owner_uid, true);
    const gid = view.getUint32(offset + F.owner_gid, true);
    if (uid !== 0xffffffff) event.owner_uid = uid;
    if (gid !== 0xffffffff) event.owner_gid = gid;
  }
  event.classes = view.getUint32(offset + F.classes, true);
  if (flags & FLAG_KILLED) event.killed = true;
  if (flags & FLAG_REFUSED) event.refused = true;
  if (flags & FLAG_PATH_TRUNCATED) event.path_truncated = true;
  if (flags & FLAG_NEW_PATH_TRUNCATED) event.new_path_truncated = true;
  return event;
}

/** What the kernel's maps hold for a policy. */
export interface FileSystemMaps {
  /** LPM entries: literal prefix (a whole path ends in "\0") → FileClass. */
  prefixes: Map<string, number>;
  /** Last path segment → FileClass. */
  names: Map<string, number>;
  /** FileClass bits of patterns neither map can hold: every path has them. */
  matchAll: number;
  /** Whether read-only opens are looked at (secrets exist). */
  readClasses: number;
  /** Whether a secret pattern needs a read's full path, not only its name. */
  readPaths: boolean;
  /** Whether the kernel kills writers of FileClass.kill paths. */
  kill: boolean;
}

/**
 * The `files` rules of a policy: what the kernel filters on, and the final
 * match of the events it sends.
 */
export class FileRules {
  readonly #watch: Glob[];
  readonly #protect: Glob[];
  readonly #secrets: Glob[];
  /** Whether a protected write is enforced (block mode, action kill). */
  readonly enforce: boolean;

  /** Compiles `files` (already validated by the policy parser). */
  constructor(files: FilesPolicy | undefined, mode: Mode) {
    this.#watch = (files?.watch ?? []).map(compileGlob);
    this.#protect = (files?.protect ?? []).map(compileGlob);
    this.#secrets = (files?.secrets ?? []).map(compileGlob);
    this.enforce = mode === "block" && files?.action === "kill";
  }

  /** Literal protected paths (those without wildcards). */
  get protectedPaths(): string[] {
    return this.#protect.filter((glob) =>
      glob.kernel.kind === "prefix" && glob.kernel.prefix.endsWith("\0")
    ).map((glob) => glob.text);
  }

  /** The kernel maps for these rules. */
  kernelMaps(): FileSystemMaps {
    const prefixes = new Map<string, number>();
    const names = new Map<string, number>();
    let matchAll = 0;
    const add = (globs: Glob[], bit: number) => {
      for (const { kernel } of globs) {
        const bits = bit |
          (bit === FileClass.protect && kernel.exact ? FileClass.kill : 0);
        if (kernel.kind === "prefix") {
          prefixes.set(
            kernel.prefix,
            (prefixes.get(kernel.prefix) ?? 0) | bits,
          );
        } else if (kernel.kind === "name") {
          names.set(kernel.name, (names.get(kernel.name) ?? 0) | bits);
        } else matchAll |= bit;
      }
    };
    add(this.#watch, FileClass.watch);
    add(this.#protect, FileClass.protect);
    add(this.#secrets, FileClass.secret);
    // The trie answers with the longest prefix only: each entry carries
    // the classes of the shorter entries it extends.
    const closed = new Map<string, number>();
    for (const [prefix, bits] of prefixes) {
      let all = bits;
      for (const [other, otherBits] of prefixes) {
        if (other !== prefix && prefix.startsWith(other)) all |= otherBits;
      }
      closed.set(prefix, all);
    }
    return {
      prefixes: closed,
      names,
      matchAll,
      readClasses: this.#secrets.length ? FileClass.secret : 0,
      readPaths: this.#secrets.some((glob) => glob.kernel.kind !== "name"),
      kill: this.enforce,
    };
  }

  /**
   * The final word on a kernel record: the event with verdict and reason,
   * or undefined when no pattern matches after all (the kernel's filter
   * is a superset). `kill` is called for a protected write the kernel
   * could not match exactly, in block mode.
   */
  judge(
    raw: RawFileSystemEvent,
    kill: (pid: number) => boolean,
  ): FileSystemEvent | undefined {
    const { classes: _, ...event } = raw;
    event.path = normalizePath(event.path);
    if (event.new_path !== undefined) {
      event.new_path = normalizePath(event.new_path);
    }
    const paths = event.new_path === undefined
      ? [event.path]
      : [event.path, event.new_path];
    const first = (globs: Glob[]) =>
      globs.find((glob) => paths.some((path) => glob.matches(path)));
    if (event.kind === "read") {
      const secret = first(this.#secrets);
      if (!secret) return undefined;
      return Object.assign(event, {
        verdict: "allow" as const,
        reason: `files.secrets ${JSON.stringify(secret.text)}`,
      });
    }
    const protect = first(this.#protect);
    if (protect || event.killed || event.refused) {
      const reason = protect
        ? `files.protect ${JSON.stringify(protect.text)}`
        : "files.protect (matched in the kernel)";
      if (event.refused) {
        return Object.assign(event, {
          verdict: "deny" as const,
          reason: `${reason}, refused by BPF LSM`,
        });
      }
      if (this.enforce && !event.killed && kill(event.pid)) {
        event.killed = true;
      }
      return Object.assign(event, {
        verdict: this.enforce ? "deny" as const : "audit" as const,
        reason: event.killed && !raw.killed
          ? `${reason}, killed by the agent after the syscall`
          : reason,
      });
    }
    const watch = first(this.#watch);
    const secret = watch ? undefined : first(this.#secrets);
    if (!watch && !secret) return undefined;
    return Object.assign(event, {
      verdict: "allow" as const,
      reason: watch
        ? `files.watch ${JSON.stringify(watch.text)}`
        : `files.secrets ${JSON.stringify(secret!.text)}`,
    });
  }
}

/** How to open the file-system sensor. */
export interface FileSystemSensorOptions extends SensorOptions {
  /**
   * Load the BPF LSM programs (refuse protected changes with EPERM). Their
   * load fails where BPF LSM is off: leave this false there.
   */
  lsm?: boolean;
}

/** The file-system sensor. */
export class FileSystemSensor extends Sensor {
  /** Whether the BPF LSM programs are part of the load. */
  readonly lsm: boolean;

  /** Opens sensor.file-system from its ELF bytes. */
  constructor(bytes: Uint8Array, options: FileSystemSensorOptions = {}) {
    super("file-system", bytes, options);
    this.lsm = !!options.lsm;
    if (!this.lsm) {
      for (const program of this.object.programs()) {
        if (program.name.startsWith("lsm_")) program.setAutoload(false);
      }
    }
  }

  /**
   * Attaches sys_enter and sys_exit, and the LSM hooks when loaded. The
   * finishers are reached by tail call and stay unattached.
   */
  attach(): void {
    for (const program of this.object.programs()) {
      if (program.fd < 0 || program.name.startsWith("finish_")) continue;
      this.adopt(program.attach());
    }
  }

  /**
   * Puts the rules' maps in force. New entries go in before stale ones go
   * out, so that during the swap the kernel sends too much, never too
   * little; the config (kill) changes last.
   */
  setRules(maps: FileSystemMaps): void {
    const value = (bits: number) =>
      new Uint8Array(new Uint32Array([bits]).buffer);
    const replace = (
      map: string,
      keySize: number,
      entries: [Uint8Array<ArrayBuffer>, number][],
    ) => {
      const fd = this.object.map(map).fd;
      const wanted = new Set<string>();
      for (const [key, bits] of entries) {
        wanted.add(hex(key));
        mapUpdate(fd, key, value(bits));
      }
      for (const key of mapKeys(fd, keySize)) {
        if (!wanted.has(hex(key))) mapDelete(fd, new Uint8Array(key));
      }
    };
    replace(
      "fs_prefixes",
      FS_PREFIX_KEY.size,
      [...maps.prefixes].map(([prefix, bits]) => [prefixKey(prefix), bits]),
    );
    replace(
      "fs_names",
      FS_NAME_KEY.size,
      [...maps.names].map(([name, bits]) => [nameKey(name), bits]),
    );
    mapUpdate(
      this.object.map("fs_config").fd,
      new Uint8Array(4),
      new Uint8Array(
        new Uint32Array([
          maps.kill ? 1 : 0,
          maps.matchAll,
          maps.readClasses,
          maps.readPaths ? 1 : 0,
        ]).buffer,
      ),
    );
  }
}

function hex(bytes: Uint8Array): string {
  return Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join(
    "",
  );
}

function prefixKey(prefix: string): Uint8Array<ArrayBuffer> {
  const bytes = new TextEncoder().encode(prefix);
  const key = new Uint8Array(FS_PREFIX_KEY.size);
  new DataView(key.buffer).setUint32(0, bytes.length * 8, true);
  key.set(bytes.subarray(0, FS_PREFIX_KEY.size - 4), 4);
  return key;
}

function nameKey(name: string): Uint8Array<ArrayBuffer> {
  const key = new Uint8Array(FS_NAME_KEY.size);
  key.set(new TextEncoder().encode(name).subarray(0, FS_NAME_KEY.size - 1));
  return key;
}
