/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Full paths for sensor.file-system, built by walking dentries: the raw
 * tracepoints it runs on have no bpf_d_path, so a path is put together
 * here the way the kernel's prepend_path() (fs/d_path.c) does, one
 * d_parent at a time, crossing to the parent mount at a mount's root.
 *
 * Paths are cut at FS_PATH_MAX bytes and FS_MAX_DEPTH directory levels
 * (the caller flags them truncated), and are relative to the mount
 * namespace's root: a chroot is not taken into account.
 *
 * The scratch paths are built in also holds the event they are sent in,
 * so that an event is filled without a copy through the stack.
 */
#ifndef RINGFENCE_PATH_H
#define RINGFENCE_PATH_H

#include "../file_system.h"

/* include/uapi/linux/fcntl.h: a dirfd meaning the current directory */
#define AT_FDCWD -100

/* bounds the verifier can see on offsets into one path, and into two */
#define PATH_MASK (FS_PATH_MAX - 1)
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
};

struct fs_scratch {
	/* in map memory, where the verifier does not track values: two paths
	 * built one after the other do not multiply its states */
	struct built built[2];
	struct file_system_event event;
	struct fs_path_buf paths[2];
	/* the dentry walk writes names backwards from FS_PATH_MAX */
	char walk[FS_PATH_MAX + 256];
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

/* The struct file behind one of the current process's fds, or NULL. */
static __always_inline struct file *fd_file(long fd)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct fdtable *fdt = BPF_CORE_READ(task, files, fdt);
	struct file **fds = BPF_CORE_READ(fdt, fd);
	struct file *file = NULL;

	if (fd < 0 || fd >= BPF_CORE_READ(fdt, max_fds))
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), fds + fd);
	return file;
}

/* Where a dentry walk is: the dentry, its mount and that mount's root. */
struct walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *mnt_root;
	__u32 pos;		/* where the built part starts in walk[] */
	__u32 done;		/* reached the root */
	__u32 truncated;
	__u32 pad;
};

/*
 * One level up (bpf_loop): prepend "/name", or at the root of a mount
 * cross to where it is mounted in its parent, as prepend_path() does.
 */
static long walk_step(__u64 index, void *data)
{
	struct walk *w = data;
	/* locals: BPF_CORE_READ(w->mnt, ...) would relocate struct walk too */
	struct dentry *dentry = w->dentry, *parent;
	struct mount *mnt = w->mnt, *parent_mnt;
	const unsigned char *name;
	struct fs_scratch *s;
	__u32 len, pos;

	if (dentry == w->mnt_root) {
		parent_mnt = BPF_CORE_READ(mnt, mnt_parent);
		if (parent_mnt == mnt) {
			w->done = 1;
			return 1;
		}
		w->dentry = BPF_CORE_READ(mnt, mnt_mountpoint);
		w->mnt = parent_mnt;
		w->mnt_root = BPF_CORE_READ(parent_mnt, mnt.mnt_root);
		return 0;
	}
	parent = BPF_CORE_READ(dentry, d_parent);
	if (!parent || parent == dentry) {
		w->done = 1;
		return 1;
	}
	len = BPF_CORE_READ(dentry, d_name.len);
	name = BPF_CORE_READ(dentry, d_name.name);
	/* a name is at most 255 bytes (NAME_MAX); pos stays >= 1, so the
	 * built part is at most FS_PATH_MAX - 1 */
	if (len > 255 || len + 1 >= w->pos) {
		w->truncated = 1;
		return 1;
	}
	s = scratch();
	if (!s)
		return 1;
	w->pos -= len + 1;
	pos = w->pos & PATH_MASK;
	s->walk[pos] = '/';
	bpf_probe_read_kernel(s->walk + pos + 1, len & 255, name);
	w->dentry = parent;
	return 0;
}

/*
 * Writes the full path of (dentry, vfsmount) to out; returns its length
 * (without the NUL, at most FS_PATH_MAX - 1). "/" for the root.
 */
static __always_inline __u32 walk_path(struct fs_scratch *s, struct dentry *dentry,
				       struct vfsmount *vfsmnt, char *out, bool *truncated)
{
	struct walk w = {
		.dentry = dentry,
		/* real_mount() (fs/mount.h): the struct mount around it */
		.mnt = (struct mount *)((void *)vfsmnt -
					bpf_core_field_offset(struct mount, mnt)),
		.mnt_root = BPF_CORE_READ(vfsmnt, mnt_root),
		.pos = FS_PATH_MAX,
	};
	__u32 len;

	bpf_loop(FS_MAX_DEPTH, walk_step, &w, 0);
	if (w.truncated || !w.done)
		*truncated = true;
	len = FS_PATH_MAX - w.pos;
	if (len == 0) {
		out[0] = '/';
		out[1] = 0;
		return 1;
	}
	bpf_probe_read_kernel(out, len & PATH_MASK, s->walk + (w.pos & PATH_MASK));
	out[len & PATH_MASK] = 0;
	return len & PATH_MASK;
}

/* The full path of an open file, as walk_path() writes it. */
static __always_inline __u32 file_path(struct fs_scratch *s, struct file *file,
				       char *out, bool *truncated)
{
	return walk_path(s, BPF_CORE_READ(file, f_path.dentry),
			 BPF_CORE_READ(file, f_path.mnt), out, truncated);
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

/*
 * paths[which] = the name a syscall is given, made absolute with the
 * directory it is relative to (dfd, or the cwd for AT_FDCWD); *b says
 * how long it is, where its last component starts, and whether it is cut
 * or has components to normalise.
 */
static __always_inline void name_path(struct fs_scratch *s, __u32 which, int dfd,
				      const char *name, struct built *b)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	char *out = s->paths[which & 1].path;
	struct scan sc = { .which = which };
	struct dentry *dentry = NULL;
	struct vfsmount *mnt = NULL;
	struct file *dir;
	__u32 dirlen = 0;
	char first = 0;
	long copied;

	bpf_probe_read_user(&first, 1, name);
	if (first != '/') {
		/* one walk for either base, to keep the verifier's paths few */
		if (dfd == AT_FDCWD) {
			dentry = BPF_CORE_READ(task, fs, pwd.dentry);
			mnt = BPF_CORE_READ(task, fs, pwd.mnt);
		} else {
			dir = fd_file(dfd);
			dentry = BPF_CORE_READ(dir, f_path.dentry);
			mnt = BPF_CORE_READ(dir, f_path.mnt);
		}
		if (dentry && mnt)
			dirlen = walk_path(s, dentry, mnt, out, &b->truncated);
		/* the root is "/": the name follows its slash */
		if (dirlen == 1)
			dirlen = 0;
		out[dirlen & PATH_MASK] = '/';
		sc.start = dirlen & PATH_MASK;
		dirlen = (dirlen + 1) & PATH_MASK;
	}
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
