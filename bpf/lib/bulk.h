/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Bulk summary: a package manager or a build writes thousands of files
 * under node_modules, .venv, target/, ... (files.bulk). Such a directory
 * is a bulk root: the agent puts it in fs_prefixes with FS_CLASS_BULK and
 * the root's id in the value's high bits. With files.detail: summary, a
 * create, mkdir, symlink, unlink, rmdir or chmod there (a rename or link
 * when both paths are under roots) that nothing but files.watch cares
 * about is counted per process and root in fs_summaries instead of sent.
 *
 * What stays a record: the first change of each process under each root
 * (the agent learns the process, its step and an example path), every
 * change a protect, secret, kill or install-script class names, opens
 * for writing, truncates and writes of existing files (a package that
 * rewrites another's file stays visible), every change of a dependency's
 * install or build script or of a package manager's child not yet
 * classified (one that replaces another package's file by rename, or by
 * unlink and create, or drops a file the module resolver finds first,
 * stays visible too), a checkout's changes (git: what tamper detection
 * keys on), a path that is cut or not normal (its prefix match says
 * nothing sure), and anything when fs_summaries is full.
 */
#ifndef RINGFENCE_BULK_H
#define RINGFENCE_BULK_H

#include "../file_system.h"
#include "scope.h"

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fs_summary_key);
	__type(value, struct fs_summary);
} fs_summaries SEC(".maps");

/*
 * Bulk root id -> nonzero once a checkout changed something under it: the
 * files there are checked out, and tamper detection needs every change to
 * them. Set here, at the checkout's own change, so no change slips into a
 * summary before the agent takes the root out of fs_prefixes.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, FS_BULK_ROOTS);
	__type(key, __u32);
	__type(value, __u32);
} fs_bulk_retired SEC(".maps");

static __always_inline bool bulk_retired(__u32 root)
{
	__u32 *retired = bpf_map_lookup_elem(&fs_bulk_retired, &root);

	/* an id beyond the array is not one the agent hands out: full */
	return !retired || *retired;
}

static __always_inline void bulk_retire(__u32 root)
{
	__u32 *retired = bpf_map_lookup_elem(&fs_bulk_retired, &root);

	if (root && retired)
		*retired = 1;
}

/* The kinds a summary counts: what creating or removing a tree does. */
static __always_inline bool bulk_kind(__u8 kind, bool two)
{
	switch (kind) {
	case FS_CREATE:
	case FS_MKDIR:
	case FS_SYMLINK:
	case FS_UNLINK:
	case FS_RMDIR:
	case FS_CHMOD:
		return !two;
	case FS_RENAME:
	case FS_LINK:
		return two;
	}
	return false;
}

/* Whether the current task is a checkout: comm "git" or "git-*". */
static __always_inline bool bulk_checkout(void)
{
	char comm[16] = {};

	bpf_get_current_comm(comm, sizeof(comm));
	return comm[0] == 'g' && comm[1] == 'i' && comm[2] == 't' &&
	       (comm[3] == 0 || comm[3] == '-');
}

static __always_inline bool bulk_path(struct built *b)
{
	return b->root && !b->truncated && !b->odd;
}

/*
 * The scope flags of a process whose changes are never summarised: a
 * dependency's script, named (SCOPE_DEP_SCRIPT, SCOPE_DEPENDENCY) or not
 * yet classified (SCOPE_DEP_PENDING, fail closed). The package manager
 * itself, which unpacks the packages, is none of them.
 */
#define BULK_FULL_SCOPE (SCOPE_DEP_PENDING | SCOPE_DEPENDENCY | SCOPE_DEP_SCRIPT)

/*
 * Counts the change in fs_summaries when it may be summarised; true when
 * it was (no record then). The first change of a process under a root,
 * a change by a dependency's script (scope: the process's SCOPE_* flags),
 * and any change fs_summaries has no room for, is left to be sent.
 */
static __always_inline bool bulk_summarise(struct file_system_config *cfg, __u8 kind,
					   __u32 classes, struct built *b0,
					   struct built *b1, bool two, __u32 scope)
{
	struct fs_summary_key key = {};
	struct fs_summary *summary;
	__u32 index;
	__u64 now;

	if (!cfg || !cfg->summary || !(classes & FS_CLASS_BULK))
		return false;
	if (bulk_checkout()) {
		bulk_retire(b0->root);
		if (two)
			bulk_retire(b1->root);
		return false;
	}
	if (!bulk_kind(kind, two) || (classes & ~(FS_CLASS_WATCH | FS_CLASS_BULK)))
		return false;
	if (scope & BULK_FULL_SCOPE)
		return false;
	if (!bulk_path(b0) || (two && !bulk_path(b1)))
		return false;
	if (bulk_retired(b0->root) || (two && bulk_retired(b1->root)))
		return false;
	key.tgid = bpf_get_current_pid_tgid() >> 32;
	key.root = b0->root;
	now = bpf_ktime_get_boot_ns();
	summary = bpf_map_lookup_elem(&fs_summaries, &key);
	if (!summary) {
		struct fs_summary fresh = { .first = now, .last = now };

		/* the first change: sent in full, and counted from the next */
		if (!bpf_map_update_elem(&fs_summaries, &key, &fresh, BPF_NOEXIST))
			return false;
		/* another thread made it meanwhile, or the map is full */
		summary = bpf_map_lookup_elem(&fs_summaries, &key);
		if (!summary)
			return false;
	}
	/* the compiler knows kind is small and drops a mask it sees: hide it */
	index = kind;
	asm volatile("" : "+r"(index));
	__sync_fetch_and_add(&summary->count[index & 15], 1);
	summary->last = now;
	stat_inc(STAT_SUMMARISED);
	return true;
}

#endif /* RINGFENCE_BULK_H */
