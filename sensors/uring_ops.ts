/**
 * io_uring opcodes (`enum io_uring_op`, include/uapi/linux/io_uring.h) by
 * name: an io_uring request's `call` in file_system_event records
 * (FS_FLAG_URING). The numbers are the kernel's ABI and never change.
 *
 * @module
 */
import { namesByValue } from "./layout.ts";

/** The IORING_OP_* opcodes sensor.file-system judges, and their kin. */
export const UringOp = {
  IORING_OP_READV: 1,
  IORING_OP_WRITEV: 2,
  IORING_OP_WRITE_FIXED: 5,
  IORING_OP_FALLOCATE: 17,
  IORING_OP_OPENAT: 18,
  IORING_OP_READ: 22,
  IORING_OP_WRITE: 23,
  IORING_OP_OPENAT2: 28,
  IORING_OP_SPLICE: 30,
  IORING_OP_TEE: 33,
  IORING_OP_RENAMEAT: 35,
  IORING_OP_UNLINKAT: 36,
  IORING_OP_MKDIRAT: 37,
  IORING_OP_SYMLINKAT: 38,
  IORING_OP_LINKAT: 39,
  IORING_OP_FTRUNCATE: 55,
  IORING_OP_WRITEV_FIXED: 61,
} as const;

const NAMES = namesByValue(UringOp);

/** The name of an IORING_OP_* opcode, e.g. "IORING_OP_WRITE". */
export function uringOpName(opcode: number): string {
  return NAMES[opcode] || `IORING_OP_${opcode}`;
}
