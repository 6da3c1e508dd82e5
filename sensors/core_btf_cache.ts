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
 * SHA-256 of the objects, by the runtime's native digest: a byte loop in
 * TypeScript over the objects would run hot enough for V8 to start its
 * optimising compiler, whose code then stays in the agent's resident set.
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
 * objects: a later start of the same ringfence reads the cut rather than
 * cutting the kernel's BTF down again. The cache is root's (mode 0700); a
 * file that does not load is no risk either, as a load that fails with the
 * cut-down BTF is retried with the kernel's own.
 */
export async function cachedMinimalCoreBtf(
  objects: readonly Uint8Array[],
  kernelBtf: () => KernelBtf = readKernelBtf,
  directory: string = cacheDirectory(),
): Promise<MinimalCoreBtf & { cached?: boolean }> {
  const boot = bootId();
  const file = boot &&
    `${directory}/core-btf-${boot}-${await fingerprint(objects)}.btf`;
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
