/**
 * The kernel's recent events for protected files, kept for a few seconds:
 * when the agent finds a protected file changed, the last event that names
 * the file (by one of its paths, or by device and inode) names its writer.
 *
 * @module
 */

import type { FileSystemEvent } from "../sensors/events.ts";
import type { FileIntegrityWriter } from "../sensors/file_integrity_event.ts";

/** How long an event can name the writer of a change found later. */
export const WRITER_WINDOW_MS = 10_000;
/** Events kept at most. */
const KEPT = 512;

/** A recent writer of a protected file. */
export interface RecentWrite {
  /** The process. */
  writer: FileIntegrityWriter;
  /** Its step, when known. */
  step?: FileSystemEvent["step"];
  /** The paths the event named. */
  paths: string[];
  /** Device (kernel encoding) and inode, when the event carried them. */
  inode?: { dev: number; ino: bigint };
  /** `performance.now()` when the agent read it. */
  at: number;
}

/** The device and inode a file_system_event carries, when it does. */
export function eventInode(
  event: FileSystemEvent,
): { dev: number; ino: bigint } | undefined {
  const inode = event.inode;
  if (!inode?.ino) return undefined;
  const dev = kernelDevOf(inode.dev);
  return dev === undefined ? undefined : { dev, ino: BigInt(inode.ino) };
}

/** Devices by their `major:minor` text: a handful recur, event after event. */
const devices = new Map<string, number | undefined>();

/** The kernel's encoding of `major:minor`, as fs_inodes holds it:
 * major << 20 | minor. */
export function kernelDevOf(text: string): number | undefined {
  if (devices.has(text)) return devices.get(text);
  const match = /^(\d+):(\d+)$/.exec(text);
  const dev = match
    ? ((Number(match[1]) << 20) | Number(match[2])) >>> 0
    : undefined;
  if (devices.size < 256) devices.set(text, dev);
  return dev;
}

/** The last few seconds of events that change protected files. */
export class RecentWriters {
  readonly #writes: RecentWrite[] = [];

  /** Takes a judged file_system_event; keeps it if it changes a protected file. */
  record(
    event: FileSystemEvent,
    inode: { dev: number; ino: bigint } | undefined = eventInode(event),
  ): void {
    if (event.kind === "read" || !event.reason.startsWith("files.protect")) {
      return;
    }
    const writer: FileIntegrityWriter = { pid: event.pid, comm: event.comm };
    if (event.exe) writer.exe = event.exe;
    if (event.killed) writer.killed = true;
    const write: RecentWrite = {
      writer,
      paths: event.new_path === undefined
        ? [event.path]
        : [event.path, event.new_path],
      at: performance.now(),
    };
    if (event.protected_path) write.paths.push(event.protected_path);
    if (event.step) write.step = event.step;
    if (inode) write.inode = inode;
    this.#writes.push(write);
    if (this.#writes.length > KEPT) this.#writes.shift();
  }

  /**
   * The latest write in the window to any of `paths` or to the inode;
   * undefined when none.
   */
  find(
    paths: ReadonlySet<string> | readonly string[],
    inode?: { dev: number; ino: bigint },
    now: number = performance.now(),
  ): RecentWrite | undefined {
    const names = new Set(paths);
    for (let index = this.#writes.length - 1; index >= 0; index--) {
      const write = this.#writes[index];
      if (now - write.at > WRITER_WINDOW_MS) break;
      if (write.paths.some((path) => names.has(path))) return write;
      if (
        inode && write.inode && write.inode.dev === inode.dev &&
        write.inode.ino === inode.ino
      ) return write;
    }
    return undefined;
  }
}
