/**
 * Reads struct layouts and enums from a compiled object's BTF (through
 * bpftool) so that tests can hold the TypeScript codecs and tables to the
 * C headers.
 *
 * @module
 */

import assert from "node:assert/strict";
import type {
  FieldType,
  MapLayout,
  StructLayout,
} from "../../sensors/layout.ts";

interface BtfType {
  id: number;
  kind: string;
  name?: string;
  size?: number;
  type_id?: number;
  nr_elems?: number;
  encoding?: string;
  members?: { name: string; type_id: number; bits_offset: number }[];
  values?: { name: string; val: number }[];
  vars?: { type_id: number }[];
}

const dumps = new Map<string, Promise<BtfType[]>>();

/** Every BTF type of `objectPath`, read once per object. */
function btfTypes(objectPath: string): Promise<BtfType[]> {
  let types = dumps.get(objectPath);
  if (!types) {
    types = dumpBtf(objectPath);
    dumps.set(objectPath, types);
  }
  return types;
}

async function dumpBtf(objectPath: string): Promise<BtfType[]> {
  const output = await new Deno.Command("bpftool", {
    args: ["-j", "btf", "dump", "file", objectPath],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `bpftool btf dump ${objectPath}: ${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  return (JSON.parse(new TextDecoder().decode(output.stdout)) as {
    types: BtfType[];
  }).types;
}

/** A struct as BTF has it: size, field offsets and field types. */
export interface BtfStruct {
  size: number;
  fields: Record<string, number>;
  types: Record<string, string>;
}

/** A BTF type in the notation of {@linkcode describeField}. */
function describeType(byId: Map<number, BtfType>, id: number): string {
  const type = byId.get(id)!;
  switch (type.kind) {
    case "TYPEDEF":
    case "CONST":
    case "VOLATILE":
      return describeType(byId, type.type_id!);
    case "INT":
      if (type.name === "char") return "char";
      return `${type.encoding === "SIGNED" ? "s" : "u"}${8 * type.size!}`;
    case "ARRAY":
      return `${describeType(byId, type.type_id!)}[${type.nr_elems}]`;
    case "STRUCT":
      return `struct ${type.name}`;
    default:
      return type.kind.toLowerCase();
  }
}

/** The struct named `name` in `objectPath`'s BTF. */
export async function btfStruct(
  objectPath: string,
  name: string,
): Promise<BtfStruct> {
  const types = await btfTypes(objectPath);
  const byId = new Map(types.map((type) => [type.id, type]));
  const struct = types.find((type) =>
    type.kind === "STRUCT" && type.name === name
  );
  if (!struct) throw new Error(`${objectPath}: no struct ${name} in BTF`);
  return {
    size: struct.size!,
    fields: Object.fromEntries(
      struct.members!.map((member) => [member.name, member.bits_offset / 8]),
    ),
    types: Object.fromEntries(
      struct.members!.map((
        member,
      ) => [member.name, describeType(byId, member.type_id)]),
    ),
  };
}

/**
 * The key and value types of the map `name` in `objectPath`'s BTF: the
 * `__type(key, ...)` and `__type(value, ...)` of its definition.
 */
export async function btfMap(
  objectPath: string,
  name: string,
): Promise<{ key: string; value: string }> {
  const types = await btfTypes(objectPath);
  const byId = new Map(types.map((type) => [type.id, type]));
  const maps = types.find((type) =>
    type.kind === "DATASEC" && type.name === ".maps"
  );
  const variable = (maps?.vars ?? []).map(({ type_id }) => byId.get(type_id)!)
    .find((type) => type.name === name);
  if (!variable) throw new Error(`${objectPath}: no map ${name} in BTF`);
  const definition = byId.get(variable.type_id!)!;
  const member = (field: string) => {
    const found = definition.members!.find((member) => member.name === field);
    if (!found) throw new Error(`${objectPath}: map ${name} has no ${field}`);
    // __type(key, T) declares `typeof(T) *key`.
    return describeType(byId, byId.get(found.type_id)!.type_id!);
  };
  return { key: member("key"), value: member("value") };
}

/** The `max_entries` of the map `name` in `objectPath`'s BTF. */
export async function btfMapMaxEntries(
  objectPath: string,
  name: string,
): Promise<number> {
  const types = await btfTypes(objectPath);
  const byId = new Map(types.map((type) => [type.id, type]));
  const maps = types.find((type) =>
    type.kind === "DATASEC" && type.name === ".maps"
  );
  const variable = (maps?.vars ?? []).map(({ type_id }) => byId.get(type_id)!)
    .find((type) => type.name === name);
  if (!variable) throw new Error(`${objectPath}: no map ${name} in BTF`);
  const member = byId.get(variable.type_id!)!.members!.find((member) =>
    member.name === "max_entries"
  );
  if (!member) throw new Error(`${objectPath}: map ${name} has no max_entries`);
  // __uint(max_entries, N) declares `int (*max_entries)[N]`.
  return byId.get(byId.get(member.type_id)!.type_id!)!.nr_elems!;
}

/** A layout's field type in the notation of {@linkcode btfStruct}. */
function describeField(type: FieldType): string {
  if (typeof type === "string") return type;
  if (Array.isArray(type)) return `${type[0]}[${type[1]}]`;
  return `struct ${(type as StructLayout).name}`;
}

/** Fails when `layout` differs from the struct of the same name in BTF. */
export async function assertLayoutMatchesBtf(
  objectPath: string,
  layout: StructLayout,
): Promise<void> {
  const btf = await btfStruct(objectPath, layout.name);
  assert.deepEqual(
    {
      size: layout.size,
      fields: layout.fields,
      types: Object.fromEntries(
        Object.entries(layout.types).map((
          [field, type],
        ) => [field, describeField(type)]),
      ),
    },
    btf,
    `struct ${layout.name}: the TypeScript layout drifted from ${objectPath}`,
  );
}

/** The enum named `name` in `objectPath`'s BTF: member → value. */
export async function btfEnum(
  objectPath: string,
  name: string,
): Promise<Record<string, number>> {
  const found = (await btfTypes(objectPath)).find((type) =>
    (type.kind === "ENUM" || type.kind === "ENUM64") && type.name === name
  );
  if (!found) {
    throw new Error(
      `${objectPath}: no enum ${name} in BTF (is it kept with BTF_KEEP_ENUM?)`,
    );
  }
  return Object.fromEntries(found.values!.map(({ name, val }) => [name, val]));
}

/**
 * Fails when `table` differs from `enum name` in BTF. A key of the table
 * names the C member with `prefix` before it, in upper snake case
 * (`scopeFull` with prefix `STAT_` is `STAT_SCOPE_FULL`); C members listed
 * in `bounds` (e.g. a `_MAX`) are not values and are left out.
 */
export async function assertEnumMatchesBtf(
  objectPath: string,
  name: string,
  prefix: string,
  table: Readonly<Record<string, number>>,
  bounds: readonly string[] = [],
): Promise<void> {
  const btf = await btfEnum(objectPath, name);
  for (const bound of bounds) delete btf[bound];
  const ours = Object.fromEntries(
    Object.entries(table).map(([key, value]) => [
      prefix + key.replace(/([a-z0-9])([A-Z])/g, "$1_$2").toUpperCase(),
      value,
    ]),
  );
  assert.deepEqual(
    ours,
    btf,
    `enum ${name}: the TypeScript table drifted from ${objectPath}`,
  );
}

/** Fails when the map `name` holds other types than `layout` says. */
export async function assertMapMatchesBtf(
  objectPath: string,
  name: string,
  layout: MapLayout,
): Promise<void> {
  assert.deepEqual(
    { key: describeField(layout.key), value: describeField(layout.value) },
    await btfMap(objectPath, name),
    `map ${name}: the TypeScript key or value drifted from ${objectPath}`,
  );
}
