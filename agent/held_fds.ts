/**
 * File descriptors open for writing to a protected file that processes in
 * scope held before the agent started: an open the sensor never saw, whose
 * writes go by the fd. Read from `/proc/PID/fd` (which file, by stat of the
 * link: device and inode, whatever path opened it) and `/proc/PID/fdinfo`
 * (the open flags).
 *
 * @module
 */

import { kernelDev } from "../sensors/file_system.ts";
import { openFlagNames } from "../sensors/file_system_event.ts";

/** An fd open for writing to a file the caller cares about. */
export interface HeldFd {
  /** The process holding it. */
  pid: number;
  /** The fd number. */
  fd: number;
  /** The path /proc shows for it (the path it was opened by). */
  link: string;
  /** The open flags' names, e.g. `["O_WRONLY", "O_APPEND"]`. */
  flags: string[];
  /** Device (kernel encoding) and inode of the file. */
  dev: number;
  ino: bigint;
}

/** The octal `flags:` line of an fdinfo file; undefined when absent. */
export function fdinfoFlags(text: string): number | undefined {
  const match = /^flags:\s*([0-7]+)$/m.exec(text);
  return match ? parseInt(match[1], 8) : undefined;
}

/**
 * The fds of `pids` open for writing (O_WRONLY or O_RDWR) to a file for
 * which `wanted(dev, ino)` holds. Processes and fds that go away while they
 * are read are skipped.
 */
export function heldForWriting(
  pids: Iterable<number>,
  wanted: (dev: number, ino: bigint) => boolean,
  proc = "/proc",
): HeldFd[] {
  const held: HeldFd[] = [];
  for (const pid of pids) {
    let fds: Deno.DirEntry[];
    try {
      fds = [...Deno.readDirSync(`${proc}/${pid}/fd`)];
    } catch {
      continue;
    }
    for (const entry of fds) {
      const fd = Number(entry.name);
      if (!Number.isInteger(fd)) continue;
      try {
        const info = Deno.statSync(`${proc}/${pid}/fd/${fd}`);
        if (!info.isFile || info.ino === null) continue;
        const dev = kernelDev(info.dev);
        const ino = BigInt(info.ino);
        if (!wanted(dev, ino)) continue;
        const flags = fdinfoFlags(
          Deno.readTextFileSync(`${proc}/${pid}/fdinfo/${fd}`),
        );
        if (flags === undefined || (flags & 3) === 0) continue;
        held.push({
          pid,
          fd,
          link: Deno.readLinkSync(`${proc}/${pid}/fd/${fd}`),
          flags: openFlagNames(flags),
          dev,
          ino,
        });
      } catch { /* gone meanwhile */ }
    }
  }
  return held;
}
