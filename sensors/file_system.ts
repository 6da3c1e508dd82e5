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
  encodeInodeKey,
  encodeNameKey,
  encodePrefixKey,
  FILE_SYSTEM_CONFIG,
  FILE_SYSTEM_MAPS,
  fileSystemConfig,
  type FileSystemMaps,
  type InodeEntry,
} from "./file_system_maps.ts";
import { encodeInt } from "./layout.ts";
import { mapDelete, mapLookup, mapUpdate } from "./libbpf.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";

export {
  decodeFileSystemEvent,
  decodeFileSystemRecord,
  type FileSystemEvent,
  type FileSystemKind,
  type RawFileSystemEvent,
  recordClasses,
  recordInstallScript,
} from "./file_system_event.ts";
export {
  FileClass,
  type FileSystemMaps,
  type InodeEntry,
  kernelDev,
} from "./file_system_maps.ts";
export {
  type FileRulesConfig,
  FileSystemRules,
  type InstallScriptFiles,
  type PathPattern,
  type PatternLiteral,
} from "./file_system_rules.ts";

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
   * Attaches sys_enter and sys_exit, the io_uring tracepoints, and the
   * LSM hooks when loaded. The finishers are reached by tail call and stay
   * unattached. A kernel without io_uring has no io_uring tracepoints and
   * nothing for them to see: their programs are left out there.
   */
  attach(): void {
    for (const program of this.object.programs()) {
      if (program.fd < 0 || program.name.startsWith("finish_")) continue;
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
   * Puts the rules' maps in force. New entries go in before stale ones go
   * out, so that during the swap the kernel sends too much, never too
   * little; the config (kill) changes last.
   */
  setRules(maps: FileSystemMaps): void {
    const live = { addFirst: true };
    this.replaceEntries(
      "fs_prefixes",
      FILE_SYSTEM_MAPS.fs_prefixes,
      [...maps.prefixes].map(([prefix, bits]) => ({
        key: encodePrefixKey(prefix),
        value: encodeInt("u32", bits),
      })),
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
