/**
 * Which BTF CO-RE relocates a load's objects against: the kernel's own,
 * which libbpf reads and indexes whole for each object, or one copy of it
 * cut down to what the objects need ({@linkcode ./core_btf.ts}), kept for
 * the rest of the boot ({@linkcode ./core_btf_cache.ts}).
 *
 * @module
 */

import { cachedMinimalCoreBtf } from "./core_btf_cache.ts";
import { coreBtfFromKernel } from "./environment.ts";

/** The BTF chosen, and why. */
export interface CoreBtfChoice {
  /** The cut-down BTF, or undefined for the kernel's own. */
  btf?: Uint8Array;
  /** Why the kernel's own BTF, when it is. */
  reason?: string;
}

/**
 * Chooses the BTF to relocate `objects` (their ELF bytes) against.
 *
 * @param given a BTF the caller supplies (`null`: the kernel's own), which
 * decides; undefined lets this function choose.
 * @param pathAtOpen an object was opened with a BTF path of its own, which
 * a load must not replace.
 */
export function chooseCoreBtf(
  objects: () => readonly Uint8Array[],
  given: Uint8Array | null | undefined,
  pathAtOpen: boolean,
): CoreBtfChoice {
  if (pathAtOpen) return { reason: "a BTF path was given at open" };
  if (given !== undefined) return given ? { btf: given } : {};
  if (coreBtfFromKernel()) return { reason: "RINGFENCE_CORE_BTF=kernel" };
  const minimal = cachedMinimalCoreBtf(objects());
  return minimal.btf ? { btf: minimal.btf } : { reason: minimal.reason };
}
