/**
 * Reads a BPF ring buffer (BPF_MAP_TYPE_RINGBUF) straight from its mapped
 * pages, without a libbpf callback per record, which makes it much faster
 * than `ring_buffer__poll` with a `Deno.UnsafeCallback`
 * (bench/ring_decode.ts measures both).
 *
 * Layout (kernel/bpf/ringbuf.c): page 0 holds the consumer position and is
 * mapped read-write; from page 1 on come the producer position page and then
 * the data area. The kernel offers the data area twice back to back (so that
 * libbpf never sees a record wrap), but every page mapped counts in the
 * process's RSS from the mmap on, so this reader maps it once and copies the
 * rare record whose body runs past the end into a scratch buffer. Each record
 * starts with an 8-byte header whose first u32 is the length with two flag
 * bits: still being written, and discarded; headers are 8-byte aligned, so a
 * header never straddles the end, only a body can.
 *
 * @module
 */

import {
  closeFd,
  EFD_CLOEXEC,
  EFD_NONBLOCK,
  errno,
  libc,
  MAP_SHARED,
  pageSize,
  POLLIN,
  PROT_READ,
  PROT_WRITE,
  strerror,
} from "./libc.ts";

const BUSY_BIT = 0x8000_0000;
const DISCARD_BIT = 0x4000_0000;
const LENGTH_MASK = 0x3fff_ffff;
const HEADER_SIZE = 8;
const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

/**
 * Called for each record: its bytes are `view` at `offset`, `length` long.
 * `view` is over the ring's pages, or over a scratch copy for a record that
 * wraps around the end of the ring; either way valid only during the call.
 */
export type RecordHandler = (
  view: DataView,
  offset: number,
  length: number,
) => void;

function mapPages(
  fd: number,
  length: number,
  protection: number,
  offset: number,
): Deno.PointerObject {
  const pointer = libc().mmap(
    null,
    BigInt(length),
    protection,
    MAP_SHARED,
    fd,
    BigInt(offset),
  );
  if (!pointer || Deno.UnsafePointer.value(pointer) === MAP_FAILED) {
    throw new Error(`mmap of ring buffer failed: ${strerror(errno())}`);
  }
  return pointer;
}

/**
 * A consumer of one ring buffer map. The records a drain hands out are only
 * valid during the handler call: copy what you keep.
 */
export class RingBufferReader implements Disposable {
  /** The ring buffer map's fd, to wait on with {@linkcode waitForData}. */
  readonly fd: number;
  /** Data area size in bytes (the map's max_entries). */
  readonly size: number;
  #consumerPage: Deno.PointerObject | null;
  #producerPages: Deno.PointerObject | null;
  #consumer: BigUint64Array;
  #producer: BigUint64Array;
  #words: Uint32Array;
  #bytes: Uint8Array;
  #view: DataView;
  #dataStart: number;
  #dataEnd: number;
  #mask: number;
  #position: number;
  /** The consumer position last stored for the kernel. */
  #published: number;
  #scratch = new Uint8Array(0);
  #scratchView = new DataView(this.#scratch.buffer);

  /**
   * Maps the ring buffer behind `fd`, whose data area is `size` bytes.
   *
   * @throws {Error} when the size is not a power of two or mmap fails.
   */
  constructor(fd: number, size: number) {
    if (size <= 0 || (size & (size - 1)) !== 0) {
      throw new Error(`ring buffer size ${size} is not a power of two`);
    }
    const page = pageSize();
    this.fd = fd;
    this.size = size;
    this.#consumerPage = mapPages(fd, page, PROT_READ | PROT_WRITE, 0);
    try {
      // The producer page and the data area, once (the kernel would allow
      // up to twice the data area: remap_vmalloc_range checks the length).
      this.#producerPages = mapPages(fd, page + size, PROT_READ, page);
    } catch (error) {
      libc().munmap(this.#consumerPage, BigInt(page));
      throw error;
    }
    this.#consumer = new BigUint64Array(
      Deno.UnsafePointerView.getArrayBuffer(this.#consumerPage, 8),
    );
    const pages = Deno.UnsafePointerView.getArrayBuffer(
      this.#producerPages,
      page + size,
    );
    this.#producer = new BigUint64Array(pages, 0, 1);
    this.#words = new Uint32Array(pages);
    this.#bytes = new Uint8Array(pages);
    this.#view = new DataView(pages);
    this.#dataStart = page;
    this.#dataEnd = page + size;
    this.#mask = size - 1;
    this.#position = Number(Atomics.load(this.#consumer, 0));
    this.#published = this.#position;
  }

  /** Bytes written by the kernel and not yet consumed. */
  get pending(): number {
    return this.produced - this.#position;
  }

  /**
   * The consumer position as the kernel sees it (whoever consumes: this
   * reader, or another process mapping the same ring).
   */
  get consumed(): number {
    return Number(Atomics.load(this.#consumer, 0));
  }

  /**
   * How many complete records wait to be read, without reading them (a
   * ring adopted from a dead agent holds what it had not read).
   */
  pendingRecords(): number {
    if (!this.#producerPages) throw new Error("ring buffer reader is closed");
    const producer = this.produced;
    let position = this.#position, count = 0;
    while (position < producer) {
      const offset = this.#dataStart + (position & this.#mask);
      const header = Atomics.load(this.#words, offset >> 2);
      if (header & BUSY_BIT) break;
      if (!(header & DISCARD_BIT)) count++;
      position += ((header & LENGTH_MASK) + HEADER_SIZE + 7) & ~7;
    }
    return count;
  }

  /**
   * Where the kernel's writing has got to: a drain given it as `end` reads
   * only the records reserved before now.
   */
  get produced(): number {
    return Number(Atomics.load(this.#producer, 0));
  }

  /**
   * Hands every complete record to `onRecord`, oldest first, and returns how
   * many it handed out: at most `limit`, and none reserved at or after the
   * producer position `end`. Stops at a record still being written.
   * `beforeCommit` runs before each move of the consumer position, which
   * gives the records' space back to the kernel: whoever keeps them writes
   * them out there. With `hold`, the space of the last records read is
   * kept until {@linkcode RingBufferReader.release} (a long drain still
   * gives back a quarter ring at a time).
   */
  drain(
    onRecord: RecordHandler,
    limit = Number.POSITIVE_INFINITY,
    end = Number.POSITIVE_INFINITY,
    beforeCommit?: () => void,
    hold = false,
  ): number {
    if (!this.#producerPages) throw new Error("ring buffer reader is closed");
    let position = this.#position;
    let published = this.#published;
    let producer = Math.min(Number(Atomics.load(this.#producer, 0)), end);
    let count = 0;
    // Publish progress a quarter ring at a time so the kernel can refill
    // while a long drain runs.
    const publishEvery = this.size >> 2;
    const dataEnd = this.#dataEnd;
    while (count < limit) {
      if (position >= producer) {
        producer = Math.min(Number(Atomics.load(this.#producer, 0)), end);
        if (position >= producer) break;
      }
      const offset = this.#dataStart + (position & this.#mask);
      const header = Atomics.load(this.#words, offset >> 2);
      if (header & BUSY_BIT) break;
      const length = header & LENGTH_MASK;
      position += (length + HEADER_SIZE + 7) & ~7;
      if (!(header & DISCARD_BIT)) {
        count++;
        let view = this.#view;
        let start = offset + HEADER_SIZE;
        if (start + length > dataEnd) {
          if (start === dataEnd) {
            // The header took the last 8 bytes: the body starts the ring.
            start = this.#dataStart;
          } else {
            view = this.#unwrap(start, length);
            start = 0;
          }
        }
        onRecord(view, start, length);
      }
      if (position - published >= publishEvery) {
        beforeCommit?.();
        Atomics.store(this.#consumer, 0, BigInt(position));
        published = position;
      }
    }
    this.#position = position;
    this.#published = published;
    if (!hold) this.release(beforeCommit);
    return count;
  }

  /**
   * Gives the space of the records read so far back to the kernel, after
   * `beforeCommit`: what a drain with `hold` kept.
   */
  release(beforeCommit?: () => void): void {
    if (this.#position === this.#published) return;
    beforeCommit?.();
    Atomics.store(this.#consumer, 0, BigInt(this.#position));
    this.#published = this.#position;
  }

  /**
   * Copies a record body that runs past the end of the data area, from
   * `start` to the end and then on from the start of the data area, into
   * the scratch buffer (grown to a power of two when too small).
   */
  #unwrap(start: number, length: number): DataView {
    if (this.#scratch.length < length) {
      let capacity = Math.max(this.#scratch.length, 256);
      while (capacity < length) capacity *= 2;
      this.#scratch = new Uint8Array(capacity);
      this.#scratchView = new DataView(this.#scratch.buffer);
    }
    const head = this.#dataEnd - start;
    this.#scratch.set(this.#bytes.subarray(start, this.#dataEnd), 0);
    this.#scratch.set(
      this.#bytes.subarray(this.#dataStart, this.#dataStart + length - head),
      head,
    );
    return this.#scratchView;
  }

  /** Unmaps the ring. Views handed out before must not be used after. */
  close(): void {
    if (!this.#producerPages || !this.#consumerPage) return;
    const page = pageSize();
    libc().munmap(this.#producerPages, BigInt(page + this.size));
    libc().munmap(this.#consumerPage, BigInt(page));
    this.#producerPages = null;
    this.#consumerPage = null;
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Wakes a pending {@linkcode waitForData} from the same process: an eventfd
 * that is polled together with the ring buffers.
 */
export class Wakeup implements Disposable {
  /** The eventfd. */
  readonly fd: number;

  /** Creates the eventfd. */
  constructor() {
    this.fd = libc().eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (this.fd < 0) throw new Error(`eventfd: ${strerror(errno())}`);
  }

  /** Makes the current or next wait return. */
  wake(): void {
    const one = new BigUint64Array([1n]);
    libc().write(this.fd, new Uint8Array(one.buffer), 8n);
  }

  /** Clears a wake-up so the next wait blocks again. */
  reset(): void {
    libc().read(this.fd, new Uint8Array(8), 8n);
  }

  /** Closes the eventfd. */
  close(): void {
    closeFd(this.fd);
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * How long the agent sleeps waiting for records at most. The sensors wake
 * it only once a batch has gathered (bpf/lib/ring.h), which spares the
 * traced processes a cross-CPU interrupt per record; a smaller batch is
 * read when this timeout ends, so this bounds how late an event is seen.
 */
export const RING_POLL_MS = 10;

/**
 * Waits on a worker thread until one of `fds` is readable or `timeoutMs`
 * passes (-1: forever), leaving Deno's event loop free meanwhile. Ring
 * buffer maps are readable while they hold unconsumed data.
 *
 * @returns the fds that are readable.
 */
export async function waitForData(
  fds: readonly number[],
  timeoutMs: number,
): Promise<number[]> {
  // struct pollfd { int fd; short events; short revents; }
  const pollfds = new Int32Array(fds.length * 2);
  fds.forEach((fd, index) => {
    pollfds[index * 2] = fd;
    pollfds[index * 2 + 1] = POLLIN;
  });
  const bytes = new Uint8Array(pollfds.buffer);
  const ready = await libc().poll_async(bytes, BigInt(fds.length), timeoutMs);
  if (ready < 0) {
    const code = errno();
    if (code === 4) return []; // EINTR: a signal arrived
    throw new Error(`poll: ${strerror(code)}`);
  }
  const revents = new Int16Array(pollfds.buffer);
  return fds.filter((_, index) => revents[index * 4 + 3] !== 0);
}
