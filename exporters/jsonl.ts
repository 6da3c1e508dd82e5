/**
 * JSON lines: one event per line, to a file, stdout or stderr.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { Exporter } from "./exporter.ts";

/** Where JSON lines go: a path, or "-"/"stdout" and "stderr". */
export type JsonLinesTarget = string;

/** Writes all of `bytes`: `writeSync` may take only part of them. */
export function writeAllSync(
  file: { writeSync(bytes: Uint8Array): number },
  bytes: Uint8Array,
): void {
  while (bytes.length) bytes = bytes.subarray(file.writeSync(bytes));
}

const FLUSH_BYTES = 64 * 1024;
const FLUSH_MS = 100;

/**
 * Writes events as JSON lines. Lines are encoded straight into one buffer
 * and written in batches (at 64 KiB, at each {@linkcode JsonLinesExporter.commit}
 * or every 100 ms), so that a burst of events costs a few writes and no
 * string but each line. The agent commits each batch it drains before the
 * ring's space is given back to the kernel, so nothing it has read lives
 * only in this buffer when the agent is killed.
 */
export class JsonLinesExporter implements Exporter {
  readonly name = "jsonl";
  readonly #output: { writeSync(bytes: Uint8Array): number; close?(): void };
  readonly #closeOutput: boolean;
  #buffer = new Uint8Array(2 * FLUSH_BYTES);
  #used = 0;
  /** One interval for the life of the exporter: arming a timer per batch
   * costs more than the batch's writes. */
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly #encoder = new TextEncoder();
  readonly #target: string;
  readonly #log?: (line: string) => void;
  /** The output failed since the last write that went through. */
  #failing = false;
  /** A failed write may have left part of a line: the next starts anew. */
  #partial = false;
  /** Lines that could not be written (a full disk, a closed pipe). */
  lost = 0;

  /**
   * Opens the target. A file is created, and truncated unless `append`.
   *
   * A write that fails later (a full disk) loses its lines, counted in
   * {@linkcode JsonLinesExporter.lost}, and is said once through `log`:
   * the agent and its enforcement go on.
   *
   * @throws {Error} naming the file when it cannot be opened.
   */
  constructor(
    target: JsonLinesTarget,
    options: { append?: boolean; log?: (line: string) => void } = {},
  ) {
    this.#target = target;
    this.#log = options.log;
    if (target === "-" || target === "stdout") {
      this.#output = Deno.stdout;
      this.#closeOutput = false;
    } else if (target === "stderr") {
      this.#output = Deno.stderr;
      this.#closeOutput = false;
    } else {
      try {
        this.#output = Deno.openSync(target, {
          write: true,
          create: true,
          truncate: !options.append,
          append: !!options.append,
        });
      } catch (error) {
        throw new Error(
          `${target}: cannot open output: ${(error as Error).message}`,
        );
      }
      this.#closeOutput = true;
    }
  }

  write(event: RingfenceEvent): void {
    const line = JSON.stringify(event);
    // At most 3 bytes of UTF-8 per UTF-16 unit, and the newline.
    const room = 3 * line.length + 1;
    if (this.#used + room > this.#buffer.length) {
      this.#flushNow();
      if (room > this.#buffer.length) this.#buffer = new Uint8Array(room);
    }
    const target = this.#buffer.subarray(this.#used);
    this.#used += this.#encoder.encodeInto(line, target).written;
    this.#buffer[this.#used++] = 0x0a;
    if (this.#used >= FLUSH_BYTES) this.#flushNow();
    else if (this.#timer === undefined) {
      this.#timer = setInterval(() => this.#flushNow(), FLUSH_MS);
      // close() writes what is left: the interval keeps no process alive.
      Deno.unrefTimer(this.#timer);
    }
  }

  flush(): Promise<void> {
    this.#flushNow();
    return Promise.resolve();
  }

  /** Writes the buffered lines now, synchronously. */
  commit(): void {
    this.#flushNow();
  }

  close(): Promise<void> {
    clearInterval(this.#timer);
    this.#timer = undefined;
    this.#flushNow();
    if (this.#closeOutput) this.#output.close?.();
    return Promise.resolve();
  }

  #flushNow(): void {
    if (!this.#used) return;
    const all = this.#buffer.subarray(0, this.#used);
    this.#used = 0;
    let written = 0;
    try {
      if (this.#partial) {
        writeAllSync(this.#output, NEWLINE);
        this.#partial = false;
      }
      while (written < all.length) {
        written += this.#output.writeSync(all.subarray(written));
      }
      if (this.#failing) {
        this.#failing = false;
        this.#log?.(`${this.#target}: writing again (${this.lost} lines lost)`);
      }
    } catch (error) {
      this.lost += countLines(all.subarray(written));
      if (written > 0) this.#partial = all[written - 1] !== 0x0a;
      if (!this.#failing) {
        this.#failing = true;
        this.#log?.(
          `${this.#target}: cannot write events (${
            (error as Error).message
          }); lines are counted as lost, enforcement goes on`,
        );
      }
    }
  }
}

const NEWLINE = new Uint8Array([0x0a]);

/** Newlines in `bytes`: the whole JSON lines they hold. */
export function countLines(bytes: Uint8Array): number {
  let lines = 0;
  for (const byte of bytes) if (byte === 0x0a) lines++;
  return lines;
}
