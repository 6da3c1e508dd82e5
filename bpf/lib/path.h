/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Full paths for sensor.file-system: an open file's by dentry walk
 * (dentry_path.h), a name given to a syscall joined to the directory it
 * is relative to.
 *
 * The scratch paths are built in also holds the event they are sent in,
 * so that an event is filled without a copy through the stack.
 */
#ifndef RINGFENCE_PATH_H
#define RINGFENCE_PATH_H

#include "../file_system.h"
#include "dentry_path.h"

_Static_assert(FS_PATH_MAX == DENTRY_PATH_MAX, "paths are built by dentry_path.h");
_Static_assert(FS_MAX_DEPTH == DENTRY_MAX_DEPTH, "paths are built by dentry_path.h");

/* include/uapi/linux/fcntl.h: a dirfd meaning the current directory */
#define AT_FDCWD -100

/* a bound the verifier can see on offsets into two paths */
#define DATA_MASK (FS_PATH_MAX * 2 - 1)

/* A path being built; its first FS_PREFIX_MAX bytes with prefixlen are
 * the LPM key, so the trie is asked without a copy. */
struct fs_path_buf {
	__u32 prefixlen;
	char path[2 * FS_PATH_MAX];
};

/* What building paths[i] found out, in built[i]. */
struct built {
	__u32 len;		/* without the NUL */
	__u32 name_at;		/* where the last component starts */
	bool truncated;
	bool odd;		/* the name has "//", "/./" or "/../" in it */
	/* the bulk root the path is under (the prefix map value's high 16
	 * bits, lib/bulk.h); 0: none */
	__u16 root;
};

struct fs_scratch {
	/* in map memory, where the verifier does not track values: two paths
	 * built one after the other do not multiply its states */
	struct built built[2];
	struct file_system_event event;
	struct fs_path_buf paths[2];
};

/* too large for the 512-byte stack; one per CPU, as a program runs on one */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_scratch);
} fs_scratch SEC(".maps");

static __always_inline struct fs_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fs_scratch, &zero);
}

/* Where a scan of a name is, and what it found. */
struct scan {
	__u32 start;		/* where the name joins the path */
	__u32 which;		/* paths[which] */
	__u32 last_slash;
	__u32 odd;		/* "//", "/./" or "/../" seen */
	__u8 p1, p2, p3;	/* the last three characters */
};

/*
 * One character of the name (bpf_loop): where its last component starts,
 * and whether it has components the kernel did not resolve.
 */
static long scan_step(__u64 index, void *data)
{
	struct scan *sc = data;
	struct fs_scratch *s = scratch();
	__u32 i = sc->start + index;
	char c;

	if (!s)
		return 1;
	c = s->paths[sc->which & 1].path[i & DATA_MASK];
	if (c == '/' || c == 0) {
		if ((c == '/' && sc->p1 == '/') ||
		    (sc->p1 == '.' && sc->p2 == '/') ||
		    (sc->p1 == '.' && sc->p2 == '.' && sc->p3 == '/'))
			sc->odd = 1;
		if (c == 0)
			return 1;
		sc->last_slash = i;
	}
	sc->p3 = sc->p2;
	sc->p2 = sc->p1;
	sc->p1 = c;
	return 0;
}

/* Whether a name given to a syscall is absolute (kernel: a kernel copy). */
static __always_inline bool name_absolute(const char *name, bool kernel)
{
	char first = 0;

	if (kernel)
		bpf_probe_read_kernel(&first, 1, name);
	else
		bpf_probe_read_user(&first, 1, name);
	return first == '/';
}

/*
 * The directory a relative name is resolved from: dfd's, or the cwd for
 * AT_FDCWD (both NULL when there is none).
 */
static __always_inline void name_dir(int dfd, struct dentry **dentry, struct vfsmount **mnt)
{
	struct fs_struct *fs;
	struct file *dir;

	*dentry = NULL;
	*mnt = NULL;
	if (dfd == AT_FDCWD) {
		/* plain loads through BTF: cheaper than a probe read each */
		fs = bpf_get_current_task_btf()->fs;
		if (!fs)
			return;
		*dentry = fs->pwd.dentry;
		*mnt = fs->pwd.mnt;
	} else {
		dir = fd_file(dfd);
		*dentry = BPF_CORE_READ(dir, f_path.dentry);
		*mnt = BPF_CORE_READ(dir, f_path.mnt);
	}
}

/*
 * paths[which] = name joined to the directory's path that is already in
 * it, dirlen bytes (relative names only); *b says how long it is, where
 * its last component starts, and whether it is cut or has components to
 * normalise. kernel: the name is a kernel copy (an io_uring request's
 * struct filename), not the caller's memory.
 */
static __always_inline void name_join(struct fs_scratch *s, __u32 which, __u32 dirlen,
				      bool relative, const char *name, struct built *b,
				      bool kernel)
{
	char *out = s->paths[which & 1].path;
	struct scan sc = { .which = which };
	long copied;

	if (relative) {
		/* the root is "/": the name follows its slash */
		if (dirlen == 1)
			dirlen = 0;
		out[dirlen & PATH_MASK] = '/';
		sc.start = dirlen & PATH_MASK;
		dirlen = (dirlen + 1) & PATH_MASK;
	} else {
		dirlen = 0;
	}
	if (kernel)
		copied = bpf_probe_read_kernel_str(out + dirlen, FS_PATH_MAX, name);
	else
		copied = bpf_probe_read_user_str(out + dirlen, FS_PATH_MAX, name);
	if (copied < 1)
		copied = 1;
	b->len = dirlen + copied - 1;
	if (b->len >= FS_PATH_MAX - 1) {
		b->truncated = true;
		b->len = FS_PATH_MAX - 1;
		out[FS_PATH_MAX - 1] = 0;
	}
	bpf_loop(b->len - sc.start + 1, scan_step, &sc, 0);
	b->odd = sc.odd;
	b->name_at = sc.last_slash + 1;
}

#endif /* RINGFENCE_PATH_H */
