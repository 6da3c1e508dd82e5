/**
 * The kernel types an object's CO-RE relocations look up, read from its
 * `.BTF.ext` section (Documentation/bpf/btf.rst, "BTF Ext Section";
 * libbpf's `struct bpf_core_relo`).
 *
 * @module
 */

import { Btf, BTF_MAGIC, CoreBtfError, essentialLength } from "./btf.ts";
import { elfSections } from "./elf.ts";

/** `enum bpf_core_relo_kind`. */
const Relo = {
  TYPE_ID_LOCAL: 6,
  TYPE_ID_TARGET: 7,
  TYPE_EXISTS: 8,
  TYPE_SIZE: 9,
  TYPE_MATCHES: 12,
} as const;

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
  let sections: Map<string, Uint8Array>;
  try {
    sections = elfSections(object);
  } catch (error) {
    throw new CoreBtfError((error as Error).message);
  }
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
