/**
 * Delivery for exporters that push to a remote service (webhook, OTLP):
 * `push()` never blocks; a pump sends batches in order, retries failures
 * with exponential backoff, and every line is written ahead to a journal
 * (the spool file) before it counts as handed over, so that neither a
 * receiver that is down for a while nor an agent killed with SIGKILL loses
 * anything. What cannot be kept (spool full or not writable) is counted as
 * dropped. What is still undelivered at close, or when the agent died,
 * goes out first the next time an exporter for the same destination
 * starts.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { Exporter } from "./exporter.ts";
import { countLines, writeAllSync } from "./jsonl.ts";

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

/** Bytes of the journal after which a fully delivered one starts over. */
const COMPACT_BYTES = 8 << 20;
/** Longest time written journal lines wait for fdatasync. */
const SYNC_MS = 1_000;
/** Width of the delivered offset in the `.ack` file. */
const ACK_WIDTH = 20;

/**
 * An ordered, bounded, retrying queue of JSON lines, written ahead to a
 * journal on disk when it has a spool file.
 *
 * Every line pushed goes to the journal at the next
 * {@linkcode DeliveryQueue.commit} (the agent commits before it gives ring
 * space back to the kernel), and the offset delivered so far goes to a
 * `.ack` file beside it after each batch: an agent killed at any moment
 * leaves every undelivered line on disk, and the next start for the same
 * destination sends them first. A line can go twice (delivered, then the
 * agent dies before the ack), never zero times; its `run` and `seq` tell a
 * receiver it has it. Lines in memory are a cache of the journal's head.
 */
export class DeliveryQueue {
  readonly #options: DeliveryOptions;
  /** The next lines to send, and the journal offset each one ends at. */
  #memory: string[] = [];
  #ends: number[] = [];
  #head = 0;
  /** Encoded lines not yet written to the journal. */
  #append: Uint8Array[] = [];
  #appendBytes = 0;
  #journal: Deno.FsFile | undefined;
  #ack: Deno.FsFile | undefined;
  /** Journal bytes, written or waiting in #append. */
  #size = 0;
  /** Journal bytes delivered. */
  #acked = 0;
  /** Lines from #readPos on are in the journal only, not in memory. */
  #backlog = false;
  #readPos = 0;
  #unsynced = false;
  #syncedAt = 0;
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
    if (options.spoolFile) this.#openJournal(options.spoolFile);
    this.#pump = this.#run();
  }

  /** Queues one JSON line. Never blocks on the network. */
  push(line: string): void {
    if (this.#closing && this.#deadline < Date.now()) {
      this.stats.dropped++;
      return;
    }
    const room = this.#memory.length - this.#head < this.#options.memory;
    if (!this.#journal) {
      if (!room) {
        this.stats.dropped++;
        return;
      }
      this.#memory.push(line);
      this.#ends.push(0);
    } else {
      const bytes = encoder.encode(line + "\n");
      const max = this.#options.spoolMaxBytes ?? 256 << 20;
      if (this.#size + bytes.length - this.#acked > max) {
        this.stats.dropped++;
        return;
      }
      const start = this.#size;
      this.#size += bytes.length;
      this.#append.push(bytes);
      this.#appendBytes += bytes.length;
      if (!this.#backlog && room) {
        this.#memory.push(line);
        this.#ends.push(this.#size);
      } else if (!this.#backlog) {
        this.#backlog = true;
        this.#readPos = start;
      }
      if (this.#appendBytes >= SPOOL_CHUNK) this.#writeAppends();
    }
    this.#wake?.();
  }

  /**
   * Writes the lines pushed so far to the journal, synchronously, and has
   * the disk keep them within a second: after this, a killed agent loses
   * none of them.
   */
  commit(): void {
    this.#writeAppends();
    if (this.#unsynced && Date.now() - this.#syncedAt >= SYNC_MS) {
      this.#sync();
    }
  }

  /** Lines not yet delivered (a journal backlog counts as one). */
  get pending(): number {
    return this.#memory.length - this.#head + (this.#backlog ? 1 : 0);
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
   * left stays in the journal for the next start (or is counted as dropped
   * without one).
   */
  async close(ms = 5_000): Promise<void> {
    this.#closing = true;
    this.#deadline = Date.now() + ms;
    this.#wakeClose?.();
    await this.#pump;
    if (!this.#journal) {
      this.stats.dropped += this.#memory.length - this.#head;
      this.#memory = [];
      return;
    }
    this.#writeAppends();
    this.#sync();
    const left = this.#linesFrom(this.#acked);
    this.#journal.close();
    this.#ack?.close();
    this.#journal = this.#ack = undefined;
    this.stats.spooled = left;
    const file = this.#options.spoolFile!;
    if (left === 0) {
      for (const path of [file, `${file}.ack`]) {
        try {
          Deno.removeSync(path);
        } catch { /* gone */ }
      }
      return;
    }
    this.#options.log?.(
      `${this.#options.label}: ${left} events not delivered, kept in ${file} for the next start`,
    );
  }

  #openJournal(path: string): void {
    try {
      Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || "/", {
        recursive: true,
      });
      this.#journal = Deno.openSync(path, {
        read: true,
        write: true,
        create: true,
      });
      this.#ack = Deno.openSync(`${path}.ack`, {
        read: true,
        write: true,
        create: true,
      });
      this.#size = this.#journal.statSync().size;
      const text = new Uint8Array(ACK_WIDTH);
      const got = this.#ack.readSync(text) ?? 0;
      const acked = Number.parseInt(decoder.decode(text.subarray(0, got)));
      this.#acked = Number.isSafeInteger(acked) && acked >= 0
        ? Math.min(acked, this.#size)
        : 0;
      // A line cut short by a crash mid-write is not a line: drop it.
      this.#size = this.#lastLineEnd();
      this.#journal.truncateSync(this.#size);
      if (this.#size > this.#acked) {
        this.#backlog = true;
        this.#readPos = this.#acked;
        this.#options.log?.(
          `${this.#options.label}: resending ${
            this.#size - this.#acked
          } bytes an earlier run did not deliver`,
        );
      }
    } catch (error) {
      this.#options.log?.(
        `${this.#options.label}: no spool (${
          (error as Error).message
        }); events beyond ${this.#options.memory} queued are dropped, and a killed agent loses those in memory`,
      );
      this.#journal?.close();
      this.#journal = this.#ack = undefined;
      this.#size = this.#acked = 0;
    }
  }

  /** The offset just past the journal's last newline. */
  #lastLineEnd(): number {
    const file = this.#journal!;
    let end = this.#size;
    const chunk = new Uint8Array(4096);
    while (end > this.#acked) {
      const start = Math.max(this.#acked, end - chunk.length);
      file.seekSync(start, Deno.SeekMode.Start);
      const got = file.readSync(chunk.subarray(0, end - start)) ?? 0;
      const newline = chunk.subarray(0, got).lastIndexOf(0x0a);
      if (newline !== -1) return start + newline + 1;
      end = start;
    }
    return this.#acked;
  }

  #writeAppends(): void {
    if (!this.#append.length || !this.#journal) return;
    const bytes = new Uint8Array(this.#appendBytes);
    let offset = 0;
    for (const part of this.#append) {
      bytes.set(part, offset);
      offset += part.length;
    }
    this.#append = [];
    this.#appendBytes = 0;
    this.#journal.seekSync(this.#size - bytes.length, Deno.SeekMode.Start);
    try {
      writeAllSync(this.#journal, bytes);
      this.#unsynced = true;
    } catch (error) {
      // What the disk did not take is lost: count it and go on from the
      // last whole line.
      const lost = countLines(bytes);
      this.stats.dropped += lost;
      this.#size -= bytes.length;
      this.#journal.truncateSync(this.#size);
      this.#forgetBeyond(this.#size);
      this.#options.log?.(
        `${this.#options.label}: journal write failed (${
          (error as Error).message
        }); ${lost} events dropped`,
      );
    }
  }

  /** Drops lines in memory that end beyond `end` (they are not on disk). */
  #forgetBeyond(end: number): void {
    while (
      this.#memory.length > this.#head && this.#ends.at(-1)! > end
    ) {
      this.#memory.pop();
      this.#ends.pop();
    }
    if (this.#backlog && this.#readPos >= end) this.#backlog = false;
  }

  #sync(): void {
    try {
      this.#journal?.syncDataSync();
    } catch { /* a journal that cannot sync still survives a killed agent */ }
    this.#unsynced = false;
    this.#syncedAt = Date.now();
  }

  #writeAck(): void {
    if (!this.#ack) return;
    const text = encoder.encode(
      String(this.#acked).padStart(ACK_WIDTH - 1) + "\n",
    );
    try {
      this.#ack.seekSync(0, Deno.SeekMode.Start);
      writeAllSync(this.#ack, text);
    } catch { /* resent after a restart: a duplicate, not a loss */ }
  }

  /** Whole lines of the journal from `offset` on. */
  #linesFrom(offset: number): number {
    let lines = 0;
    const chunk = new Uint8Array(SPOOL_CHUNK);
    const file = this.#journal!;
    file.seekSync(offset, Deno.SeekMode.Start);
    while (true) {
      const got = file.readSync(chunk);
      if (!got) break;
      lines += countLines(chunk.subarray(0, got));
    }
    return lines;
  }

  /** Whole lines from #readPos, up to about SPOOL_CHUNK bytes, into memory. */
  #refill(): void {
    if (!this.#journal || !this.#backlog) return;
    this.#writeAppends();
    const want = Math.min(this.#size - this.#readPos, SPOOL_CHUNK);
    if (want <= 0) {
      this.#backlog = false;
      return;
    }
    const buffer = new Uint8Array(want);
    this.#journal.seekSync(this.#readPos, Deno.SeekMode.Start);
    let got = 0;
    while (got < want) {
      const n = this.#journal.readSync(buffer.subarray(got));
      if (!n) break;
      got += n;
    }
    let start = 0;
    for (let i = 0; i < got; i++) {
      if (buffer[i] !== 0x0a) continue;
      if (i > start) {
        this.#memory.push(decoder.decode(buffer.subarray(start, i)));
        this.#ends.push(this.#readPos + i + 1);
      }
      start = i + 1;
    }
    this.#readPos += start;
    if (this.#readPos >= this.#size) this.#backlog = false;
  }

  /**
   * After a batch is done with (delivered, or refused for good): the ack,
   * and a fresh journal when everything is sent.
   */
  #delivered(count: number, delivered = true): void {
    if (delivered) this.stats.delivered += count;
    this.#head += count;
    if (!this.#journal) return;
    this.#acked = this.#ends[this.#head - 1];
    if (
      this.#acked === this.#size && this.#size >= COMPACT_BYTES &&
      !this.#backlog
    ) {
      this.#journal.truncateSync(0);
      this.#size = this.#acked = this.#readPos = 0;
      this.#memory = [];
      this.#ends = [];
      this.#head = 0;
    }
    this.#writeAck();
  }

  async #run(): Promise<void> {
    let backoff = this.#options.initialBackoffMs ?? 250;
    let failing = false;
    while (true) {
      if (this.#head >= this.#memory.length) {
        this.#memory = [];
        this.#ends = [];
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
      // A line goes out only once it is on disk.
      if (
        this.#journal &&
        this.#ends[this.#head + batch.length - 1] >
          this.#size - this.#appendBytes
      ) {
        this.#writeAppends();
      }
      try {
        await this.#options.send(batch);
        this.#delivered(batch.length);
        backoff = this.#options.initialBackoffMs ?? 250;
        if (failing) {
          failing = false;
          this.#options.log?.(`${this.#options.label}: delivering again`);
        }
      } catch (error) {
        if (error instanceof PermanentError) {
          this.stats.dropped += batch.length;
          this.#delivered(batch.length, false);
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

  /** Writes what was pushed so far to the journal (write-ahead). */
  commit(): void {
    this.queue.commit();
  }

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
