/**
 * The running boot, for what holds until the next one.
 *
 * @module
 */

/**
 * This boot's id: what is learnt about the running kernel (its BTF, what
 * it refuses) holds until the next boot. Undefined when it cannot be read.
 */
export function bootId(): string | undefined {
  try {
    return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim() ||
      undefined;
  } catch {
    return undefined;
  }
}
