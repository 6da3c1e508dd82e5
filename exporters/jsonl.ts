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
  #timer: ReturnType<typeof setTimeout> | undefined;
  readonly #encoder = new TextEncoder();

  /**
   * Opens the target. A file is created, and truncated unless `append`.
   *
   * @throws {Error} naming the file when it cannot be opened.
   */
  constructor(target: JsonLinesTarget, options: { append?: boolean } = {}) {
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
    else this.#timer ??= setTimeout(() => this.#flushNow(), FLUSH_MS);
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
    this.#flushNow();
    if (this.#closeOutput) this.#output.close?.();
    return Promise.resolve();
  }

  #flushNow(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    if (!this.#used) return;
    const bytes = this.#buffer.subarray(0, this.#used);
    this.#used = 0;
    writeAllSync(this.#output, bytes);
  }
}
