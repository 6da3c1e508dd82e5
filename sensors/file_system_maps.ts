/**
 * What sensor.file-system holds in its maps, and their bytes: literal path
 * prefixes (an LPM trie) and last path segments, each with the classes of
 * the rules that name them, and the config (bpf/file_system.h).
 *
 * @module
 */

import {
  arrayLength,
  encodeStruct,
  type MapLayout,
  struct,
  type StructInput,
} from "./layout.ts";

/** `struct file_system_config`: the one value of `fs_config`. */
export const FILE_SYSTEM_CONFIG = struct("file_system_config", 32, {
  kill: [0, "u32"],
  match_all: [4, "u32"],
  read_classes: [8, "u32"],
  read_paths: [12, "u32"],
  inodes: [16, "u32"],
  mnt_ns: [20, "u32"],
  install_scripts: [24, "u32"],
  summary: [28, "u32"],
});

/** `struct fs_prefix_key`: key of the `fs_prefixes` LPM trie. */
export const FS_PREFIX_KEY = struct("fs_prefix_key", 260, {
  prefixlen: [0, "u32"],
  data: [4, ["char", 256]],
});

/** `struct fs_name_key`: key of `fs_names`. */
export const FS_NAME_KEY = struct("fs_name_key", 64, {
  name: [0, ["char", 64]],
});

/** `struct fs_inode_key`: key of `fs_inodes` (kernel dev encoding). */
export const FS_INODE_KEY = struct("fs_inode_key", 16, {
  ino: [0, "u64"],
  dev: [8, "u32"],
  pad: [12, "u32"],
});

/**
 * `struct fs_dir_config`: the one value of `fs_dir_config`, the loader's
 * switch and generation of the kernel's directory verdicts
 * (bpf/lib/dir_verdict.h).
 */
export const FS_DIR_CONFIG = struct("fs_dir_config", 8, {
  enabled: [0, "u32"],
  gen: [4, "u32"],
});

/** `struct fs_summary_key`: key of `fs_summaries` (a process, a bulk root). */
export const FS_SUMMARY_KEY = struct("fs_summary_key", 8, {
  tgid: [0, "u32"],
  root: [4, "u32"],
});

/** `struct fs_summary`: the changes counted, not sent, by kind. */
export const FS_SUMMARY = struct("fs_summary", 80, {
  first: [0, "u64"],
  last: [8, "u64"],
  count: [16, ["u32", 16]],
});

/** The maps the loader writes or reads. */
export const FILE_SYSTEM_MAPS = {
  fs_config: { key: "u32", value: FILE_SYSTEM_CONFIG },
  fs_prefixes: { key: FS_PREFIX_KEY, value: "u32" },
  fs_names: { key: FS_NAME_KEY, value: "u32" },
  fs_inodes: { key: FS_INODE_KEY, value: "u32" },
  fs_prefix_dirs: { key: FS_PREFIX_KEY, value: "u32" },
  fs_dir_config: { key: "u32", value: FS_DIR_CONFIG },
  fs_summaries: { key: FS_SUMMARY_KEY, value: FS_SUMMARY },
} as const satisfies Record<string, MapLayout>;

/** `enum file_system_class`: what a path is to the policy, as map bits. */
export const FileClass = {
  watch: 1,
  protect: 2,
  secret: 4,
  /** A protected path the kernel matches exactly: it kills the writer. */
  kill: 8,
  /** A directory at or above a protected tree: mounts on it and renames
   * of it are tampering. */
  above: 16,
  /** A secret the kernel matches exactly: an install script reading it
   * breaks dependencies.install_scripts. */
  depSecret: 32,
  /** A path the kernel matches exactly that an install script may not
   * change (the workspace's `.github`). */
  depProtect: 64,
  /** A bulk root (files.bulk) or below: its changes may be summarised. */
  bulk: 128,
} as const;

/** The prefix map's value: FileClass bits below, a bulk root's id above. */
export const ROOT_SHIFT = 16;
/** The FileClass bits of a prefix map value. */
export const CLASSES_MASK = 0xffff;

/** Bytes of a prefix the trie compares. */
export const PREFIX_MAX: number = arrayLength(FS_PREFIX_KEY, "data");
/** Bytes of a name the name map holds, with its NUL. */
export const NAME_MAX: number = arrayLength(FS_NAME_KEY, "name");

/** What the kernel's maps hold for a set of rules. */
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
  /** dependencies.install_scripts as `InstallScriptRule` bits; 0: none. */
  installScripts?: number;
  /** files.detail: summary: changes under bulk roots are counted in the
   * kernel (bpf/lib/bulk.h). */
  summary?: boolean;
}

/**
 * The classes the trie gives `path` from `prefixes` alone: those of its
 * longest prefix there (a whole path, stored with its NUL, only matches
 * itself).
 */
export function coveringClasses(
  prefixes: ReadonlyMap<string, number>,
  path: string,
): number {
  let best = -1, classes = 0;
  const whole = path + "\0";
  for (const [prefix, bits] of prefixes) {
    if (prefix.length > best && whole.startsWith(prefix)) {
      best = prefix.length;
      classes = bits & CLASSES_MASK;
    }
  }
  return classes;
}

/** Encodes a `fs_prefixes` key: the prefix length in bits, then the bytes. */
export function encodePrefixKey(prefix: string): Uint8Array<ArrayBuffer> {
  const data = new TextEncoder().encode(prefix);
  return encodeStruct(FS_PREFIX_KEY, { prefixlen: data.length * 8, data });
}

/**
 * The directory cuts of prefix entries, for `fs_prefix_dirs`: every
 * prefix of an entry that ends in "/" and is shorter than the entry, with
 * its length in bytes. A directory whose path with its slash is one of
 * them has an entry below it, so its children's verdict is not its own.
 * Entries are the trie's raw bytes (a literal path ends in a NUL).
 */
export function prefixDirs(entries: Iterable<Uint8Array>): Map<string, number> {
  const cuts = new Map<string, number>();
  const decoder = new TextDecoder();
  for (const entry of entries) {
    for (let at = 0; at < entry.length - 1; at++) {
      if (entry[at] !== 0x2f) continue;
      // "/" never occurs inside a multi-byte UTF-8 sequence: the cut is whole
      cuts.set(decoder.decode(entry.subarray(0, at + 1)), at + 1);
    }
  }
  return cuts;
}

/** The bytes of a `fs_prefixes` key as stored: its first prefixlen / 8 data bytes. */
export function decodePrefixKey(key: Uint8Array): Uint8Array {
  const view = new DataView(key.buffer, key.byteOffset, key.byteLength);
  const bytes = view.getUint32(FS_PREFIX_KEY.fields.prefixlen, true) / 8;
  const data = FS_PREFIX_KEY.fields.data;
  return key.subarray(data, data + Math.min(bytes, PREFIX_MAX));
}

/** Encodes a `fs_names` key: the name, NUL-padded. */
export function encodeNameKey(name: string): Uint8Array<ArrayBuffer> {
  return encodeStruct(FS_NAME_KEY, { name });
}

/** A file the kernel knows by device and inode, with its FileClass bits. */
export interface InodeEntry {
  /** The device in the kernel's encoding (sensors/device.ts). */
  dev: number;
  ino: bigint;
  classes: number;
}

/** Encodes a `fs_inodes` key. */
export function encodeInodeKey(
  entry: Pick<InodeEntry, "dev" | "ino">,
): Uint8Array<ArrayBuffer> {
  return encodeStruct(FS_INODE_KEY, { ino: entry.ino, dev: entry.dev });
}

/** What the config holds beyond the rules: the agent's own state. */
export interface FileSystemRuntime {
  /** Entries in `fs_inodes`. */
  inodes: number;
  /** The agent's mount namespace, its inode number. */
  mntNs: number;
}

/** The `fs_config` value for `maps`. */
export function fileSystemConfig(
  maps: FileSystemMaps,
  runtime: FileSystemRuntime = { inodes: 0, mntNs: 0 },
): StructInput<typeof FILE_SYSTEM_CONFIG> {
  return {
    kill: maps.kill ? 1 : 0,
    match_all: maps.matchAll,
    read_classes: maps.readClasses,
    read_paths: maps.readPaths ? 1 : 0,
    inodes: runtime.inodes ? 1 : 0,
    mnt_ns: runtime.mntNs,
    install_scripts: maps.installScripts ?? 0,
    summary: maps.summary ? 1 : 0,
  };
}
