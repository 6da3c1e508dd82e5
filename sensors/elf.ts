/**
 * The little of ELF the loader reads itself (the System V gABI, "ELF
 * Header" and "Sections"): which machine a shared object is for, and the
 * sections of a BPF object.
 *
 * @module
 */

const ELF_MAGIC = 0x7f454c46; // "\x7fELF", read big-endian
const ELF_MACHINES: Record<number, string> = { 62: "x86_64", 183: "aarch64" };

function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 20 &&
    new DataView(bytes.buffer, bytes.byteOffset, 4).getUint32(0, false) ===
      ELF_MAGIC;
}

/** The architecture an ELF shared object was built for, from e_machine. */
export function elfArchitecture(bytes: Uint8Array): string {
  if (!isElf(bytes)) return "not an ELF file";
  const machine = bytes[18] | (bytes[19] << 8);
  return ELF_MACHINES[machine] ?? `ELF machine ${machine}`;
}

/**
 * The sections of an ELF64 little-endian object, by name.
 *
 * @throws {Error} when the bytes are not such an object or its section
 * headers are out of range.
 */
export function elfSections(bytes: Uint8Array): Map<string, Uint8Array> {
  if (bytes.length < 64 || !isElf(bytes) || bytes[4] !== 2 || bytes[5] !== 1) {
    throw new Error("not a 64-bit little-endian ELF object");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
  const shoff = Number(view.getBigUint64(0x28, true));
  const shentsize = view.getUint16(0x3a, true);
  const shnum = view.getUint16(0x3c, true);
  const shstrndx = view.getUint16(0x3e, true);
  if (shoff + shnum * shentsize > bytes.length || shstrndx >= shnum) {
    throw new Error("ELF section headers out of range");
  }
  const header = (index: number) => {
    const at = shoff + index * shentsize;
    const offset = Number(view.getBigUint64(at + 0x18, true));
    const size = Number(view.getBigUint64(at + 0x20, true));
    if (offset + size > bytes.length) {
      throw new Error("ELF section runs past the end");
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
