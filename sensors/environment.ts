/**
 * The environment variables that change how the sensors load, read here
 * and nowhere else so that each has one name and one meaning:
 *
 * - `RINGFENCE_LIBBPF`: `embedded` opens the copy of libbpf carried inside
 *   ringfence even where the host has one (tests prove the copy works that
 *   way); a path opens that file and nothing else. Unset: the host's
 *   `libbpf.so.1`, else the carried copy.
 * - `RINGFENCE_DEBUG=1`: keeps libbpf's debug lines in its captured log
 *   (every CO-RE relocation, every map created); otherwise only warnings,
 *   which carry the verifier's log, are kept.
 * - `RINGFENCE_CORE_BTF=kernel`: CO-RE relocates against the kernel's own
 *   BTF rather than the cut-down copy of it (sensors/core_btf.ts).
 * - `RINGFENCE_CACHE_DIR`: where the cut-down BTF is kept for the rest of
 *   the boot; `/var/cache/ringfence` by default.
 * - `RINGFENCE_SCOPE_CAPACITY`: a testing knob, the scope map's capacity
 *   in processes instead of 65,536, so that a test can fill it and see a
 *   full map fail closed.
 *
 * @module
 */

/** `RINGFENCE_LIBBPF`: "embedded", a path, or undefined for the default. */
export function libbpfOverride(): string | undefined {
  return Deno.env.get("RINGFENCE_LIBBPF") || undefined;
}

/** `RINGFENCE_DEBUG=1`: keep libbpf's debug lines. */
export function libbpfDebug(): boolean {
  return Deno.env.get("RINGFENCE_DEBUG") === "1";
}

/** `RINGFENCE_CORE_BTF=kernel`: relocate against the kernel's own BTF. */
export function coreBtfFromKernel(): boolean {
  return Deno.env.get("RINGFENCE_CORE_BTF") === "kernel";
}

/** `RINGFENCE_CACHE_DIR`, or `/var/cache/ringfence`. */
export function cacheDirectory(): string {
  return Deno.env.get("RINGFENCE_CACHE_DIR") || "/var/cache/ringfence";
}

/** Smallest and largest `RINGFENCE_SCOPE_CAPACITY`. */
const SCOPE_CAPACITY = { min: 4, max: 1 << 22 };

/**
 * `RINGFENCE_SCOPE_CAPACITY` (a testing knob): the scope map's capacity,
 * or undefined for the default.
 *
 * @throws {Error} when it is not an integer in range.
 */
export function scopeCapacityOverride(): number | undefined {
  const text = Deno.env.get("RINGFENCE_SCOPE_CAPACITY");
  if (!text) return undefined;
  const value = Number(text);
  if (
    !/^\d+$/.test(text) || value < SCOPE_CAPACITY.min ||
    value > SCOPE_CAPACITY.max
  ) {
    throw new Error(
      `RINGFENCE_SCOPE_CAPACITY="${text}" is not a number of processes from ${SCOPE_CAPACITY.min} to ${SCOPE_CAPACITY.max}`,
    );
  }
  return value;
}
