/**
 * The running kernel's BTF, as the kernel publishes it in sysfs.
 *
 * @module
 */

import {
  closeFd,
  cString,
  libc,
  O_CLOEXEC,
  O_RDONLY,
  PROT_READ,
} from "./libc.ts";

/** Where the kernel publishes its BTF. */
export const KERNEL_BTF = "/sys/kernel/btf/vmlinux";

/** Bytes to read and a function that releases them. */
export interface KernelBtf {
  bytes: Uint8Array;
  release(): void;
}

const MAP_PRIVATE = 2;

/**
 * The kernel's BTF. Mapped where the kernel allows it (6.16 and later):
 * sysfs otherwise hands the file out a page per read(), a system call per
 * page. Read the usual way elsewhere.
 */
export function readKernelBtf(path: string = KERNEL_BTF): KernelBtf {
  const size = Deno.statSync(path).size;
  const fd = libc().open(cString(path), O_RDONLY | O_CLOEXEC);
  if (fd >= 0 && size > 0) {
    try {
      const address = libc().mmap(
        null,
        BigInt(size),
        PROT_READ,
        MAP_PRIVATE,
        fd,
        0n,
      );
      if (address && Deno.UnsafePointer.value(address) !== -1n) {
        const bytes = new Uint8Array(
          Deno.UnsafePointerView.getArrayBuffer(address, size),
        );
        return {
          bytes,
          release: () => void libc().munmap(address, BigInt(size)),
        };
      }
    } finally {
      closeFd(fd);
    }
  } else if (fd >= 0) closeFd(fd);
  return { bytes: Deno.readFileSync(path), release: () => {} };
}
