/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Full paths of open files, built by walking dentries: the raw
 * tracepoints the sensors run on have no bpf_d_path, so a path is put
 * together here the way the kernel's prepend_path() (fs/d_path.c) does,
 * one d_parent at a time, crossing to the parent mount at a mount's root.
 *
 * Paths are cut at DENTRY_PATH_MAX bytes and DENTRY_MAX_DEPTH directory
 * levels (the caller flags them truncated), and are relative to the mount
 * namespace's root: a chroot is not taken into account.
 */
#ifndef RINGFENCE_DENTRY_PATH_H
#define RINGFENCE_DENTRY_PATH_H

/* Bytes of a built path, with its NUL. */
#define DENTRY_PATH_MAX 1024
/* Directory levels walked up from a dentry: deeper paths are cut. */
#define DENTRY_MAX_DEPTH 64

/* a bound the verifier can see on offsets into one path */
#define PATH_MASK (DENTRY_PATH_MAX - 1)

/*
 * Where a dentry walk is: the dentry, its mount and that mount's root. It
 * lives in the per-CPU buffer, whose values the verifier does not track:
 * on the stack, each state the walk can end in (done, cut, detached, at
 * the start) would be verified through all the code after it.
 */
struct walk {
	struct dentry *dentry;
	struct mount *mnt;
	struct dentry *mnt_root;
	__u32 pos;		/* where the built part starts in walk[] */
	__u32 done;		/* reached the root */
	__u32 truncated;
	__u32 detached;		/* ended at a root that is no mount's */
};

/* The walk writes names backwards from DENTRY_PATH_MAX; one per CPU, as
 * a program runs on one, and too large for the 512-byte stack. */
struct dentry_walk_buf {
	struct walk w;
	char walk[DENTRY_PATH_MAX + 256];
	/* the last walk on this CPU ended at a dentry that is its own parent
	 * but no mount's root (a disconnected one, from a file handle): the
	 * path is relative to it and may change once it is connected */
	__u32 detached;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dentry_walk_buf);
} dentry_walk SEC(".maps");

static __always_inline struct dentry_walk_buf *walk_buf(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dentry_walk, &zero);
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

/*
 * fd_file() read directly through BTF: for the hot syscalls (write,
 * open), where a probe read per field costs more than the rest of the
 * hook. The verifier takes longer over it, so the rest use fd_file().
 */
static __always_inline struct file *fd_file_direct(long fd)
{
	struct task_struct *task = bpf_get_current_task_btf();
	struct files_struct *files = task->files;
	struct file *file = NULL;
	struct fdtable *fdt;

	if (!files)
		return NULL;
	fdt = files->fdt;
	if (!fdt || fd < 0 || fd >= fdt->max_fds)
		return NULL;
	bpf_probe_read_kernel(&file, sizeof(file), (struct file **)fdt->fd + fd);
	return file;
}

/*
 * One level up (bpf_loop): prepend "/name", or at the root of a mount
 * cross to where it is mounted in its parent, as prepend_path() does.
 */
static long walk_step(__u64 index, void *data)
{
	struct dentry_walk_buf *buf = walk_buf();
	struct dentry *dentry, *parent;
	struct mount *mnt, *parent_mnt;
	const unsigned char *name;
	struct walk *w;
	__u32 len, pos;

	if (!buf)
		return 1;
	w = &buf->w;
	/* locals: BPF_CORE_READ(w->mnt, ...) would relocate struct walk too */
	dentry = w->dentry;
	mnt = w->mnt;
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
		w->detached = 1;
		return 1;
	}
	len = BPF_CORE_READ(dentry, d_name.len);
	name = BPF_CORE_READ(dentry, d_name.name);
	/* a name is at most 255 bytes (NAME_MAX); pos stays >= 1, so the
	 * built part is at most DENTRY_PATH_MAX - 1 */
	if (len > 255 || len + 1 >= w->pos) {
		w->truncated = 1;
		return 1;
	}
	w->pos -= len + 1;
	pos = w->pos & PATH_MASK;
	buf->walk[pos] = '/';
	bpf_probe_read_kernel(buf->walk + pos + 1, len & 255, name);
	w->dentry = parent;
	return 0;
}

/*
 * Writes the full path of (dentry, vfsmount) to out, which holds
 * DENTRY_PATH_MAX bytes; returns its length (without the NUL, at most
 * DENTRY_PATH_MAX - 1). "/" for the root.
 */
static __always_inline __u32 walk_path(struct dentry *dentry, struct vfsmount *vfsmnt,
				       char *out, bool *truncated)
{
	struct dentry_walk_buf *buf = walk_buf();
	struct walk *w;
	__u32 len;

	if (!buf) {
		*truncated = true;
		out[0] = '/';
		out[1] = 0;
		return 1;
	}
	w = &buf->w;
	w->dentry = dentry;
	/* real_mount() (fs/mount.h): the struct mount around it */
	w->mnt = (struct mount *)((void *)vfsmnt - bpf_core_field_offset(struct mount, mnt));
	w->mnt_root = BPF_CORE_READ(vfsmnt, mnt_root);
	w->pos = DENTRY_PATH_MAX;
	w->done = 0;
	w->truncated = 0;
	w->detached = 0;
	bpf_loop(DENTRY_MAX_DEPTH, walk_step, NULL, 0);
	if (w->truncated || !w->done)
		*truncated = true;
	len = DENTRY_PATH_MAX - w->pos;
	buf->detached = w->detached;
	if (len == 0) {
		out[0] = '/';
		out[1] = 0;
		return 1;
	}
	bpf_probe_read_kernel(out, len & PATH_MASK, buf->walk + (w->pos & PATH_MASK));
	out[len & PATH_MASK] = 0;
	return len & PATH_MASK;
}

/* The full path of an open file, as walk_path() writes it. */
static __always_inline __u32 file_path(struct file *file, char *out, bool *truncated)
{
	return walk_path(BPF_CORE_READ(file, f_path.dentry),
			 BPF_CORE_READ(file, f_path.mnt), out, truncated);
}

#endif /* RINGFENCE_DENTRY_PATH_H */
