/**
 * Delivery for exporters that push to a remote service (webhook, OTLP):
 * `push()` never blocks; a pump sends batches in order, retries failures
 * with exponential backoff, keeps a bounded queue in memory and spills the
 * rest to a spool file on disk, so that a receiver that is down for a while
 * loses nothing. What cannot be kept (spool full or not writable) is
 * counted as dropped. What is still undelivered at close stays in the spool
 * and goes out first the next time an exporter for the same destination
 * starts.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { Exporter } from "./exporter.ts";
import { writeAllSync } from "./jsonl.ts";

/** A batch the receiver refused for good (e.g. HTTP 400): not retried. */
export class PermanentError extends Error {}

/** How a {@linkcode DeliveryQueue} delivers. */
export interface DeliveryOptions {
  /** For messages, e.g. "webhook https://…". */
  label: string;
  /** Sends one batch of JSON lines; throws to have it retried. */
  send: (lines: string[]) => Promise<void>;
  /** Lines per batch. */
  batch: number;
  /** Lines held in memory before spooling. */
  memory: number;
  /** Spool file; without one, what does not fit in memory is dropped. */
  spoolFile?: string;
  /** Spool size limit in bytes (default 256 MiB). */
  spoolMaxBytes?: number;
  /** First retry delay (default 250 ms), doubled up to `maxBackoffMs`. */
  initialBackoffMs?: number;
  /** Longest retry delay (default 30 s). */
  maxBackoffMs?: number;
  /** Receives a line per failure streak (not one per retry). */
  log?: (message: string) => void;
}

/** Counters of a {@linkcode DeliveryQueue}. */
export interface DeliveryStats {
  delivered: number;
  dropped: number;
  /** Lines left in the spool file for the next start. */
  spooled: number;
  /** Failed attempts. */
  failures: number;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();
const SPOOL_CHUNK = 1 << 20;

/** An ordered, bounded, retrying queue of JSON lines. */
export class DeliveryQueue {
  readonly #options: DeliveryOptions;
  #memory: string[] = [];
  #head = 0;
  /** Lines waiting to be appended to the spool file. */
  #append: string[] = [];
  #spoolFile: Deno.FsFile | undefined;
  #spoolRead = 0;
  #spoolSize = 0;
  #spooling = false;
  #wake: (() => void) | undefined;
  #wakeClose: (() => void) | undefined;
  #closing = false;
  #deadline = Infinity;
  #pump: Promise<void>;
  #idle = Promise.withResolvers<void>();
  readonly stats: DeliveryStats = {
    delivered: 0,
    dropped: 0,
    spooled: 0,
    failures: 0,
  };

  constructor(options: DeliveryOptions) {
    this.#options = options;
    if (options.spoolFile) this.#openSpool(options.spoolFile);
    this.#pump = this.#run();
  }

  /** Queues one JSON line. Never blocks on the network. */
  push(line: string): void {
    if (this.#closing && this.#deadline < Date.now()) {
      this.stats.dropped++;
      return;
    }
    if (
      !this.#spooling && this.#memory.length - this.#head < this.#options.memory
    ) {
      this.#memory.push(line);
    } else if (this.#spoolFile) {
      this.#spooling = true;
      const max = this.#options.spoolMaxBytes ?? 256 << 20;
      if (this.#spoolSize + line.length + 1 > max) {
        this.stats.dropped++;
        return;
      }
      this.#append.push(line);
      this.#spoolSize += line.length + 1;
      if (this.#append.length >= 1024) this.#writeAppends();
    } else {
      this.stats.dropped++;
      return;
    }
    this.#wake?.();
  }

  /** Lines not yet delivered. */
  get pending(): number {
    return this.#memory.length - this.#head + this.#append.length +
      (this.#spoolFile ? this.#spoolBacklogLines() : 0);
  }

  /** Resolves when everything queued so far is delivered or `ms` passed. */
  async flush(ms = 5_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (this.pending > 0 && Date.now() < deadline) {
      this.#wake?.();
      await Promise.race([
        this.#idle.promise,
        new Promise((resolve) => setTimeout(resolve, 50)),
      ]);
    }
  }

  /**
   * Tries to deliver what is queued for up to `ms`, then stops; anything
   * left is kept in the spool file (or counted as dropped without one).
   */
  async close(ms = 5_000): Promise<void> {
    this.#closing = true;
    this.#deadline = Date.now() + ms;
    this.#wakeClose?.();
    await this.#pump;
    const left = this.#memory.slice(this.#head);
    this.#memory = [];
    this.#head = 0;
    if (!this.#spoolFile) {
      this.stats.dropped += left.length + this.#append.length;
      return;
    }
    // Rewrite the spool as: undelivered memory, then the unread spool.
    this.#writeAppends();
    const file = this.#options.spoolFile!;
    const rest = this.#readSpool(this.#spoolRead, Infinity);
    this.#spoolFile.close();
    this.#spoolFile = undefined;
    const lines = [...left, ...rest];
    this.stats.spooled = lines.length;
    if (lines.length === 0) {
      try {
        Deno.removeSync(file);
      } catch { /* gone */ }
      return;
    }
    const temp = `${file}.tmp`;
    Deno.writeTextFileSync(temp, lines.join("\n") + "\n");
    Deno.renameSync(temp, file);
    this.#options.log?.(
      `${this.#options.label}: ${lines.length} events not delivered, kept in ${file} for the next start`,
    );
  }

  #openSpool(path: string): void {
    try {
      Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || "/", {
        recursive: true,
      });
      this.#spoolFile = Deno.openSync(path, {
        read: true,
        write: true,
        create: true,
      });
      this.#spoolSize = this.#spoolFile.statSync().size;
      if (this.#spoolSize > 0) {
        this.#spooling = true;
        this.#options.log?.(
          `${this.#options.label}: resending ${this.#spoolSize} bytes spooled by an earlier run`,
        );
      }
    } catch (error) {
      this.#options.log?.(
        `${this.#options.label}: no spool (${
          (error as Error).message
        }); events beyond ${this.#options.memory} queued are dropped`,
      );
      this.#spoolFile = undefined;
    }
  }

  #spoolBacklogLines(): number {
    return this.#spoolSize > this.#spoolRead ? 1 : 0;
  }

  #writeAppends(): void {
    if (!this.#append.length || !this.#spoolFile) return;
    const bytes = encoder.encode(this.#append.join("\n") + "\n");
    this.#append = [];
    this.#spoolFile.seekSync(0, Deno.SeekMode.End);
    writeAllSync(this.#spoolFile, bytes);
    this.#spoolSize = this.#spoolFile.statSync().size;
  }

  /** Whole lines from `offset`, up to about `limit` bytes; advances. */
  #readSpool(offset: number, limit: number): string[] {
    const file = this.#spoolFile!;
    const size = file.statSync().size;
    const want = Math.min(size - offset, limit);
    if (want <= 0) return [];
    const buffer = new Uint8Array(want);
    file.seekSync(offset, Deno.SeekMode.Start);
    let got = 0;
    while (got < want) {
      const n = file.readSync(buffer.subarray(got));
      if (n === null || n === 0) break;
      got += n;
    }
    const text = decoder.decode(buffer.subarray(0, got));
    const end = text.lastIndexOf("\n");
    if (end === -1) return [];
    this.#spoolRead = offset + encoder.encode(text.slice(0, end + 1)).length;
    return text.slice(0, end).split("\n").filter(Boolean);
  }

  /** Moves the next spooled lines to memory; leaves spool mode at its end. */
  #refill(): void {
    if (!this.#spoolFile || !this.#spooling) return;
    this.#writeAppends();
    const lines = this.#readSpool(this.#spoolRead, SPOOL_CHUNK);
    if (lines.length) {
      this.#memory = lines;
      this.#head = 0;
      return;
    }
    // Everything spooled has moved to memory and been sent: start over.
    this.#spoolFile.truncateSync(0);
    this.#spoolRead = 0;
    this.#spoolSize = 0;
    this.#spooling = false;
  }

  async #run(): Promise<void> {
    let backoff = this.#options.initialBackoffMs ?? 250;
    let failing = false;
    while (true) {
      if (this.#head >= this.#memory.length) {
        this.#memory = [];
        this.#head = 0;
        this.#refill();
      }
      const batch = this.#memory.slice(
        this.#head,
        this.#head + this.#options.batch,
      );
      if (!batch.length) {
        this.#idle.resolve();
        this.#idle = Promise.withResolvers<void>();
        if (this.#closing) return;
        await this.#sleep(Infinity);
        continue;
      }
      if (this.#closing && Date.now() >= this.#deadline) return;
      try {
        await this.#options.send(batch);
        this.stats.delivered += batch.length;
        this.#head += batch.length;
        backoff = this.#options.initialBackoffMs ?? 250;
        if (failing) {
          failing = false;
          this.#options.log?.(`${this.#options.label}: delivering again`);
        }
      } catch (error) {
        if (error instanceof PermanentError) {
          this.stats.dropped += batch.length;
          this.#head += batch.length;
          this.#options.log?.(
            `${this.#options.label}: ${batch.length} events refused: ${error.message}`,
          );
          continue;
        }
        this.stats.failures++;
        if (!failing) {
          failing = true;
          this.#options.log?.(
            `${this.#options.label}: ${
              (error as Error).message
            }; retrying with backoff, events are kept`,
          );
        }
        const max = this.#options.maxBackoffMs ?? 30_000;
        const jittered = backoff * (0.5 + Math.random() / 2);
        backoff = Math.min(backoff * 2, max);
        const wait = this.#closing
          ? Math.min(jittered, Math.max(0, this.#deadline - Date.now()))
          : jittered;
        await this.#sleep(wait, true);
      }
    }
  }

  /** Sleeps `ms`; a push ends only an idle wait, close ends any. */
  #sleep(ms: number, _backoff = false): Promise<void> {
    return new Promise((resolve) => {
      const timer = Number.isFinite(ms)
        ? setTimeout(() => done(), ms)
        : undefined;
      const done = () => {
        if (timer !== undefined) clearTimeout(timer);
        this.#wake = undefined;
        this.#wakeClose = undefined;
        resolve();
      };
      this.#wake = Number.isFinite(ms) ? undefined : done;
      this.#wakeClose = done;
    });
  }
}

/** A short stable hash for spool file names (FNV-1a, hex). */
export function spoolName(kind: string, destination: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < destination.length; i++) {
    hash ^= destination.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return `${kind}-${hash.toString(16).padStart(8, "0")}.jsonl`;
}

/**
 * An exporter that delivers batches through a {@linkcode DeliveryQueue}:
 * flush, close and the drop count are the queue's.
 */
export abstract class QueuedExporter implements Exporter {
  abstract readonly name: string;
  /** The queue the subclass fills in write(). */
  abstract readonly queue: DeliveryQueue;
  abstract write(event: RingfenceEvent): void;

  flush(): Promise<void> {
    return this.queue.flush();
  }

  close(): Promise<void> {
    return this.queue.close();
  }

  /** Events dropped (queue and spool full, or refused). */
  get dropped(): number {
    return this.queue.stats.dropped;
  }
}
