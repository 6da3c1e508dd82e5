/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What the prefix map says of a directory's children, cached by the
 * directory, so that a file created, opened or removed in a directory the
 * policy does not name costs no dentry walk and no path.
 *
 * A path D/name matches the same fs_prefixes entry as D/ itself unless an
 * entry is longer than D/ and starts with it. The loader keeps, in
 * fs_prefix_dirs, every directory cut ("/a/", "/a/b/") that is shorter
 * than an entry of fs_prefixes, so one lookup of D/ there tells whether
 * its children's verdict is D/'s. fs_dirs keeps that verdict (the prefix
 * map's value, all of its bits) by the directory as the walk saw it: its
 * mount, by the mount's never-reused id, and its device and inode.
 *
 * A verdict is valid in the generation it was learnt in. The generation
 * moves when a directory's path may have changed or its inode number may
 * have been freed: a rename or rmdir (by any process of the machine, by
 * syscall in either ABI or by io_uring), a mount, move_mount, umount or
 * pivot_root, and a change of the prefix map by the loader (its own
 * generation, in fs_dir_config). While such a
 * syscall is in flight (from its sys_enter to its sys_exit, counted in
 * moving) nothing is looked up or learnt: its change lands somewhere in
 * between, and the new generation comes at its sys_exit.
 */
#ifndef RINGFENCE_DIR_VERDICT_H
#define RINGFENCE_DIR_VERDICT_H

/* Key of fs_dirs: a directory reached through one mount. */
struct fs_dir_key {
	__u64 mnt;		/* struct mount's mnt_id_unique */
	__u64 ino;
	__u32 dev;
	__u32 pad;
};

/* Value of fs_dirs. */
struct fs_dir_verdict {
	__u64 gen;		/* fs_dir_state.gen when it was learnt */
	__u32 loader_gen;	/* fs_dir_config.gen when it was learnt */
	__u32 value;		/* fs_prefixes' value for "D/" (0: no entry) */
	__u32 deeper;		/* an fs_prefixes entry is longer than "D/": walk */
	__u32 pad;
};

/* The one value of fs_dir_state, which only the kernel writes (atomically). */
struct fs_dir_state {
	__u64 gen;		/* the generation of verdicts */
	__s64 moving;		/* directory-changing syscalls in flight */
	__u32 broken;		/* an in-flight change could not be counted: off for good */
	__u32 pad;
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_dir_state);
} fs_dir_state SEC(".maps");

/*
 * The one value of fs_dir_config, which only the loader writes: a write
 * from user space replaces the whole value, which would lose the kernel's
 * atomic counts in fs_dir_state.
 */
struct fs_dir_config {
	__u32 enabled;		/* set once the hooks are attached */
	__u32 gen;		/* moved after each change of fs_prefixes */
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_dir_config);
} fs_dir_config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, struct fs_dir_key);
	__type(value, struct fs_dir_verdict);
} fs_dirs SEC(".maps");

/* directory cuts shorter than an fs_prefixes entry -> their length in bytes */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 8192);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_prefix_key);
	__type(value, __u32);
} fs_prefix_dirs SEC(".maps");

/*
 * Threads (by pid_tgid) and io_uring requests (by address) whose
 * directory-changing call is in flight: its end uncounts it only if its
 * start was counted.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u32);
} fs_dir_movers SEC(".maps");

#define EEXIST 17

/* a load the compiler makes once, where it is written */
#define DIR_READ_ONCE(x) (*(volatile typeof(x) *)&(x))

static __always_inline struct fs_dir_state *dir_state(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fs_dir_state, &zero);
}

/* A directory-changing call (by id: a thread, or an io_uring request) starts. */
static __always_inline void dir_change_begin(__u64 id)
{
	struct fs_dir_state *st = dir_state();
	__u32 one = 1;
	long err;

	if (!st)
		return;
	err = bpf_map_update_elem(&fs_dir_movers, &id, &one, BPF_NOEXIST);
	if (!err)
		__sync_fetch_and_add(&st->moving, 1);
	else if (err != -EEXIST)
		/* uncounted, its change could land unseen: no more verdicts */
		st->broken = 1;
}

/* It has ended: a new generation, then it no longer counts as in flight. */
static __always_inline void dir_change_end(__u64 id)
{
	struct fs_dir_state *st = dir_state();

	if (!st)
		return;
	__sync_fetch_and_add(&st->gen, 1);
	if (!bpf_map_delete_elem(&fs_dir_movers, &id))
		__sync_fetch_and_add(&st->moving, -1);
}

/* A CO-RE field of type read from window, a copy of the struct's first bytes. */
#define WINDOW_GET(window, type, field)                                        \
	(*(typeof(((type *)0)->field) *)((void *)(window) +                     \
					  bpf_core_field_offset(type, field)))
/* Whether window_size bytes of type hold field (else it is read on its own). */
#define WINDOW_HAS(window_size, type, field)                                   \
	(bpf_core_field_offset(type, field) + bpf_core_field_size(type, field) <= \
	 (window_size))

/* Where a directory's verdict is looked up, and what was found. */
struct dir_lookup {
	struct fs_dir_key key;
	__u64 gen;
	__u32 loader_gen;
	bool usable;		/* no change in flight: a verdict may be used or learnt */
	bool found;		/* a verdict of this generation was there */
	bool deeper;
	__u32 value;
	/* the directory's dentry and mount as the early check read them (0:
	 * it did not get that far): the path that follows is walked from
	 * them, so the verdict and path learnt for the key are this
	 * directory's even if the cwd, the fd or the file's parent changes
	 * meanwhile */
	__u64 dir_dentry;
	__u64 dir_mnt;
};

/*
 * Looks up the verdict of the directory (mount id, inode, device) into
 * *l. Reads the in-flight count before the generation: a change that
 * ended in between has moved the generation.
 */
static __always_inline void dir_lookup_by(__u64 mnt_id, __u64 ino, __u32 dev,
					  struct dir_lookup *l)
{
	struct fs_dir_state *st = dir_state();
	struct fs_dir_config *cfg;
	struct fs_dir_verdict *v;
	__u32 zero = 0;

	l->usable = false;
	l->found = false;
	cfg = bpf_map_lookup_elem(&fs_dir_config, &zero);
	if (!st || !cfg || !cfg->enabled || st->broken || DIR_READ_ONCE(st->moving))
		return;
	l->gen = DIR_READ_ONCE(st->gen);
	l->loader_gen = DIR_READ_ONCE(cfg->gen);
	l->key.mnt = mnt_id;
	l->key.ino = ino;
	l->key.dev = dev;
	l->key.pad = 0;
	l->usable = true;
	v = bpf_map_lookup_elem(&fs_dirs, &l->key);
	if (!v || v->gen != l->gen || v->loader_gen != l->loader_gen)
		return;
	l->found = true;
	l->deeper = v->deeper;
	l->value = v->value;
}

/* Looks up the verdict of directory dentry on vfsmnt into *l. */
static __always_inline void dir_lookup(struct dentry *dentry, struct vfsmount *vfsmnt,
				       struct dir_lookup *l)
{
	struct mount *mnt = (struct mount *)((void *)vfsmnt -
					     bpf_core_field_offset(struct mount, mnt));
	/* the inode's first bytes read whole, where they hold i_sb and i_ino */
	__u64 window[9];
	struct inode *inode;
	struct super_block *sb;
	__u64 ino;

	l->usable = false;
	l->found = false;
	if (!dentry || !vfsmnt || !bpf_core_field_exists(mnt->mnt_id_unique))
		return;
	inode = BPF_CORE_READ(dentry, d_inode);
	if (!inode)
		return;
	if (WINDOW_HAS(sizeof(window), struct inode, i_sb) &&
	    WINDOW_HAS(sizeof(window), struct inode, i_ino)) {
		if (bpf_probe_read_kernel(window, sizeof(window), inode))
			return;
		sb = WINDOW_GET(window, struct inode, i_sb);
		ino = WINDOW_GET(window, struct inode, i_ino);
	} else {
		sb = BPF_CORE_READ(inode, i_sb);
		ino = BPF_CORE_READ(inode, i_ino);
	}
	dir_lookup_by(BPF_CORE_READ(mnt, mnt_id_unique), ino, BPF_CORE_READ(sb, s_dev), l);
}

/*
 * Learns the verdict of the directory of l from a path built in p whose
 * first dirlen bytes are the directory with its trailing slash ("/a/b/",
 * or "/"). A path cut short or longer than the prefix map compares is
 * learnt as "walk".
 */
static __always_inline void dir_learn(struct dir_lookup *l, struct fs_path_buf *p,
				      __u32 dirlen, bool whole)
{
	struct fs_dir_verdict v = { .gen = l->gen, .loader_gen = l->loader_gen, .deeper = 1 };
	__u32 prefixlen = p->prefixlen, *value;

	if (!l->usable || l->found)
		return;
	if (whole && dirlen >= 1 && dirlen < FS_PREFIX_MAX) {
		p->prefixlen = dirlen * 8;
		value = bpf_map_lookup_elem(&fs_prefix_dirs, p);
		if (!value || *value != dirlen) {
			v.deeper = 0;
			value = bpf_map_lookup_elem(&fs_prefixes, p);
			v.value = value ? *value : 0;
		}
		p->prefixlen = prefixlen;
	}
	bpf_map_update_elem(&fs_dirs, &l->key, &v, BPF_ANY);
}

#endif /* RINGFENCE_DIR_VERDICT_H */
