// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sensor.process: fork, exec and exit of the processes in scope.
 *
 * Built on the sched tracepoints (kprobes and fentry are not available on
 * most CI kernels). The scope map is kept here: a child inherits its
 * parent's scope at fork, a process whose name is a scope root joins at
 * exec, and every process leaves at exit.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "lib/scope.h"
#include "lib/ring.h"
#include "process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SIGKILL 9

/*
 * 1 MiB: the fork, exec and exit records of about 2,900 programs (some
 * 360 bytes each together), for a burst while the agent is busy. The
 * kernel maps every page of a ring into the agent at once, so each MiB
 * here is a MiB of the agent's RSS.
 */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

/* exec events are built here: too large for the 512-byte BPF stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct process_event);
} exec_scratch SEC(".maps");

/* [0]: how process.deny is enforced, written by the loader */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct process_config);
} process_config SEC(".maps");

/* forbidden executables by full path ("/usr/bin/nc") */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_path_key);
	__type(value, __u32);
} deny_exec_paths SEC(".maps");

/* forbidden executables by name ("**\/xmrig"): matched on comm, which exec
 * sets to the file name cut at 15 bytes */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct scope_comm);
	__type(value, __u32);
} deny_exec_names SEC(".maps");

/* the path lookup key: 512 bytes, too large for the stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct exec_path_key);
} path_scratch SEC(".maps");

#define PROCESS_EVENT_FIXED_SIZE offsetof(struct process_event, data)

static __always_inline void submit(void *event, __u64 size)
{
	if (bpf_ringbuf_output(&events, event, size, ring_wakeup(&events)))
		stat_inc(STAT_DROPS);
	else
		stat_inc(STAT_EVENTS);
}

SEC("raw_tp/sched_process_fork")
int BPF_PROG(handle_fork, struct task_struct *parent, struct task_struct *child)
{
	__u32 parent_pid = BPF_CORE_READ(parent, tgid);
	__u32 child_pid = BPF_CORE_READ(child, tgid);
	struct scope_entry *parent_scope, child_scope = {};
	struct process_event *event;

	/* a new thread, not a new process */
	if (BPF_CORE_READ(child, pid) != child_pid)
		return 0;

	parent_scope = bpf_map_lookup_elem(&scope_pids, &parent_pid);
	if (!parent_scope)
		return 0;

	/* children of the spawner are the roots of `ringfence run` */
	child_scope.flags = SCOPE_MONITORED;
	if (parent_scope->flags & SCOPE_SPAWNER)
		child_scope.root_pid = child_pid;
	else if (parent_scope->flags & SCOPE_MONITORED)
		child_scope.root_pid = parent_scope->root_pid;
	else
		return 0;

	if (bpf_map_update_elem(&scope_pids, &child_pid, &child_scope, BPF_ANY))
		stat_inc(STAT_SCOPE_FULL);

	/* reserve a fixed-size record: fork carries no data */
	event = bpf_ringbuf_reserve(&events, PROCESS_EVENT_FIXED_SIZE, 0);
	if (!event) {
		stat_inc(STAT_DROPS);
		return 0;
	}
	fill_header(&event->header, EVENT_TYPE_PROCESS, PROCESS_FORK);
	/* the event describes the child, which has no pid of its own yet in
	 * `current` (that is the parent) */
	event->header.tid = child_pid;
	event->header.pid = child_pid;
	event->header.ppid = BPF_CORE_READ(child, real_parent, tgid);
	event->exit_code = 0;
	event->exit_signal = 0;
	event->path_size = 0;
	event->argv_size = 0;
	bpf_ringbuf_submit(event, ring_wakeup(&events));
	stat_inc(STAT_EVENTS);
	return 0;
}

/* Whether the current process's (new) name is one of the scope roots. */
static __always_inline bool has_root_name(void)
{
	struct scope_comm name = {};

	bpf_get_current_comm(name.comm, sizeof(name.comm));
	return bpf_map_lookup_elem(&scope_root_comms, &name) != NULL;
}

/* Add the current process as a scope root. */
static __always_inline bool join_scope_as_root(__u32 pid)
{
	struct scope_entry root = {
		.flags = SCOPE_MONITORED | SCOPE_EXEMPT,
		.root_pid = pid,
	};

	if (bpf_map_update_elem(&scope_pids, &pid, &root, BPF_ANY)) {
		stat_inc(STAT_SCOPE_FULL);
		return false;
	}
	return true;
}

/*
 * Whether the program just exec'd is forbidden; kills it when the policy
 * says so. From sched_process_exec the signal lands before the new image
 * runs a single instruction: it cannot print, read or connect.
 */
static __always_inline __u16 enforce_exec_deny(const char *filename,
					       struct scope_entry *scope)
{
	struct scope_comm name = {};
	struct exec_path_key *key;
	struct process_config *config;
	__u32 zero = 0;
	bool denied;

	if (scope && (scope->flags & SCOPE_EXEMPT))
		return 0;
	bpf_get_current_comm(name.comm, sizeof(name.comm));
	denied = bpf_map_lookup_elem(&deny_exec_names, &name) != NULL;
	if (!denied) {
		key = bpf_map_lookup_elem(&path_scratch, &zero);
		if (!key)
			return 0;
		__builtin_memset(key, 0, sizeof(*key));
		bpf_probe_read_kernel_str(key->path, sizeof(key->path), filename);
		denied = bpf_map_lookup_elem(&deny_exec_paths, key) != NULL;
	}
	if (!denied)
		return 0;
	config = bpf_map_lookup_elem(&process_config, &zero);
	if (config && config->action == EXEC_DENY_KILL) {
		bpf_send_signal(SIGKILL);
		return PROCESS_FLAG_DENIED | PROCESS_FLAG_KILLED;
	}
	return PROCESS_FLAG_DENIED;
}

/*
 * Raw tracepoints here, as for fork: a perf-event tracepoint costs a
 * formatted trace record per call, and detaching one waits for RCU grace
 * periods, which every agent exit would pay.
 */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	/* what the sched_process_exec tracepoint copies: the path as given */
	const char *filename = BPF_CORE_READ(bprm, filename);
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long arg_start, arg_end, argv_len;
	struct scope_entry *scope;
	struct process_event *event;
	bool new_root = false;
	__u16 deny_flags;
	__u32 zero = 0;
	long path_size;

	scope = current_scope();
	if (!scope) {
		new_root = has_root_name() && join_scope_as_root(pid);
		if (!new_root)
			return 0;
	} else if ((scope->flags & SCOPE_EXEMPT) && !has_root_name()) {
		/* a root that becomes another program (exec without fork, as
		 * `sh -c cmd` does) is no longer the trusted runner */
		scope->flags &= ~SCOPE_EXEMPT;
	}

	deny_flags = enforce_exec_deny(filename, new_root ? NULL : scope);
	event = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!event)
		return 0;
	fill_header(&event->header, EVENT_TYPE_PROCESS, PROCESS_EXEC);
	event->header.flags |= deny_flags;
	if (new_root)
		event->header.flags |= PROCESS_FLAG_SCOPE_ROOT;
	event->exit_code = 0;
	event->exit_signal = 0;

	/* the path as given to execve */
	path_size = bpf_probe_read_kernel_str(event->data, PROCESS_PATH_MAX, filename);
	if (path_size < 0)
		path_size = 0;
	if (path_size >= PROCESS_PATH_MAX)
		event->header.flags |= PROCESS_FLAG_PATH_TRUNCATED;
	path_size &= PROCESS_PATH_MAX * 2 - 1;

	/* argv as laid out by execve on the new stack */
	arg_start = BPF_CORE_READ(task, mm, arg_start);
	arg_end = BPF_CORE_READ(task, mm, arg_end);
	argv_len = arg_end - arg_start;
	if (argv_len > PROCESS_ARGV_MAX) {
		argv_len = PROCESS_ARGV_MAX;
		event->header.flags |= PROCESS_FLAG_ARGV_TRUNCATED;
	}
	argv_len &= PROCESS_ARGV_MAX * 2 - 1;
	if (bpf_probe_read_user(event->data + path_size, argv_len, (void *)arg_start))
		argv_len = 0;

	event->path_size = path_size;
	event->argv_size = argv_len;
	submit(event, PROCESS_EVENT_FIXED_SIZE + path_size + argv_len);
	return 0;
}

SEC("raw_tp/sched_process_exit")
int BPF_PROG(handle_exit)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct scope_entry *scope;
	struct process_event *event;
	__u32 status;

	/* a thread leaving a process that still has others */
	if (BPF_CORE_READ(task, signal, live.counter) != 0)
		return 0;

	scope = bpf_map_lookup_elem(&scope_pids, &pid);
	if (!scope)
		return 0;
	if (!(scope->flags & SCOPE_MONITORED)) {
		bpf_map_delete_elem(&scope_pids, &pid);
		return 0;
	}

	event = bpf_ringbuf_reserve(&events, PROCESS_EVENT_FIXED_SIZE, 0);
	if (event) {
		fill_header(&event->header, EVENT_TYPE_PROCESS, PROCESS_EXIT);
		status = BPF_CORE_READ(task, exit_code);
		event->exit_code = (status >> 8) & 0xff;
		event->exit_signal = status & 0x7f;
		event->path_size = 0;
		event->argv_size = 0;
		bpf_ringbuf_submit(event, ring_wakeup(&events));
		stat_inc(STAT_EVENTS);
	} else {
		stat_inc(STAT_DROPS);
	}
	/* pids are reused: a later process with this pid starts outside */
	bpf_map_delete_elem(&scope_pids, &pid);
	return 0;
}
