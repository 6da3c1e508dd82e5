import assert from "node:assert/strict";
import { BpfObject } from "../sensors/bpf_object.ts";
import { mapLookup, mapUpdate } from "../sensors/libbpf.ts";
import { pageSize } from "../sensors/libc.ts";
import { RingBufferReader } from "../sensors/ringbuf.ts";
import { random, thisThread, trigger } from "./helpers/fixture.ts";
import { kernelTest, ROOT } from "./helpers/kernel.ts";

// bpf/fixtures/ring_records.bpf.c: struct staging { u32 size; u32 discard;
// u8 data[RECORD_MAX]; }, emitted by each getppid() of the target thread.
const RECORD_MAX = 2048;
const DISCARD_SIZE = 100;
const HEADER_SIZE = 8;

/** Bytes the ring takes for a record of `length` bytes: header, padding. */
const footprint = (length: number) => (length + HEADER_SIZE + 7) & ~7;

/** Bytes of this process's mappings of BPF maps (/proc/self/maps). */
function bpfMapBytes(): number {
  let total = 0;
  for (const line of Deno.readTextFileSync("/proc/self/maps").split("\n")) {
    if (!line.includes("bpf-map")) continue;
    const [start, end] = line.split(" ")[0].split("-");
    total += parseInt(end, 16) - parseInt(start, 16);
  }
  return total;
}

/**
 * The ring_records fixture loaded with a ring of `size` bytes, emitting for
 * this thread's getppid().
 */
async function ringRecords(size: number): Promise<BpfObject> {
  const bytes = await Deno.readFile(
    `${ROOT}bpf/build/fixtures/ring_records.bpf.o`,
  );
  const object = BpfObject.open(bytes, "ring_records");
  try {
    object.map("events").setMaxEntries(size);
    object.load();
    mapUpdate(
      object.map("target").fd,
      new Uint8Array(4),
      new Uint8Array(new Uint32Array([thisThread()]).buffer),
    );
    return object;
  } catch (error) {
    object.close();
    throw error;
  }
}

kernelTest(
  "RingBufferReader maps the data area once and decodes records that wrap around its end intact",
  async () => {
    const page = pageSize();
    using object = await ringRecords(page);
    const events = object.map("events");
    const size = events.maxEntries;
    assert.equal(size, page);
    const zero = new Uint8Array(4);
    const stagingFd = object.map("staging").fd;
    const staging = new Uint8Array(8 + RECORD_MAX);
    const stagingView = new DataView(staging.buffer);
    using _link = object.program("emit").attach();

    const mappedBefore = bpfMapBytes();
    using reader = new RingBufferReader(events.fd, size);
    // The consumer page, then the producer page and the data area once.
    assert.equal(bpfMapBytes() - mappedBefore, page + page + size);

    const next = random(0x5eed);
    let position = 0; // the producer position, as the kernel will have it
    let pending = 0; // bytes produced and not yet drained
    let sequence = 0;
    const expected: Uint8Array[] = [];
    // After each emission: the producer position, and the records so far.
    const cuts: { position: number; records: number }[] = [];
    const seen = {
      wrapped: 0,
      headerLast: 0,
      endsAtEnd: 0,
      discarded: 0,
      cut: 0,
    };

    /** Makes the fixture emit `length` bytes, or a discarded reservation. */
    const emit = (length: number | "discard") => {
      const discard = length === "discard";
      const body = discard ? DISCARD_SIZE : length;
      const offset = position % size;
      if (discard) {
        seen.discarded++;
      } else {
        // A sequence number, then bytes that depend on it and their index.
        const record = new Uint8Array(length);
        for (let index = 0; index < length; index++) {
          record[index] = (sequence * 31 + index * 7 + (index >> 8)) & 0xff;
        }
        if (length >= 4) {
          new DataView(record.buffer).setUint32(0, sequence, true);
        }
        sequence++;
        expected.push(record);
        staging.set(record, 8);
        if (offset + HEADER_SIZE === size && length > 0) seen.headerLast++;
        else if (offset + HEADER_SIZE + length > size) seen.wrapped++;
        if (offset + HEADER_SIZE + length === size) seen.endsAtEnd++;
      }
      stagingView.setUint32(0, discard ? 0 : length, true);
      stagingView.setUint32(4, discard ? 1 : 0, true);
      mapUpdate(stagingFd, zero, staging);
      trigger();
      position += footprint(body);
      pending += footprint(body);
      cuts.push({ position, records: expected.length });
    };

    /**
     * Drains and checks every record against what was emitted, in order;
     * every other time, first only up to a producer position in between.
     */
    const drain = () => {
      let index = 0;
      const check = (view: DataView, offset: number, length: number) => {
        const want = expected[index++];
        assert.ok(want, "a record that was not emitted");
        assert.equal(length, want.length, `record ${index - 1}: length`);
        const got = new Uint8Array(
          view.buffer,
          view.byteOffset + offset,
          length,
        );
        assert.deepEqual(got, want, `record ${index - 1}: bytes`);
      };
      let drained = 0;
      if (cuts.length >= 2 && next(2) === 0) {
        const cut = cuts[next(cuts.length - 1)];
        drained = reader.drain(check, undefined, cut.position);
        assert.equal(drained, cut.records, "records before the cut");
        assert.equal(reader.pending, position - cut.position);
        seen.cut++;
      }
      drained += reader.drain(check);
      assert.equal(drained, expected.length);
      assert.equal(reader.pending, 0);
      expected.length = 0;
      cuts.length = 0;
      pending = 0;
    };

    /** Whether `length` more bytes fit (the kernel keeps 8 bytes free). */
    const fits = (length: number) => pending + footprint(length) <= size - 8;

    for (let round = 0; round < 400; round++) {
      // Aim some records at the end: one that ends exactly there, one whose
      // header takes the last 8 bytes, one that straddles by a few bytes.
      const offset = position % size;
      const toEnd = size - offset - HEADER_SIZE;
      const aimed = [toEnd, toEnd - HEADER_SIZE, toEnd + 1 + next(300)]
        .filter((length) => length >= 0 && length <= RECORD_MAX);
      const aim = round % 4 === 0 ? aimed[next(aimed.length)] : undefined;
      if (aim !== undefined && fits(aim)) emit(aim);
      // Then random sizes (odd ones too, for padding) until the ring is full
      // or a drain is due.
      const batch = 1 + next(12);
      for (let count = 0; count < batch; count++) {
        const length = next(8) === 0
          ? "discard"
          : next(4) === 0
          ? next(16)
          : next(RECORD_MAX / 2);
        if (!fits(length === "discard" ? DISCARD_SIZE : length)) break;
        emit(length);
      }
      drain();
    }

    const lost = new BigUint64Array(1);
    mapLookup(object.map("lost").fd, zero, new Uint8Array(lost.buffer));
    assert.equal(lost[0], 0n, "records the fixture could not emit");
    assert.ok(position > 50 * size, `only ${position / size} laps`);
    assert.ok(seen.wrapped >= 20, `${seen.wrapped} records wrapped`);
    assert.ok(seen.headerLast >= 5, `${seen.headerLast} headers at the end`);
    assert.ok(
      seen.endsAtEnd >= 5,
      `${seen.endsAtEnd} records ended at the end`,
    );
    assert.ok(seen.discarded >= 20, `${seen.discarded} discarded`);
    assert.ok(seen.cut >= 100, `${seen.cut} drains to a cut`);
  },
);

kernelTest(
  "RingBufferReader hands out the ring's own view for a record that does not wrap",
  async () => {
    const page = pageSize();
    using object = await ringRecords(page);
    const events = object.map("events");
    const zero = new Uint8Array(4);
    const staging = new Uint8Array(8 + RECORD_MAX);
    using _link = object.program("emit").attach();
    using reader = new RingBufferReader(events.fd, page);

    // Three records of a third of the ring: the third one wraps.
    const length = Math.floor(page / 3);
    new DataView(staging.buffer).setUint32(0, length, true);
    const views: { buffer: ArrayBufferLike; offset: number }[] = [];
    for (let round = 0; round < 3; round++) {
      staging.fill(round + 1, 8);
      mapUpdate(object.map("staging").fd, zero, staging);
      trigger();
      assert.equal(
        reader.drain((view, offset, got) => {
          assert.equal(got, length);
          const body = new Uint8Array(
            view.buffer,
            view.byteOffset + offset,
            got,
          );
          assert.ok(body.every((byte) => byte === round + 1));
          views.push({ buffer: view.buffer, offset });
        }),
        1,
      );
    }
    assert.equal(views[0].buffer, views[1].buffer, "no copy");
    assert.equal(views[0].offset, page + HEADER_SIZE);
    assert.notEqual(views[2].buffer, views[0].buffer, "a copy");
    assert.equal(views[2].offset, 0);
  },
);
