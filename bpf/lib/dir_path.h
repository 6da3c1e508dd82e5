/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Paths of directories, cached by the directory as dir_verdict.h caches
 * their verdicts, so that a change in a directory the policy watches
 * (node_modules, 8 to 12 levels down a workspace) costs one lookup, not
 * a dentry walk of every level.
 *
 * A path is cached under the key and generation of the early check's
 * lookup (struct dir_lookup), which read the generation before the walk
 * starts: a rename, rmdir or mount that changes the path while the walk
 * runs, or after, has moved the generation by the time the path could be
 * used. The walk starts from the directory the early check read (for a
 * file, from a file whose parent is still that directory), so the path
 * stored is the key's own. Paths cut short or ending at a disconnected
 * dentry are not cached.
 */
#ifndef RINGFENCE_DIR_PATH_H
#define RINGFENCE_DIR_PATH_H

#include "dentry_path.h"
#include "dir_verdict.h"

/* Value of fs_dir_paths. */
struct fs_dir_path {
	__u64 gen;		/* fs_dir_state.gen when it was walked */
	__u32 len;		/* without the NUL; "/" is 1 */
	__u32 pad;
	char path[DENTRY_PATH_MAX];
};

/* A package's tree is written one directory after another: a thousand
 * directories hold what a burst of changes touches. */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 1024);
	__type(key, struct fs_dir_key);
	__type(value, struct fs_dir_path);
} fs_dir_paths SEC(".maps");

/* where a path is put together before it is stored: too large for the stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_dir_path);
} fs_dir_path_stage SEC(".maps");

/*
 * walk_path() of dentry on vfsmnt through the cache of l's directory (l
 * NULL: none), where dentry is that directory, or with file a file in it.
 * The cache is used only while the directory is the one the early check
 * looked up: a rename that has since put the file in another one ended
 * before that check's generation was read, or moves the generation.
 */
static __always_inline __u32 cached_walk(struct dentry *dentry, struct vfsmount *vfsmnt,
					 char *out, bool *truncated,
					 const struct dir_lookup *l, bool file)
{
	struct dentry_walk_buf *buf = walk_buf();
	const unsigned char *name = NULL;
	struct fs_dir_path *cached;
	__u32 namelen = 0, len, dirlen, zero = 0;
	bool use = l && l->usable && buf, cut = false;

	if (use && file) {
		use = (__u64)BPF_CORE_READ(dentry, d_parent) == l->dir_dentry;
		name = BPF_CORE_READ(dentry, d_name.name);
		namelen = BPF_CORE_READ(dentry, d_name.len);
	} else if (use) {
		use = (__u64)dentry == l->dir_dentry;
	}
	if (use) {
		cached = bpf_map_lookup_elem(&fs_dir_paths, &l->key);
		if (cached && cached->gen == l->gen && namelen <= 255 &&
		    cached->len + 1 + namelen < DENTRY_PATH_MAX) {
			dirlen = cached->len & PATH_MASK;
			bpf_probe_read_kernel(out, dirlen, cached->path);
			if (file) {
				/* the root is "/": the name follows its slash */
				if (dirlen == 1)
					dirlen = 0;
				out[dirlen] = '/';
				bpf_probe_read_kernel(out + dirlen + 1, namelen & 255, name);
				dirlen = (dirlen + 1 + (namelen & 255)) & PATH_MASK;
			}
			out[dirlen] = 0;
			buf->detached = 0;
			return dirlen;
		}
	}
	len = walk_path(dentry, vfsmnt, out, &cut);
	if (cut)
		*truncated = true;
	if (!use || cut || buf->detached)
		return len;
	dirlen = len;
	if (file) {
		if (len <= namelen)
			return len;
		dirlen = len - namelen - 1;
		/* "/name": the directory is the root */
		if (dirlen == 0)
			dirlen = 1;
	}
	cached = bpf_map_lookup_elem(&fs_dir_path_stage, &zero);
	if (!cached)
		return len;
	cached->gen = l->gen;
	cached->len = dirlen;
	bpf_probe_read_kernel(cached->path, dirlen & PATH_MASK, out);
	bpf_map_update_elem(&fs_dir_paths, &l->key, cached, BPF_ANY);
	return len;
}

#endif /* RINGFENCE_DIR_PATH_H */
