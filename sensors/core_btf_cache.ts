/**
 * The cut-down BTF ({@linkcode ./core_btf.ts}), kept on disk for the rest
 * of the boot.
 *
 * @module
 */

import { bootId } from "./boot.ts";
import { BTF_HEADER_SIZE } from "./btf.ts";
import { type MinimalCoreBtf, minimalCoreBtf } from "./core_btf.ts";
import { cacheDirectory } from "./environment.ts";
import { type KernelBtf, readKernelBtf } from "./kernel_btf.ts";

/**
 * A 64-bit fingerprint of the objects (two multiplicative hash lanes over
 * their 32-bit words), computed synchronously: an await here would let
 * other main-thread work, such as the policy parser's import, run before
 * the loads start, and the loads are the start's critical path. It names a
 * cache file, not a trust decision: a cut that does not fit its objects
 * fails their load, which is then retried with the kernel's own BTF.
 */
export function fingerprint(objects: readonly Uint8Array[]): string {
  let a = 0x811c9dc5, b = 0x5bd1e995;
  for (const object of objects) {
    a = Math.imul(a ^ object.length, 0x01000193);
    b = Math.imul(b ^ object.length, 0x5bd1e995);
    // Int32Array needs a 4-byte-aligned offset; a copy always has one.
    const bytes = object.byteOffset % 4 ? object.slice() : object;
    const words = new Int32Array(
      bytes.buffer,
      bytes.byteOffset,
      bytes.length >> 2,
    );
    for (let i = 0; i < words.length; i++) {
      a = Math.imul(a ^ words[i], 0x01000193);
      b = Math.imul((b ^ words[i]) + (b << 5), 0x5bd1e995);
    }
    for (let i = bytes.length & ~3; i < bytes.length; i++) {
      a = Math.imul(a ^ bytes[i], 0x01000193);
    }
  }
  const hex = (word: number) => (word >>> 0).toString(16).padStart(8, "0");
  return hex(a) + hex(b);
}

/**
 * {@linkcode minimalCoreBtf}, kept on disk for the rest of the boot (the
 * kernel's BTF cannot change before a reboot), keyed by the boot and the
 * objects: a later start of the same ringfence reads the cut rather than
 * cutting the kernel's BTF down again. The cache is root's (mode 0700); a
 * file that does not load is no risk either, as a load that fails with the
 * cut-down BTF is retried with the kernel's own.
 */
export function cachedMinimalCoreBtf(
  objects: readonly Uint8Array[],
  kernelBtf: () => KernelBtf = readKernelBtf,
  directory: string = cacheDirectory(),
): MinimalCoreBtf & { cached?: boolean } {
  const boot = bootId();
  const file = boot &&
    `${directory}/core-btf-${boot}-${fingerprint(objects)}.btf`;
  if (file) {
    try {
      const btf = Deno.readFileSync(file);
      if (btf.length >= BTF_HEADER_SIZE) return { btf, cached: true };
    } catch { /* not cached yet */ }
  }
  const minimal = minimalCoreBtf(objects, kernelBtf);
  if (file && minimal.btf) {
    try {
      Deno.mkdirSync(directory, { recursive: true, mode: 0o700 });
      // Earlier boots' copies go; this boot keeps one per set of objects
      // (with and without the file sensor, say).
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
