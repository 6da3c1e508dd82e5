/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscalls sensor.file-system follows, by number: one raw_tp/sys_enter
 * and one raw_tp/sys_exit program tell them apart. A tracepoint per
 * syscall is a link each, and detaching a perf-event tracepoint waits for
 * an RCU grace period, which every agent stop would pay per syscall.
 */
#ifndef RINGFENCE_FS_SYSCALLS_H
#define RINGFENCE_FS_SYSCALLS_H

/* arch/x86/entry/syscalls/syscall_64.tbl */
#if defined(__TARGET_ARCH_x86)
#define NR_open 2
#define NR_creat 85
#define NR_openat 257
#define NR_openat2 437
#define NR_unlink 87
#define NR_unlinkat 263
#define NR_rename 82
#define NR_renameat 264
#define NR_renameat2 316
#define NR_chmod 90
#define NR_fchmod 91
#define NR_fchmodat 268
#define NR_fchmodat2 452
#define NR_chown 92
#define NR_lchown 94
#define NR_fchown 93
#define NR_fchownat 260
#define NR_truncate 76
#define NR_ftruncate 77
#define NR_link 86
#define NR_linkat 265
#define NR_symlink 88
#define NR_symlinkat 266
#define NR_mkdir 83
#define NR_mkdirat 258
#define NR_rmdir 84
#else
#error "sensor.file-system: syscall numbers are known for x86-64 only"
#endif

/* Whether the syscall numbered id is one the sensor follows. */
static __always_inline bool fs_syscall(long id)
{
	switch (id) {
	case NR_open: case NR_creat: case NR_openat: case NR_openat2:
	case NR_unlink: case NR_unlinkat: case NR_rename: case NR_renameat:
	case NR_renameat2: case NR_chmod: case NR_fchmod: case NR_fchmodat:
	case NR_fchmodat2: case NR_chown: case NR_lchown: case NR_fchown:
	case NR_fchownat: case NR_truncate: case NR_ftruncate: case NR_link:
	case NR_linkat: case NR_symlink: case NR_symlinkat: case NR_mkdir:
	case NR_mkdirat: case NR_rmdir:
		return true;
	default:
		return false;
	}
}

#endif /* RINGFENCE_FS_SYSCALLS_H */
