/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A full scope map fails closed. When a process that should be in scope
 * cannot be added to scope_pids (STAT_SCOPE_FULL), it is remembered in
 * scope_untracked, reported (PROCESS_UNTRACKED) and, in block mode,
 * killed: at exec at once (before the new image runs), and for a child at
 * fork, where only the parent is `current`, at its first syscall, when
 * raw_tp/sys_enter sees it. That syscall still runs (the signal lands on
 * its way back), so a child whose very first syscall sends data can send
 * that once; every later action is prevented.
 *
 * Included by sensor.process after its `events` ring, PROCESS_EVENT_FIXED_SIZE
 * and SIGKILL. Costs nothing per syscall until the map was full once: one
 * array lookup (SCOPE_STATE_OVERFLOW) that the verifier inlines.
 */
#ifndef RINGFENCE_SCOPE_OVERFLOW_H
#define RINGFENCE_SCOPE_OVERFLOW_H

#include "scope_cgroup.h"
#include "../process.h"

/* scope_untracked.state */
enum untracked_state {
	UNTRACKED_REPORTED = 1,
	UNTRACKED_KILLED = 2,
};
BTF_KEEP_ENUM(untracked_state);

/* A process that belongs in scope but that scope_pids could not hold. */
struct scope_untracked {
	__u32 parent_pid;	/* the process that forked it */
	__u32 state;		/* UNTRACKED_* */
};

/*
 * pid -> scope_untracked. LRU: it never refuses an entry; one evicted
 * while its process still runs is found again by its parent at sys_enter.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u32);
	__type(value, struct scope_untracked);
} scope_untracked SEC(".maps");

/* Sends the PROCESS_UNTRACKED record of pid (forked by parent). */
static __always_inline void report_untracked(__u32 pid, __u32 parent, bool killed)
{
	struct process_event *event;

	event = bpf_ringbuf_reserve(&events, PROCESS_EVENT_FIXED_SIZE, 0);
	if (!event) {
		stat_inc(STAT_DROPS);
		return;
	}
	fill_header(&event->header, EVENT_TYPE_PROCESS, PROCESS_UNTRACKED);
	/* at fork `current` is the parent: the record is the child's */
	event->header.pid = pid;
	event->header.tid = pid;
	event->header.ppid = parent;
	if (killed)
		event->header.flags |= PROCESS_FLAG_KILLED;
	event->exit_code = 0;
	event->exit_signal = 0;
	event->path_size = 0;
	event->argv_size = 0;
	event->file_size = 0;
	event->rule = 0;
	bpf_ringbuf_submit(event, ring_wakeup(&events, sizeof(*event), true));
	stat_inc(STAT_EVENTS);
}

/*
 * Remembers pid as untracked and reports it; with `now` (pid is
 * `current`) kills it in block mode, otherwise sys_enter does.
 */
static __always_inline void untracked(__u32 pid, __u32 parent, bool now)
{
	struct scope_untracked entry = {
		.parent_pid = parent,
		.state = UNTRACKED_REPORTED,
	};
	__u32 key = SCOPE_STATE_OVERFLOW, *overflow;
	bool block = scope_state_on(SCOPE_STATE_BLOCK);

	overflow = bpf_map_lookup_elem(&scope_state, &key);
	if (overflow)
		*overflow = 1;
	if (block && now) {
		bpf_send_signal(SIGKILL);
		stat_inc(STAT_KILLED);
		entry.state |= UNTRACKED_KILLED;
	}
	bpf_map_update_elem(&scope_untracked, &pid, &entry, BPF_ANY);
	/* in block mode a child is killed at its first syscall */
	report_untracked(pid, parent, block);
}

/* At fork: the child's scope entry did not fit. */
static __always_inline void untracked_child(__u32 parent, __u32 child)
{
	stat_inc(STAT_SCOPE_FULL);
	untracked(child, parent, false);
}

/*
 * At fork of a process outside scope_pids: a child of an untracked
 * process is untracked too (it lives only in audit mode). True when so.
 */
static __always_inline bool untracked_parent(__u32 parent, __u32 child)
{
	if (!scope_state_on(SCOPE_STATE_OVERFLOW) ||
	    !bpf_map_lookup_elem(&scope_untracked, &parent))
		return false;
	untracked(child, parent, false);
	return true;
}

/* At exec: the current process could not join the scope. */
static __always_inline void untracked_exec(__u32 pid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	stat_inc(STAT_SCOPE_FULL);
	untracked(pid, BPF_CORE_READ(task, real_parent, tgid), true);
}

/*
 * The slow path of police_untracked(), once the map was full: a global
 * function, which the verifier checks once rather than once per state of
 * the program that calls it (raw_tp/sys_enter's dispatcher).
 */
__noinline int police_untracked_current(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct scope_untracked *entry;
	struct scope_entry *parent_scope;
	__u32 parent;

	if (bpf_map_lookup_elem(&scope_pids, &pid))
		return 0;
	entry = bpf_map_lookup_elem(&scope_untracked, &pid);
	if (entry) {
		if (!(entry->state & UNTRACKED_KILLED) &&
		    scope_state_on(SCOPE_STATE_BLOCK)) {
			bpf_send_signal(SIGKILL);
			stat_inc(STAT_KILLED);
			entry->state |= UNTRACKED_KILLED;
		}
		return 0;
	}
	/* evicted from scope_untracked, or never in it: found by its parent */
	parent = BPF_CORE_READ(task, real_parent, tgid);
	parent_scope = bpf_map_lookup_elem(&scope_pids, &parent);
	if ((parent_scope &&
	     (parent_scope->flags & (SCOPE_MONITORED | SCOPE_SPAWNER))) ||
	    bpf_map_lookup_elem(&scope_untracked, &parent))
		untracked(pid, parent, true);
	return 0;
}

/*
 * From raw_tp/sys_enter: kills (block mode) a process that belongs in
 * scope but is not in scope_pids. One inlined array lookup until the
 * scope map was full once.
 */
static __always_inline void police_untracked(void)
{
	if (scope_state_on(SCOPE_STATE_OVERFLOW))
		police_untracked_current();
}

/* At exit: the pid may be reused by a process that is not untracked. */
static __always_inline void untracked_exit(__u32 pid)
{
	if (scope_state_on(SCOPE_STATE_OVERFLOW))
		bpf_map_delete_elem(&scope_untracked, &pid);
}

#endif /* RINGFENCE_SCOPE_OVERFLOW_H */
