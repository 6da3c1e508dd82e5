/**
 * The common header of every sensor record (bpf/lib/event.h) and the JSON
 * event fields built from it.
 *
 * @module
 */

import { bootToEpochOffsetNs } from "./libc.ts";
import { arrayLength, struct } from "./layout.ts";

/** `struct event_header`: the first bytes of every record. */
export const EVENT_HEADER = struct("event_header", 56, {
  type: [0, "u8"],
  kind: [1, "u8"],
  flags: [2, "u16"],
  tid: [4, "u32"],
  time_ns: [8, "u64"],
  pid: [16, "u32"],
  ppid: [20, "u32"],
  uid: [24, "u32"],
  gid: [28, "u32"],
  cgroup_id: [32, "u64"],
  comm: [40, ["char", 16]],
});

/** The fields every event carries, in the JSON-lines contract. */
export interface BaseEvent {
  /** "process_event", "network_event" or "file_system_event". */
  type: string;
  /** What happened, per type (e.g. "exec"). */
  kind: string;
  /** When, as ISO 8601 UTC with nanoseconds, e.g. 2026-11-25T06:12:00.123456789Z. */
  time: string;
  /** Process id (thread group id) in the initial pid namespace. */
  pid: number;
  /** The thread that caused the event. */
  tid: number;
  /** Parent's process id when the event happened. */
  ppid: number;
  /** Real user id. */
  uid: number;
  /** Real group id. */
  gid: number;
  /** The task's command name (at most 15 bytes). */
  comm: string;
  /** cgroup v2 id of the process. */
  cgroup_id: number;
  /** The CI step the process belongs to (agent/steps.ts), when known. */
  step?: { name: string; pid: number; action?: string; ci: string };
  /** The dependency whose install or build script the process descends
   * from (agent/dependencies.ts), when it does. */
  dependency?: Dependency;
}

/**
 * A package whose install script (npm/yarn/pnpm/bun lifecycle script,
 * pip/uv sdist build, cargo build script, gem native extension) a process
 * descends from.
 */
export interface Dependency {
  /** `npm` (also yarn, pnpm, bun), `pypi`, `cargo` or `gem`. */
  ecosystem: "npm" | "pypi" | "cargo" | "gem";
  /** The package's name, e.g. `left-pad` or `@scope/pkg`. */
  name: string;
  /** Its version, when known. */
  version?: string;
  /** The script: `preinstall`, `install`, `postinstall` (npm), `build`
   * (pip/uv sdist build backend), `build.rs` (cargo), `extconf` (gem). */
  script?: string;
  /** The package manager that ran it (`npm`, `yarn`, `pnpm`, `bun`,
   * `pip`, `uv`, `cargo`, `gem`). */
  manager?: string;
}

const T = EVENT_HEADER.fields;
const COMM_SIZE = arrayLength(EVENT_HEADER, "comm");
const textDecoder = new TextDecoder();
let bytesCache: { buffer: ArrayBufferLike; bytes: Uint8Array } | undefined;

/** A byte view over the same memory as `view` (cached per buffer). */
export function bytesOf(view: DataView): Uint8Array {
  if (bytesCache?.buffer !== view.buffer) {
    bytesCache = {
      buffer: view.buffer,
      bytes: new Uint8Array(view.buffer),
    };
  }
  return bytesCache.bytes;
}

/** Strings up to this many bytes are decoded in JavaScript: shorter than
 * what a TextDecoder call costs, and flat (V8 joins longer ones lazily). */
const SHORT_STRING = 12;
/** Interned strings: a direct-mapped table indexed by a hash of the bytes. */
const INTERN_SLOTS = 1024;
const INTERN_MAX = 256;
const interned: string[] = new Array(INTERN_SLOTS).fill("");
const FNV_BASIS = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/**
 * Reads a NUL-terminated string of at most `max` bytes. Plain ASCII, the
 * common case for comm and paths, skips the TextDecoder when short.
 * `intern`: for what repeats from record to record (comm, an executable's
 * path): the same bytes give the same string, allocated once.
 */
export function readCString(
  view: DataView,
  offset: number,
  max: number,
  intern = false,
): string {
  const bytes = bytesOf(view);
  let end = offset;
  let ascii = true;
  let hash = FNV_BASIS;
  const limit = offset + max;
  while (end < limit) {
    const byte = bytes[end];
    if (byte === 0) break;
    if (byte > 0x7f) ascii = false;
    hash = Math.imul(hash ^ byte, FNV_PRIME);
    end++;
  }
  const length = end - offset;
  if (!ascii) return textDecoder.decode(bytes.subarray(offset, end));
  if (!intern || length > INTERN_MAX) return latin1(bytes, offset, end);
  return internedLatin1(bytes, offset, end, hash);
}

/** ASCII bytes as a string from the intern table (`hash`: FNV-1a of them). */
function internedLatin1(
  bytes: Uint8Array,
  start: number,
  end: number,
  hash: number,
): string {
  const length = end - start;
  const slot = (hash >>> 0) & (INTERN_SLOTS - 1);
  const cached = interned[slot];
  if (cached.length === length) {
    let same = true;
    for (let index = 0; index < length; index++) {
      if (cached.charCodeAt(index) !== bytes[start + index]) {
        same = false;
        break;
      }
    }
    if (same) return cached;
  }
  return interned[slot] = latin1(bytes, start, end);
}

/** ASCII bytes as a flat string. */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  if (end - start > SHORT_STRING) {
    return textDecoder.decode(bytes.subarray(start, end));
  }
  let text = "";
  for (let index = start; index < end; index++) {
    text += String.fromCharCode(bytes[index]);
  }
  return text;
}

/**
 * Splits `length` bytes of NUL-separated strings (argv) into a list. The
 * words are interned: a build runs the same commands over and over.
 */
export function readStringList(
  view: DataView,
  offset: number,
  length: number,
): string[] {
  const bytes = bytesOf(view);
  const list: string[] = [];
  let start = offset;
  let ascii = true;
  let hash = FNV_BASIS;
  const end = offset + length;
  for (let index = offset; index < end; index++) {
    const byte = bytes[index];
    if (byte === 0) {
      list.push(word(bytes, start, index, ascii, hash));
      start = index + 1;
      ascii = true;
      hash = FNV_BASIS;
    } else {
      if (byte > 0x7f) ascii = false;
      hash = Math.imul(hash ^ byte, FNV_PRIME);
    }
  }
  if (start < end) list.push(word(bytes, start, end, ascii, hash));
  return list;
}

function word(
  bytes: Uint8Array,
  start: number,
  end: number,
  ascii: boolean,
  hash: number,
): string {
  if (!ascii) return textDecoder.decode(bytes.subarray(start, end));
  return end - start > INTERN_MAX
    ? latin1(bytes, start, end)
    : internedLatin1(bytes, start, end, hash);
}

/**
 * Turns the sensors' CLOCK_BOOTTIME nanoseconds into ISO 8601 strings. The
 * clock offset is read once; formatting reuses the text of the last second.
 */
export class TimeFormatter {
  readonly #offsetSeconds: number;
  readonly #offsetNanos: number;
  #second = -1;
  /** The text's character codes: the second's prefix, then `.`, the
   * nanoseconds' nine digits and `Z`; one flat string is made of them. */
  readonly #codes: number[] = new Array(30).fill(0x30);

  /** Reads the offset between the boot clock and the wall clock now. */
  constructor(offsetNs: bigint = bootToEpochOffsetNs()) {
    this.#offsetSeconds = Number(offsetNs / 1_000_000_000n);
    this.#offsetNanos = Number(offsetNs % 1_000_000_000n);
  }

  /**
   * Formats boot-clock nanoseconds given as two u32 halves (exact up to
   * 2^53 ns, 104 days of uptime; beyond that the last digits round).
   */
  format(high: number, low: number): string {
    const bootNs = high * 0x1_0000_0000 + low;
    const bootSeconds = Math.floor(bootNs / 1e9);
    let seconds = bootSeconds + this.#offsetSeconds;
    // bootNs % 1e9 without a floating-point remainder (a libm call).
    let nanos = (bootNs - bootSeconds * 1e9) + this.#offsetNanos;
    if (nanos >= 1e9) {
      nanos -= 1e9;
      seconds += 1;
    }
    const codes = this.#codes;
    if (seconds !== this.#second) {
      this.#second = seconds;
      const prefix = new Date(seconds * 1000).toISOString().slice(0, 19);
      for (let index = 0; index < 19; index++) {
        codes[index] = prefix.charCodeAt(index);
      }
      codes[19] = 0x2e; // .
      codes[29] = 0x5a; // Z
    }
    // Below 1e9: int32 arithmetic, no floating-point remainder.
    let rest = nanos | 0;
    for (let index = 28; index >= 20; index--) {
      const tens = (rest / 10) | 0;
      codes[index] = 0x30 + rest - tens * 10;
      rest = tens;
    }
    // One flat string, nothing else allocated: a template makes several,
    // joined lazily and flattened again by each comparison; a spread or
    // apply() copies the array.
    const c = codes;
    // deno-fmt-ignore
    return String.fromCharCode(
      c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7], c[8], c[9], c[10],
      c[11], c[12], c[13], c[14], c[15], c[16], c[17], c[18], c[19], c[20],
      c[21], c[22], c[23], c[24], c[25], c[26], c[27], c[28], c[29],
    );
  }
}

/** Decodes the common header at `offset` into the base event fields. */
export function decodeHeader(
  view: DataView,
  offset: number,
  type: string,
  kind: string,
  time: TimeFormatter,
): BaseEvent {
  return {
    type,
    kind,
    time: time.format(
      view.getUint32(offset + T.time_ns + 4, true),
      view.getUint32(offset + T.time_ns, true),
    ),
    pid: view.getUint32(offset + T.pid, true),
    tid: view.getUint32(offset + T.tid, true),
    ppid: view.getUint32(offset + T.ppid, true),
    uid: view.getUint32(offset + T.uid, true),
    gid: view.getUint32(offset + T.gid, true),
    comm: readCString(view, offset + T.comm, COMM_SIZE, true),
    cgroup_id: readU64(view, offset + T.cgroup_id),
  };
}

/**
 * A little-endian u64 as a number, rounded as `Number(bigint)` rounds
 * beyond 2^53, without making a bigint.
 */
export function readU64(view: DataView, offset: number): number {
  return view.getUint32(offset + 4, true) * 0x1_0000_0000 +
    view.getUint32(offset, true);
}

/** The header flags of a record. */
export function headerFlags(view: DataView, offset: number): number {
  return view.getUint16(offset + T.flags, true);
}
