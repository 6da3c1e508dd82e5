/**
 * sensor.file-system: writes, creates, truncates, unlinks, renames, chmods
 * and chowns of the processes in scope, and their reads of secret files
 * (bpf/sensor.file-system.bpf.c).
 *
 * Records are decoded by ./file_system_event.ts, the rules' kernel share
 * and final match are ./file_system_rules.ts, and the maps' bytes
 * ./file_system_maps.ts; this module loads, attaches and fills them.
 *
 * @module
 */

import {
  coveringClasses,
  decodePrefixKey,
  encodeInodeKey,
  encodeNameKey,
  encodePrefixKey,
  FILE_SYSTEM_CONFIG,
  FILE_SYSTEM_MAPS,
  FileClass,
  fileSystemConfig,
  type FileSystemMaps,
  FS_DIR_CONFIG,
  FS_SUMMARY,
  FS_SUMMARY_KEY,
  type InodeEntry,
  prefixDirs,
  ROOT_SHIFT,
} from "./file_system_maps.ts";
import { decodeStruct, encodeInt, encodeStruct, sizeOf } from "./layout.ts";
import { mapDelete, mapKeys, mapLookup, mapTake, mapUpdate } from "./libbpf.ts";
import type { BpfProgram } from "./bpf_program.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";
import { SyscallEnterSlot, SyscallExitSlot } from "./syscall_chain.ts";

export {
  decodeFileSystemEvent,
  decodeFileSystemRecord,
  type FileSystemEvent,
  type FileSystemKind,
  type RawFileSystemEvent,
  recordClasses,
  recordInstallScript,
} from "./file_system_event.ts";
export { kernelDev } from "./device.ts";
export {
  FileClass,
  type FileSystemMaps,
  type InodeEntry,
} from "./file_system_maps.ts";
export {
  type FileRulesConfig,
  FileSystemRules,
  type InstallScriptFiles,
  type PathPattern,
  type PatternLiteral,
} from "./file_system_rules.ts";

/** One entry of `fs_summaries`: what a process changed under a bulk root
 * beyond its first change, which came as a record. */
export interface SummaryEntry {
  /** The process (thread group id). */
  tgid: number;
  /** The bulk root's id ({@linkcode FileSystemSensor.setBulkRoot}). */
  root: number;
  /** ktime (ns) of the first change, the one sent as a record. */
  first: bigint;
  /** ktime (ns) of the last change counted. */
  last: bigint;
  /** Changes counted, by `enum file_system_event_kind` value. */
  count: number[];
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
  #maps?: FileSystemMaps;
  #inodes = 0;
  #dirsEnabled = false;
  #dirGen = 0;
  /** Bulk roots in `fs_prefixes`: directory prefix (ends in "/") → id. */
  readonly #roots = new Map<string, number>();
  /** The agent's mount namespace: mounts there change what others see. */
  readonly #mntNs = mountNamespace();

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
   * Puts sys_exit and sys_enter in their slots of the syscall chains (the
   * process sensor's, when given as `sharedMaps`), attaches the io_uring
   * tracepoints and the LSM hooks when loaded, then turns the kernel's
   * directory verdicts on. The finishers are reached by tail call and stay
   * unattached. A kernel without io_uring has no io_uring tracepoints and
   * nothing for them to see: their programs are left out there.
   *
   * The end of a call (sys_exit, io_uring_complete) is hooked before its
   * start (and unhooked after it, close() going in reverse): a
   * directory-changing call counted in flight at its start is always seen
   * to end.
   */
  attach(): void {
    const chained = new Set(["sys_enter", "sys_exit"]);
    const starts = new Set(["uring_submit_req"]);
    const programs = this.object.programs().filter((program) =>
      program.fd >= 0 && !program.name.startsWith("finish_") &&
      !chained.has(program.name)
    );
    this.chain("sys_exit", "syscall_exit_chain", SyscallExitSlot.fileSystem);
    this.#attachEach(programs.filter((program) => !starts.has(program.name)));
    this.chain("sys_enter", "syscall_enter_chain", SyscallEnterSlot.fileSystem);
    this.#attachEach(programs.filter((program) => starts.has(program.name)));
    this.#dirsEnabled = true;
    this.#writeDirConfig();
  }

  #attachEach(programs: readonly BpfProgram[]): void {
    for (const program of programs) {
      let link;
      try {
        link = program.attach();
      } catch (error) {
        if (program.name.startsWith("uring_") && !ioUring()) continue;
        throw error;
      }
      this.adopt(link);
    }
  }

  /**
   * Brings the kernel's directory cuts (`fs_prefix_dirs`) in line with
   * what `fs_prefixes` holds now and moves the directories' verdicts to a
   * new generation, so that none learnt before holds. Whatever writes
   * `fs_prefixes` calls this after it: a verdict cached from before would
   * hide the new entries below a directory.
   */
  prefixesChanged(): void {
    const keys = mapKeys(
      this.object.map("fs_prefixes").fd,
      sizeOf(FILE_SYSTEM_MAPS.fs_prefixes.key),
    );
    const cuts = prefixDirs(keys.map(decodePrefixKey));
    this.replaceEntries(
      "fs_prefix_dirs",
      FILE_SYSTEM_MAPS.fs_prefix_dirs,
      [...cuts].map(([cut, length]) => ({
        key: encodePrefixKey(cut),
        value: encodeInt("u32", length),
      })),
      { addFirst: true },
    );
    this.#dirGen = (this.#dirGen + 1) >>> 0;
    this.#writeDirConfig();
  }

  #writeDirConfig(): void {
    this.writeConfig("fs_dir_config", FS_DIR_CONFIG, {
      enabled: this.#dirsEnabled ? 1 : 0,
      gen: this.#dirGen,
    });
  }

  /**
   * Puts the rules' maps in force. New entries go in before stale ones go
   * out, so that during the swap the kernel sends too much, never too
   * little; the config (kill) changes last.
   */
  setRules(maps: FileSystemMaps): void {
    const live = { addFirst: true };
    this.replaceEntries(
      "fs_prefixes",
      FILE_SYSTEM_MAPS.fs_prefixes,
      [
        ...[...maps.prefixes].filter(([prefix]) => !this.#roots.has(prefix))
          .map(([prefix, bits]) => ({
            key: encodePrefixKey(prefix),
            value: encodeInt("u32", bits),
          })),
        ...[...this.#roots].map(([prefix, id]) => ({
          key: encodePrefixKey(prefix),
          value: encodeInt("u32", rootValue(maps, prefix, id)),
        })),
      ],
      live,
    );
    this.replaceEntries(
      "fs_names",
      FILE_SYSTEM_MAPS.fs_names,
      [...maps.names].map(([name, bits]) => ({
        key: encodeNameKey(name),
        value: encodeInt("u32", bits),
      })),
      live,
    );
    this.prefixesChanged();
    this.#maps = maps;
    this.#writeConfig();
  }

  /**
   * Puts the files known by device and inode in force, replacing the
   * previous set (new entries first, as in {@linkcode setRules}).
   */
  setInodes(entries: readonly InodeEntry[]): void {
    this.replaceEntries(
      "fs_inodes",
      FILE_SYSTEM_MAPS.fs_inodes,
      entries.map((entry) => ({
        key: encodeInodeKey(entry),
        value: encodeInt("u32", entry.classes),
      })),
      { addFirst: true },
    );
    this.#inodes = entries.length;
    this.#writeConfig();
  }

  /**
   * Adds files known by device and inode (or gives known ones new
   * classes); an entry the full map refuses is left out and counted in the
   * return value.
   */
  addInodes(entries: readonly InodeEntry[]): number {
    const fd = this.object.map("fs_inodes").fd;
    let refused = 0;
    for (const entry of entries) {
      const key = encodeInodeKey(entry);
      const known = mapLookup(fd, key, new Uint8Array(4));
      try {
        mapUpdate(fd, key, encodeInt("u32", entry.classes));
        if (!known) this.#inodes++;
      } catch {
        refused++;
      }
    }
    this.#writeConfig();
    return refused;
  }

  /** Removes files known by device and inode. */
  removeInodes(entries: readonly Pick<InodeEntry, "dev" | "ino">[]): void {
    const fd = this.object.map("fs_inodes").fd;
    for (const entry of entries) {
      if (mapDelete(fd, encodeInodeKey(entry))) this.#inodes--;
    }
    // The config's `inodes` stays set while any entry is left.
    this.#writeConfig();
  }

  /**
   * Makes `prefix` (a directory, ending in "/") bulk root `id` (1 to
   * 65535): the changes under it that only files.watch names may be
   * summarised (bpf/lib/bulk.h). Its entry keeps the classes of the
   * policy's prefix that covers it. False when the map has no room.
   */
  setBulkRoot(prefix: string, id: number): boolean {
    if (!this.#maps || id < 1 || id > 0xffff) return false;
    try {
      mapUpdate(
        this.object.map("fs_prefixes").fd,
        encodePrefixKey(prefix),
        encodeInt("u32", rootValue(this.#maps, prefix, id)),
      );
    } catch {
      return false;
    }
    this.#roots.set(prefix, id);
    this.prefixesChanged();
    return true;
  }

  /**
   * Ends bulk root `prefix`: what is under it is sent in full again, with
   * the classes the policy gives it (its own entry when it has one).
   */
  removeBulkRoot(prefix: string): void {
    if (!this.#roots.delete(prefix)) return;
    const fd = this.object.map("fs_prefixes").fd;
    const own = this.#maps?.prefixes.get(prefix);
    if (own !== undefined) {
      mapUpdate(fd, encodePrefixKey(prefix), encodeInt("u32", own));
    } else mapDelete(fd, encodePrefixKey(prefix));
    this.prefixesChanged();
  }

  /** Every entry of `fs_summaries`. */
  summaries(): SummaryEntry[] {
    const fd = this.object.map("fs_summaries").fd;
    const value = new Uint8Array(FS_SUMMARY.size);
    const entries: SummaryEntry[] = [];
    for (const key of mapKeys(fd, FS_SUMMARY_KEY.size)) {
      const entry = this.#readSummary(fd, key, value);
      if (entry) entries.push(entry);
    }
    return entries;
  }

  /**
   * Reads and deletes the summary of (tgid, root) in one step; call it
   * once the process has exited. Undefined when there is none.
   */
  takeSummary(tgid: number, root: number): SummaryEntry | undefined {
    const fd = this.object.map("fs_summaries").fd;
    const key = encodeStruct(FS_SUMMARY_KEY, { tgid, root });
    return this.#readSummary(fd, key, new Uint8Array(FS_SUMMARY.size), true);
  }

  #readSummary(
    fd: number,
    key: Uint8Array,
    value: Uint8Array<ArrayBuffer>,
    take = false,
  ): SummaryEntry | undefined {
    const copy = new Uint8Array(key);
    if (!(take ? mapTake : mapLookup)(fd, copy, value)) return undefined;
    const { tgid, root } = decodeStruct(FS_SUMMARY_KEY, key);
    const { first, last, count } = decodeStruct(FS_SUMMARY, value);
    return { tgid, root, first, last, count: count as number[] };
  }

  #writeConfig(): void {
    if (!this.#maps) return;
    this.writeConfig(
      "fs_config",
      FILE_SYSTEM_CONFIG,
      fileSystemConfig(this.#maps, {
        inodes: this.#inodes,
        mntNs: this.#mntNs,
      }),
    );
  }
}

/** A bulk root's `fs_prefixes` value: the classes of the policy's prefix
 * that covers it, FileClass.bulk, and its id in the high bits. */
function rootValue(maps: FileSystemMaps, prefix: string, id: number): number {
  return ((coveringClasses(maps.prefixes, prefix) | FileClass.bulk) |
    (id << ROOT_SHIFT)) >>> 0;
}

/** The inode number of this process's mount namespace; 0 if unknown. */
function mountNamespace(): number {
  try {
    const link = Deno.readLinkSync("/proc/self/ns/mnt");
    return Number(/\[(\d+)\]/.exec(link)?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Whether this kernel has io_uring (its tracepoints exist then). */
function ioUring(): boolean {
  try {
    return Deno.readTextFileSync("/proc/kallsyms").includes("io_uring_setup");
  } catch {
    return true;
  }
}
