/**
 * The kernel BTF that CO-RE needs, cut down to what the sensors relocate
 * against.
 *
 * Left alone, libbpf reads and indexes the kernel's whole BTF once per
 * object, at every load: most of libbpf's share of the start-up time and of
 * the peak memory. Given `btf_custom_path`, it reads that file in its
 * place. This module reads the
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
 * returns undefined and libbpf reads the kernel's own BTF: a BTF kind
 * this code does not know, a relocation kind that needs the kernel's own
 * type ids, or a root name with no type in vmlinux (libbpf would look in
 * module BTF, which a custom BTF turns off).
 *
 * @module
 */

import {
  Btf,
  BTF_HEADER_SIZE,
  BTF_MAGIC,
  CoreBtfError,
  essentialLength,
} from "./btf.ts";
import { type CoreRoot, coreRoots } from "./core_relocations.ts";
import { type KernelBtf, readKernelBtf } from "./kernel_btf.ts";

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
  // Most kernel type names are ruled out by a hash of their first four
  // bytes, the rest compared in place: one tight loop over every kernel
  // type, with no call or allocation per type.
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
  const blob = new Uint8Array(BTF_HEADER_SIZE + typeBytes + strings.length);
  const header = new Uint32Array(blob.buffer, 0, BTF_HEADER_SIZE / 4);
  header[0] = BTF_MAGIC | (1 << 16); // magic, version 1, flags 0
  header[1] = BTF_HEADER_SIZE;
  header[2] = 0; // type_off
  header[3] = typeBytes;
  header[4] = typeBytes; // str_off
  header[5] = strings.length;
  blob.set(new Uint8Array(types.buffer), BTF_HEADER_SIZE);
  blob.set(strings, BTF_HEADER_SIZE + typeBytes);
  return blob;
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
