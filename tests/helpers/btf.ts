/**
 * Reads struct layouts from a compiled object's BTF (through bpftool) so
 * that tests can hold the TypeScript decoders to the C headers.
 *
 * @module
 */

import assert from "node:assert/strict";
import type { StructLayout } from "../../sensors/event.ts";

interface BtfMember {
  name: string;
  bits_offset: number;
}

interface BtfType {
  kind: string;
  name?: string;
  size?: number;
  members?: BtfMember[];
}

/** The struct named `name` in `objectPath`'s BTF: its size and offsets. */
export async function btfStruct(
  objectPath: string,
  name: string,
): Promise<{ size: number; fields: Record<string, number> }> {
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
  const { types } = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    types: BtfType[];
  };
  const struct = types.find((type) =>
    type.kind === "STRUCT" && type.name === name
  );
  if (!struct) throw new Error(`${objectPath}: no struct ${name} in BTF`);
  return {
    size: struct.size!,
    fields: Object.fromEntries(
      struct.members!.map((member) => [member.name, member.bits_offset / 8]),
    ),
  };
}

/** Fails when `layout` differs from the struct of the same name in BTF. */
export async function assertLayoutMatchesBtf(
  objectPath: string,
  layout: StructLayout,
): Promise<void> {
  const btf = await btfStruct(objectPath, layout.name);
  assert.deepEqual(
    { size: layout.size, fields: layout.fields },
    btf,
    `struct ${layout.name}: the TypeScript layout drifted from ${objectPath}`,
  );
}
