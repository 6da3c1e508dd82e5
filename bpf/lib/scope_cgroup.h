/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Scope by cgroup: a process outside the scope map whose cgroup v2 (or an
 * ancestor of it) is a scope cgroup joins the scope at fork or exec, so a
 * process that was re-parented away, or moved into the runner's cgroup,
 * is watched all the same. sensor.process includes this; the agent fills
 * scope_cgroups and scope_state.
 */
#ifndef RINGFENCE_SCOPE_CGROUP_H
#define RINGFENCE_SCOPE_CGROUP_H

#include "scope.h"

/* The index of each switch in scope_state (a u32 each, 0 = off). */
enum scope_state_key {
	/* scope_cgroups has entries: unscoped forks and execs are checked */
	SCOPE_STATE_CGROUPS = 0,
	/* block mode: a process the scope map cannot hold is killed */
	SCOPE_STATE_BLOCK = 1,
	/* the scope map was full once: untracked processes are policed at
	 * their syscalls from then on (set by the kernel, never cleared) */
	SCOPE_STATE_OVERFLOW = 2,
	SCOPE_STATE_MAX = 4,
};
BTF_KEEP_ENUM(scope_state_key);

/*
 * One u32 per switch rather than one struct: the agent writes its own
 * switches while the kernel may be setting SCOPE_STATE_OVERFLOW, and an
 * array lookup with a constant key costs no helper call.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, SCOPE_STATE_MAX);
	__type(key, __u32);
	__type(value, __u32);
} scope_state SEC(".maps");

/* Why a cgroup is in scope_cgroups (the value), for the agent. */
enum scope_cgroup_source {
	SCOPE_CGROUP_POLICY = 1,	/* named in scope.cgroups */
	SCOPE_CGROUP_RUNNER = 2,	/* the service cgroup of a scope root */
};
BTF_KEEP_ENUM(scope_cgroup_source);

#define SCOPE_CGROUP_MAX 256
/* cgroup levels looked at, the process's own first: sub-cgroups of a
 * scope cgroup count, down to this depth from the root */
#define SCOPE_CGROUP_DEPTH 16

/* cgroup v2 id (kernfs id, the directory's inode number) -> source */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCOPE_CGROUP_MAX);
	__type(key, __u64);
	__type(value, __u32);
} scope_cgroups SEC(".maps");

/* Whether a switch of scope_state is on. */
static __always_inline bool scope_state_on(__u32 key)
{
	__u32 *value = bpf_map_lookup_elem(&scope_state, &key);

	return value && *value;
}

/* Whether task's cgroup v2, or one of its ancestors, is a scope cgroup. */
static __always_inline bool in_scope_cgroup(struct task_struct *task)
{
	struct cgroup *cgroup = BPF_CORE_READ(task, cgroups, dfl_cgrp);
	struct cgroup_subsys_state *parent;
	__u64 id;

	for (int level = 0; level < SCOPE_CGROUP_DEPTH && cgroup; level++) {
		id = BPF_CORE_READ(cgroup, kn, id);
		if (bpf_map_lookup_elem(&scope_cgroups, &id))
			return true;
		/* a cgroup's own css is its `self`: the parent css is the
		 * parent cgroup's */
		parent = BPF_CORE_READ(cgroup, self.parent);
		if (!parent)
			break;
		cgroup = (struct cgroup *)((void *)parent -
					   bpf_core_field_offset(struct cgroup, self));
	}
	return false;
}

/* Whether task, outside scope_pids, belongs in scope by its cgroup. */
static __always_inline bool joins_by_cgroup(struct task_struct *task)
{
	return scope_state_on(SCOPE_STATE_CGROUPS) && in_scope_cgroup(task);
}

#endif /* RINGFENCE_SCOPE_CGROUP_H */
