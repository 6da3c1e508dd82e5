/**
 * Names of the syscalls and io_uring opcodes sensor.file-system follows,
 * by number in each ABI (arch/x86/entry/syscalls/syscall_64.tbl and
 * syscall_32.tbl; io_uring's opcodes are ./uring_ops.ts'), for the `call` field of
 * a file_system_event.
 *
 * @module
 */

import { uringOpName } from "./uring_ops.ts";

/** x86-64 syscall numbers the sensor follows (bpf/lib/fs_syscalls.h). */
export const SYSCALLS_64: Readonly<Record<number, string>> = {
  1: "write",
  2: "open",
  18: "pwrite64",
  20: "writev",
  40: "sendfile",
  76: "truncate",
  77: "ftruncate",
  82: "rename",
  83: "mkdir",
  84: "rmdir",
  85: "creat",
  86: "link",
  87: "unlink",
  88: "symlink",
  90: "chmod",
  91: "fchmod",
  92: "chown",
  93: "fchown",
  94: "lchown",
  165: "mount",
  257: "openat",
  258: "mkdirat",
  260: "fchownat",
  263: "unlinkat",
  264: "renameat",
  265: "linkat",
  266: "symlinkat",
  268: "fchmodat",
  275: "splice",
  285: "fallocate",
  296: "pwritev",
  303: "name_to_handle_at",
  304: "open_by_handle_at",
  316: "renameat2",
  326: "copy_file_range",
  328: "pwritev2",
  428: "open_tree",
  429: "move_mount",
  437: "openat2",
  438: "pidfd_getfd",
  442: "mount_setattr",
  452: "fchmodat2",
};

/** i386 syscall numbers the sensor follows (bpf/lib/fs_syscalls.h). */
export const SYSCALLS_32: Readonly<Record<number, string>> = {
  4: "write",
  5: "open",
  8: "creat",
  9: "link",
  10: "unlink",
  15: "chmod",
  16: "lchown16",
  21: "mount",
  38: "rename",
  39: "mkdir",
  40: "rmdir",
  83: "symlink",
  92: "truncate",
  93: "ftruncate",
  94: "fchmod",
  95: "fchown16",
  146: "writev",
  181: "pwrite64",
  182: "chown16",
  187: "sendfile",
  193: "truncate64",
  194: "ftruncate64",
  198: "lchown32",
  207: "fchown32",
  212: "chown32",
  239: "sendfile64",
  295: "openat",
  296: "mkdirat",
  298: "fchownat",
  301: "unlinkat",
  302: "renameat",
  303: "linkat",
  304: "symlinkat",
  306: "fchmodat",
  313: "splice",
  324: "fallocate",
  334: "pwritev",
  341: "name_to_handle_at",
  342: "open_by_handle_at",
  353: "renameat2",
  377: "copy_file_range",
  379: "pwritev2",
  428: "open_tree",
  429: "move_mount",
  437: "openat2",
  438: "pidfd_getfd",
  442: "mount_setattr",
  452: "fchmodat2",
};

/** The name of call in its ABI, or the number when the table has none. */
export function callName(
  via: "syscall" | "compat" | "io_uring",
  call: number,
): string | number {
  if (via === "io_uring") return uringOpName(call);
  const table = via === "compat" ? SYSCALLS_32 : SYSCALLS_64;
  // x32 calls carry bit 30 with the x86-64 number
  return table[via === "syscall" ? call & ~0x40000000 : call] ?? call;
}
