/**
 * inotify through libc: a watch per protected file's inode and per
 * directory of a protected tree, added and removed one at a time as files
 * come and go. Deno.watchFs costs about 90 µs per path and cannot add a
 * path later; inotify_add_watch costs a few.
 *
 * The fd is waited on by poll on a worker thread (sensors/ringbuf.ts
 * `waitForData`), with an eventfd that {@linkcode Inotify.close} signals.
 *
 * @module
 */

import { cString, errno, libc, strerror } from "../sensors/libc.ts";
import { waitForData, Wakeup } from "../sensors/ringbuf.ts";

/** inotify event bits (linux/inotify.h). */
export const IN = {
  MODIFY: 0x2,
  ATTRIB: 0x4,
  CLOSE_WRITE: 0x8,
  MOVED_FROM: 0x40,
  MOVED_TO: 0x80,
  CREATE: 0x100,
  DELETE: 0x200,
  DELETE_SELF: 0x400,
  MOVE_SELF: 0x800,
  Q_OVERFLOW: 0x4000,
  IGNORED: 0x8000,
  ISDIR: 0x40000000,
} as const;

/** What a watch on a file reports: anything that changes it. */
export const FILE_EVENTS = IN.MODIFY | IN.ATTRIB | IN.CLOSE_WRITE |
  IN.DELETE_SELF | IN.MOVE_SELF;
/** What a watch on a directory reports: its entries and their changes. */
export const DIR_EVENTS = FILE_EVENTS | IN.CREATE | IN.DELETE |
  IN.MOVED_FROM | IN.MOVED_TO;

const IN_NONBLOCK = 0o4000;
const IN_CLOEXEC = 0o2000000;
const EAGAIN = 11;

/** One inotify event, by path. */
export interface InotifyEvent {
  /** The watched path, or the watched directory's entry. */
  path: string;
  /** IN bits. */
  mask: number;
}

/** An inotify instance and the paths of its watches. */
export class Inotify {
  readonly #fd: number;
  readonly #wakeup = new Wakeup();
  /** watch descriptor → the paths watched through it (one inode). */
  readonly #paths = new Map<number, Set<string>>();
  readonly #byPath = new Map<string, number>();
  #closed = false;
  readonly #loop: Promise<void>;

  /** Starts reading; `onEvents` gets each batch. */
  constructor(onEvents: (events: InotifyEvent[], overflow: boolean) => void) {
    this.#fd = libc().inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (this.#fd < 0) {
      const code = errno();
      this.#wakeup.close();
      throw new Error(`inotify_init1: ${strerror(code)}`);
    }
    this.#loop = this.#run(onEvents);
  }

  /** Watches `path` (following a symlink); an error says why not. */
  add(path: string, mask: number): void {
    if (this.#closed) return;
    const wd = libc().inotify_add_watch(this.#fd, cString(path), mask);
    if (wd < 0) throw new Error(`${path}: ${strerror(errno())}`);
    const old = this.#byPath.get(path);
    if (old !== undefined && old !== wd) this.#paths.get(old)?.delete(path);
    this.#byPath.set(path, wd);
    let paths = this.#paths.get(wd);
    if (!paths) this.#paths.set(wd, paths = new Set());
    paths.add(path);
  }

  /** Whether `path` is watched. */
  has(path: string): boolean {
    return this.#byPath.has(path);
  }

  /** Watches held. */
  get size(): number {
    return this.#paths.size;
  }

  /** Settles once the closed instance's fd is released. */
  released: Promise<void> = Promise.resolve();

  /** Stops reading and closes the instance (its fd: see `released`). */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#wakeup.wake();
    await this.#loop;
  }

  async #run(
    onEvents: (events: InotifyEvent[], overflow: boolean) => void,
  ): Promise<void> {
    const buffer = new Uint8Array(64 * 1024);
    const view = new DataView(buffer.buffer);
    const decoder = new TextDecoder();
    try {
      while (!this.#closed) {
        await waitForData([this.#fd, this.#wakeup.fd], -1);
        if (this.#closed) break;
        const events: InotifyEvent[] = [];
        let overflow = false;
        for (;;) {
          const size = Number(
            libc().read(this.#fd, buffer, BigInt(buffer.length)),
          );
          if (size < 0) {
            if (errno() === EAGAIN) break;
            throw new Error(`inotify read: ${strerror(errno())}`);
          }
          if (size === 0) break;
          // struct inotify_event { int wd; u32 mask, cookie, len; char name[]; }
          for (let offset = 0; offset + 16 <= size;) {
            const wd = view.getInt32(offset, true);
            const mask = view.getUint32(offset + 4, true);
            const length = view.getUint32(offset + 12, true);
            let name = "";
            if (length) {
              const bytes = buffer.subarray(offset + 16, offset + 16 + length);
              const end = bytes.indexOf(0);
              name = decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
            }
            offset += 16 + length;
            if (mask & IN.Q_OVERFLOW) {
              overflow = true;
              continue;
            }
            const paths = this.#paths.get(wd);
            if (!paths) continue;
            for (const path of paths) {
              events.push({
                path: name
                  ? (path === "/" ? `/${name}` : `${path}/${name}`)
                  : path,
                mask,
              });
            }
            if (mask & IN.IGNORED) {
              for (const path of paths) {
                if (this.#byPath.get(path) === wd) this.#byPath.delete(path);
              }
              this.#paths.delete(wd);
            }
          }
        }
        if (events.length || overflow) onEvents(events, overflow);
      }
    } catch {
      // A read that fails ends the watch; the caller's periodic check
      // goes on.
    } finally {
      // Releasing an inotify instance waits for its marks' destruction, an
      // SRCU grace period (fsnotify_destroy_group()), which
      // the agent's stop need not wait for: a worker thread does.
      this.released = libc().close_async(this.#fd).then(() => {});
      this.#wakeup.close();
    }
  }
}
