/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscalls sensor.file-system follows, by number, in both x86 ABIs:
 * one raw_tp/sys_enter and one raw_tp/sys_exit program tell them apart. A
 * tracepoint per syscall is a link each, and detaching a perf-event
 * tracepoint waits for an RCU grace period, which every agent stop would
 * pay per syscall.
 *
 * A 64-bit process can make i386 syscalls (int $0x80), and an ia32 binary
 * makes nothing else: they reach sys_enter with the i386 numbers, which
 * mean other syscalls in the 64-bit table. fs_call() maps a number in the
 * ABI it came by to the one thing the sensor does with it.
 */
#ifndef RINGFENCE_FS_SYSCALLS_H
#define RINGFENCE_FS_SYSCALLS_H

#if !defined(__TARGET_ARCH_x86)
#error "sensor.file-system: syscall numbers are known for x86 only"
#endif

/* arch/x86/entry/syscalls/syscall_64.tbl */
#define NR_write 1
#define NR_open 2
#define NR_pwrite64 18
#define NR_writev 20
#define NR_sendfile 40
#define NR_truncate 76
#define NR_ftruncate 77
#define NR_rename 82
#define NR_mkdir 83
#define NR_rmdir 84
#define NR_creat 85
#define NR_link 86
#define NR_unlink 87
#define NR_symlink 88
#define NR_chmod 90
#define NR_fchmod 91
#define NR_chown 92
#define NR_fchown 93
#define NR_lchown 94
#define NR_pivot_root 155
#define NR_mount 165
#define NR_umount2 166
#define NR_openat 257
#define NR_mkdirat 258
#define NR_fchownat 260
#define NR_unlinkat 263
#define NR_renameat 264
#define NR_linkat 265
#define NR_symlinkat 266
#define NR_fchmodat 268
#define NR_splice 275
#define NR_fallocate 285
#define NR_pwritev 296
#define NR_name_to_handle_at 303
#define NR_open_by_handle_at 304
#define NR_renameat2 316
#define NR_copy_file_range 326
#define NR_pwritev2 328
#define NR_open_tree 428
#define NR_move_mount 429
#define NR_openat2 437
#define NR_pidfd_getfd 438
#define NR_mount_setattr 442
#define NR_fchmodat2 452

/* x32 calls are the 64-bit numbers with this bit set */
#define FS_X32_BIT 0x40000000

/* arch/x86/entry/syscalls/syscall_32.tbl */
#define NR32_write 4
#define NR32_open 5
#define NR32_creat 8
#define NR32_link 9
#define NR32_unlink 10
#define NR32_chmod 15
#define NR32_lchown16 16
#define NR32_mount 21
#define NR32_umount 22
#define NR32_rename 38
#define NR32_umount2 52
#define NR32_mkdir 39
#define NR32_rmdir 40
#define NR32_symlink 83
#define NR32_truncate 92
#define NR32_ftruncate 93
#define NR32_fchmod 94
#define NR32_fchown16 95
#define NR32_writev 146
#define NR32_pwrite64 181
#define NR32_chown16 182
#define NR32_sendfile 187
#define NR32_truncate64 193
#define NR32_ftruncate64 194
#define NR32_lchown32 198
#define NR32_fchown32 207
#define NR32_chown32 212
#define NR32_pivot_root 217
#define NR32_sendfile64 239
#define NR32_openat 295
#define NR32_mkdirat 296
#define NR32_fchownat 298
#define NR32_unlinkat 301
#define NR32_renameat 302
#define NR32_linkat 303
#define NR32_symlinkat 304
#define NR32_fchmodat 306
#define NR32_splice 313
#define NR32_fallocate 324
#define NR32_pwritev 334
#define NR32_name_to_handle_at 341
#define NR32_open_by_handle_at 342
#define NR32_renameat2 353
#define NR32_copy_file_range 377
#define NR32_pwritev2 379
#define NR32_open_tree 428
#define NR32_move_mount 429
#define NR32_openat2 437
#define NR32_pidfd_getfd 438
#define NR32_mount_setattr 442
#define NR32_fchmodat2 452

/* arch/x86/include/asm/thread_info.h: a 32-bit syscall is running */
#define FS_TS_COMPAT 0x0002

/*
 * What the sensor does with a syscall, whatever its ABI; the comment is
 * where its arguments are.
 */
enum fs_call {
	FS_CALL_NONE = 0,
	FS_CALL_OPEN,		/* name, flags */
	FS_CALL_OPENAT,		/* dfd, name, flags; open_by_handle_at: mount_fd, handle, flags */
	FS_CALL_OPENAT2,	/* dfd, name, how */
	FS_CALL_CREAT,		/* name, mode */
	FS_CALL_UNLINK,		/* name */
	FS_CALL_UNLINKAT,	/* dfd, name, flags */
	FS_CALL_RMDIR,		/* name */
	FS_CALL_LINK,		/* oldname, newname */
	FS_CALL_LINKAT,		/* olddfd, oldname, newdfd, newname */
	FS_CALL_SYMLINK,	/* target, linkpath */
	FS_CALL_SYMLINKAT,	/* target, newdfd, linkpath */
	FS_CALL_MKDIR,		/* name, mode */
	FS_CALL_MKDIRAT,	/* dfd, name, mode */
	FS_CALL_RENAME,		/* oldname, newname */
	FS_CALL_RENAMEAT,	/* olddfd, oldname, newdfd, newname */
	FS_CALL_CHMOD,		/* name, mode */
	FS_CALL_FCHMODAT,	/* dfd, name, mode */
	FS_CALL_FCHMOD,		/* fd, mode */
	FS_CALL_CHOWN,		/* name, uid, gid */
	FS_CALL_CHOWN16,	/* name, 16-bit uid, 16-bit gid */
	FS_CALL_FCHOWNAT,	/* dfd, name, uid, gid */
	FS_CALL_FCHOWN,		/* fd, uid, gid */
	FS_CALL_FCHOWN16,	/* fd, 16-bit uid, 16-bit gid */
	FS_CALL_TRUNCATE,	/* name */
	FS_CALL_FTRUNCATE,	/* fd */
	FS_CALL_NAME_TO_HANDLE,	/* dfd, name, handle, mnt_id, flags */
	FS_CALL_PIDFD_GETFD,	/* pidfd, targetfd, flags */
	FS_CALL_WRITE,		/* fd: write, pwrite, writev, pwritev(2), sendfile's out_fd, fallocate */
	FS_CALL_WRITE_ARG2,	/* -, -, fd: splice's and copy_file_range's fd_out */
	FS_CALL_MOUNT,		/* source, target, type, flags */
	FS_CALL_MOVE_MOUNT,	/* from_dfd, from_path, to_dfd, to_path, flags */
	FS_CALL_OPEN_TREE,	/* dfd, path, flags */
	FS_CALL_MOUNT_SETATTR,	/* dfd, path, flags */
	/* followed only as calls that move directories (lib/dir_verdict.h) */
	FS_CALL_UMOUNT,		/* target, flags */
	FS_CALL_PIVOT_ROOT,	/* new_root, put_old */
};

/* Syscall numbers the tables cover: every number in either ABI's table. */
#define FS_NR_MAX 512

/*
 * What an x86-64 (or x32) syscall number means to the sensor, and an i386
 * one: constant tables (.rodata), so that every syscall of the machine is
 * told apart with one bounded load instead of a search through a switch.
 */
static const __u8 fs_calls64[FS_NR_MAX] = {
	[NR_open] = FS_CALL_OPEN,
	[NR_openat] = FS_CALL_OPENAT,
	[NR_open_by_handle_at] = FS_CALL_OPENAT,
	[NR_openat2] = FS_CALL_OPENAT2,
	[NR_creat] = FS_CALL_CREAT,
	[NR_unlink] = FS_CALL_UNLINK,
	[NR_unlinkat] = FS_CALL_UNLINKAT,
	[NR_rmdir] = FS_CALL_RMDIR,
	[NR_link] = FS_CALL_LINK,
	[NR_linkat] = FS_CALL_LINKAT,
	[NR_symlink] = FS_CALL_SYMLINK,
	[NR_symlinkat] = FS_CALL_SYMLINKAT,
	[NR_mkdir] = FS_CALL_MKDIR,
	[NR_mkdirat] = FS_CALL_MKDIRAT,
	[NR_rename] = FS_CALL_RENAME,
	[NR_renameat] = FS_CALL_RENAMEAT,
	[NR_renameat2] = FS_CALL_RENAMEAT,
	[NR_chmod] = FS_CALL_CHMOD,
	[NR_fchmodat] = FS_CALL_FCHMODAT,
	[NR_fchmodat2] = FS_CALL_FCHMODAT,
	[NR_fchmod] = FS_CALL_FCHMOD,
	[NR_chown] = FS_CALL_CHOWN,
	[NR_lchown] = FS_CALL_CHOWN,
	[NR_fchownat] = FS_CALL_FCHOWNAT,
	[NR_fchown] = FS_CALL_FCHOWN,
	[NR_truncate] = FS_CALL_TRUNCATE,
	[NR_ftruncate] = FS_CALL_FTRUNCATE,
	[NR_name_to_handle_at] = FS_CALL_NAME_TO_HANDLE,
	[NR_pidfd_getfd] = FS_CALL_PIDFD_GETFD,
	[NR_write] = FS_CALL_WRITE,
	[NR_pwrite64] = FS_CALL_WRITE,
	[NR_writev] = FS_CALL_WRITE,
	[NR_pwritev] = FS_CALL_WRITE,
	[NR_pwritev2] = FS_CALL_WRITE,
	[NR_sendfile] = FS_CALL_WRITE,
	[NR_fallocate] = FS_CALL_WRITE,
	[NR_splice] = FS_CALL_WRITE_ARG2,
	[NR_copy_file_range] = FS_CALL_WRITE_ARG2,
	[NR_mount] = FS_CALL_MOUNT,
	[NR_move_mount] = FS_CALL_MOVE_MOUNT,
	[NR_open_tree] = FS_CALL_OPEN_TREE,
	[NR_mount_setattr] = FS_CALL_MOUNT_SETATTR,
	[NR_umount2] = FS_CALL_UMOUNT,
	[NR_pivot_root] = FS_CALL_PIVOT_ROOT,
};

static const __u8 fs_calls32[FS_NR_MAX] = {
	[NR32_open] = FS_CALL_OPEN,
	[NR32_openat] = FS_CALL_OPENAT,
	[NR32_open_by_handle_at] = FS_CALL_OPENAT,
	[NR32_openat2] = FS_CALL_OPENAT2,
	[NR32_creat] = FS_CALL_CREAT,
	[NR32_unlink] = FS_CALL_UNLINK,
	[NR32_unlinkat] = FS_CALL_UNLINKAT,
	[NR32_rmdir] = FS_CALL_RMDIR,
	[NR32_link] = FS_CALL_LINK,
	[NR32_linkat] = FS_CALL_LINKAT,
	[NR32_symlink] = FS_CALL_SYMLINK,
	[NR32_symlinkat] = FS_CALL_SYMLINKAT,
	[NR32_mkdir] = FS_CALL_MKDIR,
	[NR32_mkdirat] = FS_CALL_MKDIRAT,
	[NR32_rename] = FS_CALL_RENAME,
	[NR32_renameat] = FS_CALL_RENAMEAT,
	[NR32_renameat2] = FS_CALL_RENAMEAT,
	[NR32_chmod] = FS_CALL_CHMOD,
	[NR32_fchmodat] = FS_CALL_FCHMODAT,
	[NR32_fchmodat2] = FS_CALL_FCHMODAT,
	[NR32_fchmod] = FS_CALL_FCHMOD,
	[NR32_chown32] = FS_CALL_CHOWN,
	[NR32_lchown32] = FS_CALL_CHOWN,
	[NR32_chown16] = FS_CALL_CHOWN16,
	[NR32_lchown16] = FS_CALL_CHOWN16,
	[NR32_fchownat] = FS_CALL_FCHOWNAT,
	[NR32_fchown32] = FS_CALL_FCHOWN,
	[NR32_fchown16] = FS_CALL_FCHOWN16,
	[NR32_truncate] = FS_CALL_TRUNCATE,
	[NR32_truncate64] = FS_CALL_TRUNCATE,
	[NR32_ftruncate] = FS_CALL_FTRUNCATE,
	[NR32_ftruncate64] = FS_CALL_FTRUNCATE,
	[NR32_name_to_handle_at] = FS_CALL_NAME_TO_HANDLE,
	[NR32_pidfd_getfd] = FS_CALL_PIDFD_GETFD,
	[NR32_write] = FS_CALL_WRITE,
	[NR32_pwrite64] = FS_CALL_WRITE,
	[NR32_writev] = FS_CALL_WRITE,
	[NR32_pwritev] = FS_CALL_WRITE,
	[NR32_pwritev2] = FS_CALL_WRITE,
	[NR32_sendfile] = FS_CALL_WRITE,
	[NR32_sendfile64] = FS_CALL_WRITE,
	[NR32_fallocate] = FS_CALL_WRITE,
	[NR32_splice] = FS_CALL_WRITE_ARG2,
	[NR32_copy_file_range] = FS_CALL_WRITE_ARG2,
	[NR32_mount] = FS_CALL_MOUNT,
	[NR32_move_mount] = FS_CALL_MOVE_MOUNT,
	[NR32_open_tree] = FS_CALL_OPEN_TREE,
	[NR32_mount_setattr] = FS_CALL_MOUNT_SETATTR,
	[NR32_umount] = FS_CALL_UMOUNT,
	[NR32_umount2] = FS_CALL_UMOUNT,
	[NR32_pivot_root] = FS_CALL_PIVOT_ROOT,
};

_Static_assert(FS_CALL_PIVOT_ROOT < 256, "call codes fit the tables' bytes");

/*
 * The tables' index, masked where it is used: a compiler that tests the
 * bound on one copy of the number and indexes with another leaves the
 * verifier without the bound (it knows the number is small and would
 * drop a mask it sees: hide it).
 */
static __always_inline __u64 fs_nr_index(__u64 nr)
{
	asm volatile("" : "+r"(nr));
	return nr & (FS_NR_MAX - 1);
}

static __always_inline int fs_call64(long id)
{
	__u64 nr = id & ~FS_X32_BIT;

	return nr < FS_NR_MAX ? fs_calls64[fs_nr_index(nr)] : FS_CALL_NONE;
}

static __always_inline int fs_call32(long id)
{
	return (__u64)id < FS_NR_MAX ? fs_calls32[fs_nr_index(id)] : FS_CALL_NONE;
}

/*
 * What syscall id, in the ABI it came by (*compat: i386), means to the
 * sensor; FS_CALL_NONE for the machine's other syscalls. The numbers rule
 * out most of them; the task's ABI is read only for a number that means
 * something in either table.
 */
static __always_inline int fs_call(long id, bool *compat)
{
	struct task_struct *task;
	int call64 = fs_call64(id), call32 = fs_call32(id);

	*compat = false;
	if (!call64 && !call32)
		return FS_CALL_NONE;
	task = bpf_get_current_task_btf();
	*compat = task->thread_info.status & FS_TS_COMPAT;
	return *compat ? call32 : call64;
}

#endif /* RINGFENCE_FS_SYSCALLS_H */
