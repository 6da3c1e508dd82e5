/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * file_system_event: the record sensor.file-system sends, and the maps its
 * loader fills; decoded by sensors/file_system_event.ts and encoded by
 * sensors/file_system_maps.ts, whose layouts and tables tests/layout_test.ts
 * checks against this object's BTF.
 */
#ifndef RINGFENCE_FILE_SYSTEM_H
#define RINGFENCE_FILE_SYSTEM_H

#include "lib/event.h"

enum file_system_event_kind {
	FS_OPEN = 1,		/* opened for writing, existing file kept */
	FS_CREATE = 2,		/* the open created the file */
	FS_TRUNCATE = 3,	/* O_TRUNC on an existing file, truncate(), ftruncate() */
	FS_UNLINK = 4,
	FS_RENAME = 5,
	FS_CHMOD = 6,
	FS_CHOWN = 7,
	FS_READ = 8,		/* opened read-only: reported for secrets only */
	FS_LINK = 9,		/* a hard link: path is the file, new_path the new name */
	FS_SYMLINK = 10,	/* path is the new symbolic link */
	FS_MKDIR = 11,
	FS_RMDIR = 12,
	/* a write through an fd (write, pwrite, writev, an io_uring write) to
	 * a protected file; flags: the fd's open flags */
	FS_WRITE = 13,
	/* a mount on, of or above a protected path: path is the mount point,
	 * new_path the source of a bind or move */
	FS_MOUNT = 14,
	/* name_to_handle_at of a protected or secret file */
	FS_HANDLE = 15,
};
BTF_KEEP_ENUM(file_system_event_kind);

/* header.flags of a file_system_event */
enum file_system_event_flag {
	FS_FLAG_PATH_TRUNCATED = 1,
	FS_FLAG_NEW_PATH_TRUNCATED = 2,
	/* the writer was sent SIGKILL on its way back from the syscall */
	FS_FLAG_KILLED = 4,
	/* the path was built from a name with ".", ".." or "//" in it: the
	 * kernel did not normalise it, user space does */
	FS_FLAG_UNNORMALIZED = 8,
	/* a BPF LSM hook refused the change with EPERM: it did not happen */
	FS_FLAG_DENIED = 16,
	/* the call came by the 32-bit ABI (int $0x80, sysenter): call is its
	 * i386 number */
	FS_FLAG_COMPAT = 32,
	/* an io_uring request did it: call is the IORING_OP_* opcode */
	FS_FLAG_URING = 64,
	/* the file was known by its device and inode (fs_inodes), whatever
	 * the path it was reached by */
	FS_FLAG_INODE = 128,
	/* a dependency's install script broke dependencies.install_scripts
	 * (files: protect-secrets): a secret read or a protected write */
	FS_FLAG_INSTALL_SCRIPT = 256,
};
BTF_KEEP_ENUM(file_system_event_flag);

/*
 * What a path is to the policy, as bits of the prefix and name maps. The
 * kernel uses them to decide what is worth sending; the final glob match
 * happens in user space, except for FS_CLASS_KILL.
 */
enum file_system_class {
	FS_CLASS_WATCH = 1,
	FS_CLASS_PROTECT = 2,
	FS_CLASS_SECRET = 4,
	/*
	 * A protect pattern the kernel matches exactly: a literal path, a
	 * literal directory followed by "/ **" (any depth), or "** /name"
	 * (spaces only to keep this comment closed). The kernel itself kills
	 * the writer of such a path in block mode.
	 */
	FS_CLASS_KILL = 8,
	/*
	 * A directory at or above a protected tree (stored as a literal path):
	 * a mount on it or a rename of it changes what the protected paths
	 * are, so the kernel kills it like a FS_CLASS_KILL write.
	 */
	FS_CLASS_ABOVE = 16,
	/*
	 * A secret the kernel matches exactly (a literal path, a literal
	 * directory's tree, a "** /name"): an install script that reads it
	 * breaks dependencies.install_scripts (lib/install_scripts.h).
	 */
	FS_CLASS_DEP_SECRET = 32,
	/* Likewise for a path an install script may not change (the
	 * workspace's .github); files.protect's own are FS_CLASS_KILL. */
	FS_CLASS_DEP_PROTECT = 64,
	/*
	 * A bulk root (a dependency or build directory, files.bulk) or below:
	 * the prefix map's value carries the root's id in its high 16 bits,
	 * and its creates, unlinks, mkdirs, ... are counted in fs_summaries
	 * rather than sent one by one (lib/bulk.h).
	 */
	FS_CLASS_BULK = 128,
};
BTF_KEEP_ENUM(file_system_class);

/* Bytes of a path captured, with its NUL. Longer paths are cut (and flagged). */
#define FS_PATH_MAX 1024
/* Bytes of a path the prefix map compares (the LPM trie's limit). */
#define FS_PREFIX_MAX 256
/* Bytes of a file name the name map compares, with its NUL. */
#define FS_NAME_MAX 64
/* Directory levels walked up from a dentry: deeper paths are cut. */
#define FS_MAX_DEPTH 64
/* data[] is larger than two paths so the verifier can prove bounds with
 * masks; only path_size + new_path_size bytes of it are sent. */
#define FS_DATA_SIZE 4096

struct file_system_config {
	__u32 kill;		/* 1: SIGKILL writers of FS_CLASS_KILL paths */
	__u32 match_all;	/* FS_CLASS_* bits every path has (patterns the maps cannot hold) */
	__u32 read_classes;	/* nonzero: read-only opens are worth a look (secrets exist) */
	__u32 read_paths;	/* nonzero: a secret needs the full path (not only "** /name") */
	__u32 inodes;		/* nonzero: fs_inodes has entries; writes through fds are judged */
	__u32 mnt_ns;		/* the agent's mount namespace (inode number): mounts there matter */
	__u32 install_scripts;	/* dependencies.install_scripts: enum install_script_rule bits */
	__u32 summary;		/* files.detail: summary: bulk changes go to fs_summaries */
};

/*
 * Key of fs_inodes: a file as the kernel knows it, whatever its path
 * (hard links, bind mounts, handles). dev is the superblock's s_dev in the
 * kernel's encoding (major << 20 | minor), not stat's st_dev.
 */
struct fs_inode_key {
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

/* Key of the prefix map (BPF_MAP_TYPE_LPM_TRIE): prefixlen in bits. A
 * literal path is stored with its NUL so that it only matches itself. */
struct fs_prefix_key {
	__u32 prefixlen;
	char data[FS_PREFIX_MAX];
};

/* Key of the name map: the last component of a path, NUL-padded. */
struct fs_name_key {
	char name[FS_NAME_MAX];
};

/* The prefix map's value: FS_CLASS_* in the low bits, a bulk root's id
 * in the high ones. */
#define FS_CLASSES_MASK 0xffff
#define FS_ROOT_SHIFT 16

/* Bulk root ids are 1 to FS_BULK_ROOTS - 1 (fs_bulk_retired's size). */
#define FS_BULK_ROOTS 4096

/* Key of fs_summaries: a process and a bulk root. */
struct fs_summary_key {
	__u32 tgid;
	__u32 root;
};

/* Value of fs_summaries: the changes counted, not sent, by kind. */
struct fs_summary {
	__u64 first;		/* boot-clock ns of the first change: the one sent */
	__u64 last;		/* boot-clock ns of the last one counted */
	__u32 count[16];	/* by enum file_system_event_kind */
};

struct file_system_event {
	struct event_header header;
	__u32 flags;		/* open: the O_* flags; chmod: the mode */
	__u32 owner_uid;	/* chown: the new uid ((u32)-1: unchanged) */
	__u32 owner_gid;	/* chown: the new gid ((u32)-1: unchanged) */
	__u32 classes;		/* FS_CLASS_* the kernel found for the path(s) */
	__u32 path_size;	/* bytes of path at data[0], with its NUL */
	__u32 new_path_size;	/* rename: bytes of the new path after it */
	__u32 call;		/* the syscall number in its ABI, or the IORING_OP_* (FS_FLAG_URING) */
	__u32 dev;		/* the file's device (kernel encoding) when known, else 0 */
	__u64 ino;		/* the file's inode number when known, else 0 */
	char data[FS_DATA_SIZE];
};

#endif /* RINGFENCE_FILE_SYSTEM_H */
