/**
 * Device numbers as the kernel keeps them, which the sensors' maps are
 * keyed by.
 *
 * @module
 */

/**
 * The kernel's encoding of a device (`major << 20 | minor`, what
 * `inode->i_sb->s_dev` holds) from stat's `st_dev` (glibc's
 * new_encode_dev: the minor's low byte, the major, then the minor's high
 * bits).
 */
export function kernelDev(stDev: number): number {
  const major = ((stDev >>> 8) & 0xfff) | Math.floor(stDev / 2 ** 32) & ~0xfff;
  const minor = (stDev & 0xff) | ((stDev >>> 12) & 0xfff00);
  return ((major << 20) | minor) >>> 0;
}
