/**
 * The kernel BTF that CO-RE needs, cut down to what the sensors relocate
 * against.
 *
 * Left alone, libbpf reads and indexes the kernel's whole BTF (about 6 MB,
 * 130,000 types) once per object, on every load: three times per start,
 * most of libbpf's share of the start-up time and of the peak memory. Given
 * `btf_custom_path`, it reads that file instead. This module reads the
 * kernel's BTF once and keeps, for every CO-RE relocation of the objects,
 * every kernel type whose name (without `___flavour`) is the relocation's
 * root name, with everything those types contain. libbpf therefore finds
 * the same candidates with the same members, offsets and sizes as in the
 * full BTF, and computes the same relocations. Only what a pointer points to
 * is dropped (it becomes `void *`): field relocations never look behind a
 * pointer, each dereference being a relocation of its own. Relocations that
 * compare whole types (type exists, size or matches) keep pointees too.
 *
 * Whenever that equivalence is not certain, {@linkcode minimalCoreBtf}
 * returns undefined and libbpf reads the kernel's BTF as before: a BTF kind
 * this code does not know, a relocation kind that needs the kernel's own
 * type ids, or a root name with no type in vmlinux (libbpf would look in
 * module BTF, which a custom BTF turns off).
 *
 * @module
 */

import {
  closeFd,
  cString,
  libc,
  O_CLOEXEC,
  O_RDONLY,
  PROT_READ,
} from "./libc.ts";
import { bootId } from "./boot.ts";

const BTF_MAGIC = 0xeb9f;
const HEADER_SIZE = 24;

/** BTF kinds (`BTF_KIND_*`). */
const Kind = {
  INT: 1,
  PTR: 2,
  ARRAY: 3,
  STRUCT: 4,
  UNION: 5,
  ENUM: 6,
  FWD: 7,
  TYPEDEF: 8,
  VOLATILE: 9,
  CONST: 10,
  RESTRICT: 11,
  FUNC: 12,
  FUNC_PROTO: 13,
  VAR: 14,
  DATASEC: 15,
  FLOAT: 16,
  DECL_TAG: 17,
  TYPE_TAG: 18,
  ENUM64: 19,
} as const;

/** `enum bpf_core_relo_kind`. */
const Relo = {
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  TYPE_MATCHES: 12,
} as const;

/** Why a minimal BTF cannot stand in for the kernel's. */
export class CoreBtfError extends Error {
  /** Builds the error from a one-line reason. */
  constructor(message: string) {
    super(message);
    this.name = "CoreBtfError";
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** A parsed BTF blob: type records indexed by id, strings by offset. */
export class Btf {
  readonly bytes: Uint8Array;
  /** The blob as u32 words (BTF records are 4-byte aligned). */
  readonly words: Uint32Array;
  readonly #strStart: number;
  readonly #strEnd: number;
  /** Word index of each type's record; index 0 is void (unused). */
  readonly offsets: Uint32Array;
  /** Record length of each type, in words. */
  readonly lengths: Uint32Array;

  /**
   * Indexes `bytes`.
   *
   * @throws {CoreBtfError} on a malformed blob or an unknown kind.
   */
  constructor(bytes: Uint8Array) {
    if (!LITTLE_ENDIAN) throw new CoreBtfError("big-endian host");
    // Typed-array word access needs 4-byte alignment.
    if (bytes.byteOffset % 4) bytes = bytes.slice();
    this.bytes = bytes;
    const words = new Uint32Array(
      bytes.buffer,
      bytes.byteOffset,
      bytes.length >>> 2,
    );
    this.words = words;
    if (bytes.length < HEADER_SIZE || (words[0] & 0xffff) !== BTF_MAGIC) {
      throw new CoreBtfError("not little-endian BTF");
    }
    const headerLength = words[1];
    const typeStart = headerLength + words[2];
    const typeLen = words[3];
    this.#strStart = headerLength + words[4];
    this.#strEnd = this.#strStart + words[5];
    const typeEnd = typeStart + typeLen;
    if (
      typeStart % 4 || typeLen % 4 || typeEnd > bytes.length ||
      this.#strEnd > bytes.length
    ) {
      throw new CoreBtfError("BTF sections misplaced");
    }
    // Every record is at least 3 words: this bounds the count.
    const offsets = new Uint32Array(1 + typeLen / 12);
    const lengths = new Uint32Array(offsets.length);
    let count = 1;
    const end = typeEnd >>> 2;
    // Table lookups rather than a call per record: this loop runs over
    // every kernel type once, before the JIT has warmed up.
    for (let at = typeStart >>> 2; at < end; count++) {
      const info = words[at + 1];
      const kind = (info >>> 24) & 0x1f;
      const fixed = FIXED_WORDS[kind];
      if (fixed === 0) throw new CoreBtfError(`unknown BTF kind ${kind}`);
      const length = fixed + (info & 0xffff) * MEMBER_WORDS[kind];
      offsets[count] = at;
      lengths[count] = length;
      at += length;
      if (at > end) throw new CoreBtfError("BTF type runs past its section");
    }
    this.offsets = offsets.subarray(0, count);
    this.lengths = lengths.subarray(0, count);
  }

  /** Number of type ids, void included. */
  get count(): number {
    return this.offsets.length;
  }

  /** The name offset of type `id`. */
  nameOffset(id: number): number {
    return this.words[this.offsets[id]];
  }

  /** Byte index in {@linkcode Btf.bytes} of the string at `offset`. */
  stringStart(offset: number): number {
    const start = this.#strStart + offset;
    if (offset < 0 || start >= this.#strEnd) {
      throw new CoreBtfError(`BTF string offset ${offset} out of range`);
    }
    return start;
  }

  /** The string at `offset` as bytes (without its NUL). */
  stringBytes(offset: number): Uint8Array {
    const start = this.stringStart(offset);
    const end = this.bytes.indexOf(0, start);
    return this.bytes.subarray(start, end < 0 ? this.#strEnd : end);
  }

  /**
   * Calls `visit` with the word index of every type id that type `id`
   * refers to; `pointee` says whether it is what a pointer points to.
   */
  references(
    id: number,
    visit: (at: number, pointee: boolean) => void,
  ): void {
    const at = this.offsets[id];
    const info = this.words[at + 1];
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    switch (kind) {
      case Kind.PTR:
        visit(at + 2, true);
        break;
      case Kind.TYPEDEF:
      case Kind.VOLATILE:
      case Kind.CONST:
      case Kind.RESTRICT:
      case Kind.FUNC:
      case Kind.VAR:
      case Kind.DECL_TAG:
      case Kind.TYPE_TAG:
        visit(at + 2, false);
        break;
      case Kind.ARRAY:
        visit(at + 3, false);
        visit(at + 4, false);
        break;
      case Kind.STRUCT:
      case Kind.UNION:
        for (let i = 0; i < vlen; i++) visit(at + 3 + i * 3 + 1, false);
        break;
      case Kind.FUNC_PROTO:
        visit(at + 2, false);
        for (let i = 0; i < vlen; i++) visit(at + 3 + i * 2 + 1, false);
        break;
      case Kind.DATASEC:
        for (let i = 0; i < vlen; i++) visit(at + 3 + i * 3, false);
        break;
    }
  }

  /** Calls `visit` with the word index of every name offset of type `id`. */
  names(id: number, visit: (at: number) => void): void {
    const at = this.offsets[id];
    visit(at);
    const info = this.words[at + 1];
    const kind = (info >>> 24) & 0x1f;
    const vlen = info & 0xffff;
    switch (kind) {
      case Kind.STRUCT:
      case Kind.UNION:
      case Kind.ENUM64:
        for (let i = 0; i < vlen; i++) visit(at + 3 + i * 3);
        break;
      case Kind.ENUM:
      case Kind.FUNC_PROTO:
        for (let i = 0; i < vlen; i++) visit(at + 3 + i * 2);
        break;
    }
  }
}

/** Words of a record of each kind before its members; 0: unknown kind. */
const FIXED_WORDS = new Uint8Array(32);
/** Words per member (`vlen`) of each kind. */
const MEMBER_WORDS = new Uint8Array(32);
for (
  const [kind, fixed, member] of [
    [Kind.INT, 4, 0],
    [Kind.PTR, 3, 0],
    [Kind.ARRAY, 6, 0],
    [Kind.STRUCT, 3, 3],
    [Kind.UNION, 3, 3],
    [Kind.ENUM, 3, 2],
    [Kind.FWD, 3, 0],
    [Kind.TYPEDEF, 3, 0],
    [Kind.VOLATILE, 3, 0],
    [Kind.CONST, 3, 0],
    [Kind.RESTRICT, 3, 0],
    [Kind.FUNC, 3, 0],
    [Kind.FUNC_PROTO, 3, 2],
    [Kind.VAR, 4, 0],
    [Kind.DATASEC, 3, 3],
    [Kind.FLOAT, 3, 0],
    [Kind.DECL_TAG, 4, 0],
    [Kind.TYPE_TAG, 3, 0],
    [Kind.ENUM64, 3, 3],
  ]
) {
  FIXED_WORDS[kind] = fixed;
  MEMBER_WORDS[kind] = member;
}

/**
 * The length of a name without its `___flavour` suffix, as libbpf's
 * `bpf_core_essential_name_len` computes it.
 */
export function essentialLength(name: Uint8Array): number {
  const UNDERSCORE = 0x5f;
  for (let i = name.length - 5; i >= 0; i--) {
    if (
      name[i] !== UNDERSCORE && name[i + 1] === UNDERSCORE &&
      name[i + 2] === UNDERSCORE && name[i + 3] === UNDERSCORE &&
      name[i + 4] !== UNDERSCORE
    ) return i + 1;
  }
  return name.length;
}

/** The sections of an ELF64 little-endian object, by name. */
export function elfSections(bytes: Uint8Array): Map<string, Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  if (
    bytes.length < 64 || view.getUint32(0, false) !== 0x7f454c46 ||
    bytes[4] !== 2 || bytes[5] !== 1
  ) {
    throw new CoreBtfError("not a 64-bit little-endian ELF object");
  }
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  if (shoff + shnum * shentsize > bytes.length || shstrndx >= shnum) {
    throw new CoreBtfError("ELF section headers out of range");
  }
  const header = (index: number) => {
    const at = shoff + index * shentsize;
    const offset = Number(view.getBigUint64(at + 0x18, true));
    const size = Number(view.getBigUint64(at + 0x20, true));
    if (offset + size > bytes.length) {
      throw new CoreBtfError("ELF section runs past the end");
    }
    return { name: view.getUint32(at, true), offset, size };
  };
  const names = header(shstrndx);
  const sections = new Map<string, Uint8Array>();
  const decoder = new TextDecoder();
  for (let index = 1; index < shnum; index++) {
    const { name, offset, size } = header(index);
    const start = names.offset + name;
    const end = bytes.indexOf(0, start);
    sections.set(
      decoder.decode(bytes.subarray(start, end)),
      bytes.subarray(offset, offset + size),
    );
  }
  return sections;
}

/** A name CO-RE looks up in the kernel's BTF, and how deep to keep it. */
export interface CoreRoot {
  /** Essential name (no `___flavour`). */
  name: string;
  /** Keep what pointers point to as well (whole-type comparisons). */
  pointees: boolean;
}

/**
 * The root type names an object's CO-RE relocations look up in the
 * kernel's BTF.
 *
 * @throws {CoreBtfError} when a relocation needs something a minimal BTF
 * cannot give (the kernel's own type ids), or the object cannot be read.
 */
export function coreRoots(object: Uint8Array): CoreRoot[] {
  const sections = elfSections(object);
  const btfBytes = sections.get(".BTF");
  const ext = sections.get(".BTF.ext");
  if (!btfBytes || !ext) return [];
  const btf = new Btf(btfBytes);
  const view = new DataView(ext.buffer, ext.byteOffset, ext.length);
  if (ext.length < 8 || view.getUint16(0, true) !== BTF_MAGIC) {
    throw new CoreBtfError("not little-endian .BTF.ext");
  }
  const headerLength = view.getUint32(4, true);
  if (headerLength < 32) return []; // no CO-RE relocation section
  const reloOff = headerLength + view.getUint32(24, true);
  const reloLen = view.getUint32(28, true);
  if (reloLen === 0) return [];
  if (reloOff + reloLen > ext.length) {
    throw new CoreBtfError(".BTF.ext relocations run past the end");
  }
  const recordSize = view.getUint32(reloOff, true);
  if (recordSize < 16) throw new CoreBtfError("CO-RE record too small");
  const roots = new Map<string, boolean>();
  const end = reloOff + reloLen;
  for (let at = reloOff + 4; at + 8 <= end;) {
    const count = view.getUint32(at + 4, true);
    at += 8;
    for (let i = 0; i < count; i++, at += recordSize) {
      if (at + 16 > end) {
        throw new CoreBtfError("CO-RE records run past the end");
      }
      const typeId = view.getUint32(at + 4, true);
      const kind = view.getUint32(at + 12, true);
      if (kind === Relo.TYPE_ID_LOCAL) continue;
      if (kind === Relo.TYPE_ID_TARGET || kind > Relo.TYPE_MATCHES) {
        throw new CoreBtfError(
          `CO-RE relocation kind ${kind} needs the full BTF`,
        );
      }
      if (typeId <= 0 || typeId >= btf.count) {
        throw new CoreBtfError(`CO-RE relocation of unknown type ${typeId}`);
      }
      const name = btf.stringBytes(btf.nameOffset(typeId));
      if (name.length === 0) {
        throw new CoreBtfError("CO-RE relocation of an anonymous type");
      }
      const essential = new TextDecoder().decode(
        name.subarray(0, essentialLength(name)),
      );
      const pointees = kind === Relo.TYPE_EXISTS ||
        kind === Relo.TYPE_SIZE || kind === Relo.TYPE_MATCHES;
      roots.set(essential, (roots.get(essential) ?? false) || pointees);
    }
  }
  return [...roots].map(([name, pointees]) => ({ name, pointees }));
}

/**
 * A BTF blob with every type of `kernel` named after one of `roots` and
 * what those types contain (see the module's description).
 *
 * @throws {CoreBtfError} when a root has no type in `kernel`.
 */
export function minimizeBtf(
  kernel: Btf,
  roots: readonly CoreRoot[],
): Uint8Array {
  const encoder = new TextEncoder();
  const wanted = roots.map((root) => ({
    bytes: encoder.encode(root.name),
    pointees: root.pointees,
    found: false,
  }));
  // Most of the 100,000-odd kernel type names are ruled out by a hash of
  // their first four bytes, the rest compared in place: one tight loop, no
  // call or allocation per type.
  const filter = new Uint8Array(65536);
  let anyShort = false;
  for (const { bytes } of wanted) {
    if (bytes.length < 4) anyShort = true;
    else filter[prefixHash(bytes, 0)] = 1;
  }
  // 0: not kept; 1: kept; 2: kept with pointees.
  const keep = new Uint8Array(kernel.count);
  const kept: number[] = [];
  const stack: number[] = [];
  const mark = (id: number, pointees: boolean) => {
    const level = pointees ? 2 : 1;
    if (id === 0 || keep[id] >= level) return;
    if (!keep[id]) kept.push(id);
    keep[id] = level;
    stack.push(id);
  };
  const { bytes, words, offsets } = kernel;
  const count = offsets.length;
  const strings = kernel.stringStart(0);
  const limit = bytes.length - 4;
  for (let id = 1; id < count; id++) {
    const nameOffset = words[offsets[id]];
    if (nameOffset === 0) continue;
    const start = strings + nameOffset;
    if (!anyShort && (start > limit || !filter[prefixHash(bytes, start)])) {
      continue;
    }
    for (const candidate of wanted) {
      if (!startsWith(bytes, start, candidate.bytes)) continue;
      const name = kernel.stringBytes(nameOffset);
      if (essentialLength(name) !== candidate.bytes.length) continue;
      candidate.found = true;
      mark(id, candidate.pointees);
    }
  }
  const missing = wanted.find((candidate) => !candidate.found);
  if (missing) {
    throw new CoreBtfError(
      `no kernel type named ${new TextDecoder().decode(missing.bytes)}`,
    );
  }
  while (stack.length) {
    const id = stack.pop()!;
    const pointees = keep[id] === 2;
    kernel.references(id, (at, pointee) => {
      if (!pointee || pointees) mark(words[at], pointees);
    });
  }
  return writeBtf(kernel, kept.sort((a, b) => a - b));
}

function prefixHash(bytes: Uint8Array, at: number): number {
  return ((bytes[at] | (bytes[at + 1] << 8)) ^
    ((bytes[at + 2] << 3) | (bytes[at + 3] << 10))) & 0xffff;
}

function startsWith(bytes: Uint8Array, at: number, prefix: Uint8Array) {
  for (let i = 0; i < prefix.length; i++) {
    if (bytes[at + i] !== prefix[i]) return false;
  }
  return true;
}

/** Writes the `kept` types (ascending ids) with ids and strings renumbered. */
function writeBtf(kernel: Btf, kept: readonly number[]): Uint8Array {
  const { words, offsets, lengths } = kernel;
  const newId = new Map<number, number>(
    kept.map((id, index) => [id, index + 1]),
  );
  let typeWords = 0;
  for (const id of kept) typeWords += lengths[id];
  const types = new Uint32Array(typeWords);
  const strings: number[] = [0];
  const stringOffsets = new Map<number, number>([[0, 0]]);
  const stringOffset = (old: number) => {
    let offset = stringOffsets.get(old);
    if (offset === undefined) {
      offset = strings.length;
      for (const byte of kernel.stringBytes(old)) strings.push(byte);
      strings.push(0);
      stringOffsets.set(old, offset);
    }
    return offset;
  };
  let out = 0;
  for (const id of kept) {
    const at = offsets[id];
    types.set(words.subarray(at, at + lengths[id]), out);
    const shift = out - at;
    kernel.references(id, (ref, pointee) => {
      const old = words[ref];
      const mapped = newId.get(old) ?? 0;
      if (old !== 0 && mapped === 0 && !pointee) {
        throw new CoreBtfError(`type ${id} refers to dropped type ${old}`);
      }
      types[ref + shift] = mapped;
    });
    kernel.names(id, (ref) => {
      types[ref + shift] = stringOffset(words[ref]);
    });
    out += lengths[id];
  }
  const typeBytes = types.length * 4;
  const blob = new Uint8Array(HEADER_SIZE + typeBytes + strings.length);
  const header = new Uint32Array(blob.buffer, 0, HEADER_SIZE / 4);
  header[0] = BTF_MAGIC | (1 << 16); // magic, version 1, flags 0
  header[1] = HEADER_SIZE;
  header[2] = 0; // type_off
  header[3] = typeBytes;
  header[4] = typeBytes; // str_off
  header[5] = strings.length;
  blob.set(new Uint8Array(types.buffer), HEADER_SIZE);
  blob.set(strings, HEADER_SIZE + typeBytes);
  return blob;
}

/** Where the kernel publishes its BTF. */
export const KERNEL_BTF = "/sys/kernel/btf/vmlinux";

/** Bytes to read and a function that releases them. */
export interface KernelBtf {
  bytes: Uint8Array;
  release(): void;
}

const MAP_PRIVATE = 2;

/**
 * The kernel's BTF. Mapped where the kernel allows it (6.16 and later):
 * sysfs hands the file out a page per read() otherwise, over a thousand
 * system calls for 6 MB. Read the usual way elsewhere.
 */
export function readKernelBtf(path: string = KERNEL_BTF): KernelBtf {
  const size = Deno.statSync(path).size;
  const fd = libc().open(cString(path), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && size > 0) {
    try {
      const address = libc().mmap(
        null,
        BigInt(size),
        PROT_READ,
        MAP_PRIVATE,
        fd,
        0n,
      );
      if (address && Deno.UnsafePointer.value(address) !== -1n) {
        const bytes = new Uint8Array(
          Deno.UnsafePointerView.getArrayBuffer(address, size),
        );
        return {
          bytes,
          release: () => void libc().munmap(address, BigInt(size)),
        };
      }
    } finally {
      closeFd(fd);
    }
  } else if (fd >= 0) closeFd(fd);
  return { bytes: Deno.readFileSync(path), release: () => {} };
}

/** The outcome of {@linkcode minimalCoreBtf}. */
export type MinimalCoreBtf =
  | { btf: Uint8Array; reason?: undefined }
  | { btf: undefined; reason: string };

/**
 * The kernel's BTF cut down to what `objects` relocate against, or
 * undefined when libbpf must read the kernel's own (see the module's
 * description); `reason` then says why.
 */
export function minimalCoreBtf(
  objects: readonly Uint8Array[],
  kernelBtf: () => KernelBtf = readKernelBtf,
): MinimalCoreBtf {
  let kernel: KernelBtf | undefined;
  try {
    const roots = new Map<string, boolean>();
    for (const object of objects) {
      for (const root of coreRoots(object)) {
        roots.set(root.name, (roots.get(root.name) ?? false) || root.pointees);
      }
    }
    if (roots.size === 0) {
      return { btf: undefined, reason: "no CO-RE relocations" };
    }
    kernel = kernelBtf();
    const list = [...roots].map(([name, pointees]) => ({ name, pointees }));
    return { btf: minimizeBtf(new Btf(kernel.bytes), list) };
  } catch (error) {
    return { btf: undefined, reason: (error as Error).message.split("\n")[0] };
  } finally {
    kernel?.release();
  }
}

/** Where {@linkcode cachedMinimalCoreBtf} keeps its result. */
export function coreBtfCacheDir(): string {
  return Deno.env.get("RINGFENCE_CACHE_DIR") || "/var/cache/ringfence";
}

/**
 * SHA-256 of the objects, by the runtime's native digest: a byte loop in
 * TypeScript over 300 KB would be hot enough for V8 to start its optimising
 * compiler, which alone put about 5 MB of the runtime's code in the agent's
 * RSS at every start.
 */
async function fingerprint(objects: readonly Uint8Array[]): Promise<string> {
  const lengths = new Uint32Array(objects.map((object) => object.length));
  const all = new Uint8Array(
    lengths.byteLength +
      objects.reduce((sum, object) => sum + object.length, 0),
  );
  all.set(new Uint8Array(lengths.buffer));
  let offset = lengths.byteLength;
  for (const object of objects) {
    all.set(object, offset);
    offset += object.length;
  }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return Array.from(
    digest.subarray(0, 8),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * {@linkcode minimalCoreBtf}, kept on disk for the rest of the boot (the
 * kernel's BTF cannot change before a reboot), keyed by the boot and the
 * objects: a later start of the same ringfence reads 30 KB instead of
 * cutting 6 MB down again. The cache is root's (mode 0700); a file that
 * does not load is no risk either, as a load that fails with the cut-down
 * BTF is retried with the kernel's own.
 */
export async function cachedMinimalCoreBtf(
  objects: readonly Uint8Array[],
  kernelBtf: () => KernelBtf = readKernelBtf,
  directory: string = coreBtfCacheDir(),
): Promise<MinimalCoreBtf & { cached?: boolean }> {
  const boot = bootId();
  const file = boot &&
    `${directory}/core-btf-${boot}-${await fingerprint(objects)}.btf`;
  if (file) {
    try {
      const btf = Deno.readFileSync(file);
      if (btf.length >= HEADER_SIZE) return { btf, cached: true };
    } catch { /* not cached yet */ }
  }
  const minimal = minimalCoreBtf(objects, kernelBtf);
  if (file && minimal.btf) {
    try {
      Deno.mkdirSync(directory, { recursive: true, mode: 0o700 });
      // Earlier boots' copies go; this boot keeps one per set of objects
      // (with and without the file sensor, say), 25 KB each.
      for (const entry of Deno.readDirSync(directory)) {
        if (
          entry.name.startsWith("core-btf-") &&
          !entry.name.startsWith(`core-btf-${boot}-`)
        ) Deno.removeSync(`${directory}/${entry.name}`);
      }
      const partial = `${file}.${Deno.pid}`;
      Deno.writeFileSync(partial, minimal.btf, { mode: 0o600 });
      Deno.renameSync(partial, file);
    } catch { /* a read-only disk: the next start cuts it down again */ }
  }
  return minimal;
}
