/**
 * The codec for the C structs the sensors share with the kernel. A
 * {@linkcode StructLayout} mirrors one struct of `bpf/*.h`, field types
 * included, and tests/layout_test.ts holds each to the compiled objects'
 * BTF; {@linkcode encodeStruct} and {@linkcode decodeStruct} are the only
 * code that turns values into such bytes and back, so an offset or a size
 * is written down once.
 *
 * Integers are little-endian: the byte order of the x86_64 and arm64
 * runners the sensors are built for.
 *
 * @module
 */

/** A C integer type as BTF names its width and sign. */
export type IntType = "u8" | "u16" | "u32" | "u64" | "s32";

/**
 * A field's C type: an integer, an array (`["u16", 8]` is `__u16 x[8]`;
 * `char` arrays hold text) or a nested struct.
 */
export type FieldType =
  | IntType
  | readonly [IntType | "char", number]
  | StructLayout;

/** A C struct's layout: its size, and the offset and type of each field. */
export interface StructLayout {
  /** The C struct's name, as in BTF. */
  readonly name: string;
  /** sizeof(struct), in bytes. */
  readonly size: number;
  /** Field name → byte offset. */
  readonly fields: Readonly<Record<string, number>>;
  /** Field name → C type. */
  readonly types: Readonly<Record<string, FieldType>>;
}

/** A layout whose field names and types TypeScript knows. */
export interface Struct<M extends Members> extends StructLayout {
  /** Field name → byte offset. */
  readonly fields: { readonly [K in keyof M]: M[K][0] };
  /** Field name → C type. */
  readonly types: { readonly [K in keyof M]: M[K][1] };
}

/** A BPF map's key and value types, as its definition in bpf/ declares them. */
export interface MapLayout {
  /** The key's type. */
  readonly key: FieldType;
  /** The value's type (per CPU, for a per-CPU map). */
  readonly value: FieldType;
}

/** Field name → [offset, type], in declaration order. */
export type Members = Record<string, readonly [number, FieldType]>;

/**
 * Declares the layout of `struct name` (`size` bytes): each member is its
 * byte offset and C type, as in the header.
 */
export function struct<const M extends Members>(
  name: string,
  size: number,
  members: M,
): Struct<M> {
  const fields: Record<string, number> = {};
  const types: Record<string, FieldType> = {};
  for (const [field, [offset, type]] of Object.entries(members)) {
    fields[field] = offset;
    types[field] = type;
  }
  return { name, size, fields, types } as Struct<M>;
}

type InputOf<T> = T extends "u64" ? bigint | number
  : T extends IntType ? number
  : T extends readonly ["u8" | "char", number] ? Uint8Array | string
  : T extends readonly [IntType, number] ? readonly number[]
  : T extends StructLayout ? StructInput<T>
  : never;

type OutputOf<T> = T extends "u64" ? bigint
  : T extends IntType ? number
  : T extends readonly ["u8" | "char", number] ? Uint8Array
  : T extends readonly [IntType, number] ? number[]
  : T extends StructLayout ? StructOutput<T>
  : never;

/**
 * What {@linkcode encodeStruct} takes: any of the fields, the rest zero.
 * A byte or `char` array takes bytes or text (UTF-8); a shorter value is
 * zero-padded.
 */
export type StructInput<L extends StructLayout> = {
  readonly [K in keyof L["types"]]?: InputOf<L["types"][K]>;
};

/** What {@linkcode decodeStruct} gives: every field. */
export type StructOutput<L extends StructLayout> = {
  [K in keyof L["types"]]: OutputOf<L["types"][K]>;
};

const WIDTH: Readonly<Record<IntType | "char", number>> = {
  u8: 1,
  u16: 2,
  u32: 4,
  u64: 8,
  s32: 4,
  char: 1,
};

const textEncoder = new TextEncoder();

/**
 * The bytes of `layout` holding `values`.
 *
 * @throws {RangeError} for a field the struct lacks, an integer out of its
 *   type's range, or an array longer than the field.
 */
export function encodeStruct<L extends StructLayout>(
  layout: L,
  values: StructInput<L>,
): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(layout.size);
  writeStruct(new DataView(bytes.buffer), 0, layout, values);
  return bytes;
}

/** Reads `layout` at `offset` of `bytes`. */
export function decodeStruct<L extends StructLayout>(
  layout: L,
  bytes: Uint8Array,
  offset = 0,
): StructOutput<L> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return readStruct(view, offset, layout) as StructOutput<L>;
}

/** The number of elements of an array field (e.g. the 8 of `ports[8]`). */
export function arrayLength<L extends StructLayout>(
  layout: L,
  field: keyof L["types"] & string,
): number {
  const type = layout.types[field];
  if (!Array.isArray(type)) {
    throw new TypeError(`${layout.name}.${field} is not an array`);
  }
  return type[1];
}

/** sizeof a field type, in bytes. */
export function sizeOf(type: FieldType): number {
  if (typeof type === "string") return WIDTH[type];
  if (isArray(type)) return WIDTH[type[0]] * type[1];
  return (type as StructLayout).size;
}

/** The bytes of one integer: a map key or value that is not a struct. */
export function encodeInt(
  type: IntType,
  value: number | bigint,
): Uint8Array<ArrayBuffer> {
  const bytes = new Uint8Array(WIDTH[type]);
  writeInt(new DataView(bytes.buffer), 0, type, value, type);
  return bytes;
}

/** Reads one integer at `offset` of `bytes`. */
export function decodeInt(
  type: "u64",
  bytes: Uint8Array,
  offset?: number,
): bigint;
/** Reads one integer at `offset` of `bytes`. */
export function decodeInt(
  type: Exclude<IntType, "u64">,
  bytes: Uint8Array,
  offset?: number,
): number;
export function decodeInt(
  type: IntType,
  bytes: Uint8Array,
  offset = 0,
): number | bigint {
  return readInt(
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength),
    offset,
    type,
  );
}

/**
 * The names of a C enum's table indexed by value, for decoding a byte
 * of a record: `["", "connect", "send"]` for `{ connect: 1, send: 2 }`.
 */
export function namesByValue<K extends string>(
  table: Readonly<Record<K, number>>,
): ("" | K)[] {
  const names: ("" | K)[] = [];
  for (const [name, value] of Object.entries(table) as [K, number][]) {
    while (names.length <= value) names.push("");
    names[value] = name;
  }
  return names;
}

function writeStruct(
  view: DataView,
  base: number,
  layout: StructLayout,
  values: Readonly<Record<string, unknown>>,
): void {
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined) continue;
    const type = layout.types[field];
    if (type === undefined) {
      throw new RangeError(`struct ${layout.name} has no field ${field}`);
    }
    const where = `${layout.name}.${field}`;
    const offset = base + layout.fields[field];
    if (typeof type === "string") {
      writeInt(view, offset, type, value as number | bigint, where);
    } else if (isArray(type)) {
      writeArray(view, offset, type, value, where);
    } else {
      writeStruct(view, offset, type, value as Record<string, unknown>);
    }
  }
}

function writeArray(
  view: DataView,
  offset: number,
  [element, length]: readonly [IntType | "char", number],
  value: unknown,
  where: string,
): void {
  if (element === "u8" || element === "char") {
    const bytes = typeof value === "string"
      ? textEncoder.encode(value)
      : value as Uint8Array;
    if (bytes.length > length) {
      throw new RangeError(
        `${where}: ${bytes.length} bytes do not fit in ${length}`,
      );
    }
    new Uint8Array(view.buffer, view.byteOffset + offset, length).set(bytes);
    return;
  }
  const list = value as readonly number[];
  if (list.length > length) {
    throw new RangeError(
      `${where}: ${list.length} elements do not fit in ${length}`,
    );
  }
  list.forEach((item, index) =>
    writeInt(view, offset + index * WIDTH[element], element, item, where)
  );
}

function writeInt(
  view: DataView,
  offset: number,
  type: IntType,
  value: number | bigint,
  where: string,
): void {
  if (type === "u64") {
    const big = BigInt(value);
    if (big < 0n || big >= 1n << 64n) {
      throw new RangeError(`${where}: ${value} is not a u64`);
    }
    view.setBigUint64(offset, big, true);
    return;
  }
  const bits = 8 * WIDTH[type];
  const [min, max] = type === "s32" ? [-(2 ** 31), 2 ** 31 - 1] : [
    0,
    2 ** bits - 1,
  ];
  if (
    typeof value !== "number" || !Number.isInteger(value) || value < min ||
    value > max
  ) {
    throw new RangeError(`${where}: ${value} is not a ${type}`);
  }
  if (type === "u8") view.setUint8(offset, value);
  else if (type === "u16") view.setUint16(offset, value, true);
  else if (type === "u32") view.setUint32(offset, value, true);
  else view.setInt32(offset, value, true);
}

function readStruct(
  view: DataView,
  base: number,
  layout: StructLayout,
): Record<string, unknown> {
  const values: Record<string, unknown> = {};
  for (const [field, type] of Object.entries(layout.types)) {
    const offset = base + layout.fields[field];
    if (typeof type === "string") values[field] = readInt(view, offset, type);
    else if (isArray(type)) {
      const [element, length] = type;
      values[field] = element === "u8" || element === "char"
        ? new Uint8Array(view.buffer, view.byteOffset + offset, length).slice()
        : Array.from(
          { length },
          (_, index) => readInt(view, offset + index * WIDTH[element], element),
        );
    } else values[field] = readStruct(view, offset, type);
  }
  return values;
}

function readInt(view: DataView, offset: number, type: IntType) {
  switch (type) {
    case "u8":
      return view.getUint8(offset);
    case "u16":
      return view.getUint16(offset, true);
    case "u32":
      return view.getUint32(offset, true);
    case "s32":
      return view.getInt32(offset, true);
    case "u64":
      return view.getBigUint64(offset, true);
  }
}

function isArray(
  type: FieldType,
): type is readonly [IntType | "char", number] {
  return Array.isArray(type);
}
