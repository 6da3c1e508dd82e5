/**
 * Decoded events per second out of a full ring buffer: ringfence's direct
 * reader against libbpf's ring_buffer__consume with a Deno.UnsafeCallback
 * per record (the baseline), both decoding every record, in the same run.
 *
 * The source is bpf/fixtures/bench_flood.bpf.o: every getppid() of this
 * process emits a burst of 64 process_event records.
 *
 * @module
 */

import { TimeFormatter } from "../sensors/event.ts";
import { BpfObject } from "../sensors/bpf_object.ts";
import { libbpf, mapLookup, mapUpdate } from "../sensors/libbpf.ts";
import { decodeProcessEvent } from "../sensors/process.ts";
import { RingBufferReader } from "../sensors/ringbuf.ts";

const ROOT = new URL("../", import.meta.url);

const extra = Deno.dlopen(
  "libbpf.so.1",
  {
    ring_buffer__new: {
      parameters: ["i32", "function", "pointer", "pointer"],
      result: "pointer",
    },
    ring_buffer__consume: { parameters: ["pointer"], result: "i32" },
    ring_buffer__free: { parameters: ["pointer"], result: "void" },
  } as const,
);
const libc = Deno.dlopen(
  "libc.so.6",
  {
    getppid: { parameters: [], result: "i32" },
  } as const,
);

/** The rates measured. */
export interface RingDecodeResult {
  records: number;
  directPerSecond: number;
  libbpfPerSecond: number;
}

function fill(lostFd: number): number {
  const key = new Uint8Array(4);
  const lost = new BigUint64Array(1);
  mapUpdate(lostFd, key, new Uint8Array(8));
  let calls = 0;
  // Until the ring refuses records: it is full.
  while (lost[0] === 0n && calls < 1_000_000) {
    for (let index = 0; index < 256; index++) libc.symbols.getppid();
    calls += 256;
    mapLookup(lostFd, key, new Uint8Array(lost.buffer));
  }
  return calls;
}

/** Runs the measurement, best of `rounds` for each consumer. */
export function ringDecode(rounds = 3): RingDecodeResult {
  libbpf();
  const bytes = Deno.readFileSync(
    new URL("bpf/build/fixtures/bench_flood.bpf.o", ROOT),
  );
  using object = BpfObject.open(bytes, "bench_flood");
  object.load();
  const events = object.map("events");
  mapUpdate(
    object.map("target").fd,
    new Uint8Array(4),
    new Uint8Array(new Uint32Array([Deno.pid]).buffer),
  );
  const lostFd = object.map("lost").fd;
  using _link = object.program("flood").attach();
  const time = new TimeFormatter();
  let records = 0, direct = 0, baseline = 0;

  for (let round = 0; round < rounds; round++) {
    fill(lostFd);
    using reader = new RingBufferReader(events.fd, events.maxEntries);
    let pids = 0;
    const start = performance.now();
    const count = reader.drain((view, offset) => {
      pids += decodeProcessEvent(view, offset, time).pid;
    });
    const seconds = (performance.now() - start) / 1000;
    if (pids === 0) throw new Error("no record decoded");
    records = count;
    direct = Math.max(direct, count / seconds);
  }

  for (let round = 0; round < rounds; round++) {
    fill(lostFd);
    let pids = 0;
    const callback = new Deno.UnsafeCallback(
      {
        parameters: ["pointer", "pointer", "usize"],
        result: "i32",
      } as const,
      (_context, data, size) => {
        const view = new DataView(
          Deno.UnsafePointerView.getArrayBuffer(data!, Number(size)),
        );
        pids += decodeProcessEvent(view, 0, time).pid;
        return 0;
      },
    );
    const ring = extra.symbols.ring_buffer__new(
      events.fd,
      callback.pointer,
      null,
      null,
    );
    if (!ring) throw new Error("ring_buffer__new failed");
    const start = performance.now();
    const count = extra.symbols.ring_buffer__consume(ring);
    const seconds = (performance.now() - start) / 1000;
    extra.symbols.ring_buffer__free(ring);
    callback.close();
    if (count <= 0 || pids === 0) throw new Error("no record consumed");
    baseline = Math.max(baseline, count / seconds);
  }
  return { records, directPerSecond: direct, libbpfPerSecond: baseline };
}
