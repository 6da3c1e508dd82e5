/**
 * Reading BTF, the kernel's type format (Documentation/bpf/btf.rst): a
 * header, type records indexed by id, and a string section.
 *
 * @module
 */

/** `BTF_MAGIC`, the first u16 of a little-endian blob. */
export const BTF_MAGIC = 0xeb9f;
/** Size of `struct btf_header` (version 1). */
export const BTF_HEADER_SIZE = 24;

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

/**
 * BTF, an ELF object or a CO-RE relocation this code cannot read with
 * certainty: a cut-down BTF cannot then stand in for the kernel's.
 */
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
    if (bytes.length < BTF_HEADER_SIZE || (words[0] & 0xffff) !== BTF_MAGIC) {
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
