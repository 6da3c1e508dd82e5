/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which processes ringfence watches, decided in the kernel so that the rest
 * of the machine costs nothing in user space. Every sensor includes this;
 * the loader creates the maps once (in sensor.process) and hands the same
 * map fds to the other sensors before they load (bpf_map__reuse_fd).
 */
#ifndef RINGFENCE_SCOPE_H
#define RINGFENCE_SCOPE_H

#include "event.h"

enum scope_flag {
	/* A monitored process. Children inherit SCOPE_MONITORED on fork. */
	SCOPE_MONITORED = 1,
	/*
	 * A long-lived scope root (Runner.Worker, dockerd): never killed, and
	 * its exec and file rules are reported, not enforced. Its connections
	 * are judged like a step's (only SCOPE_RUNNER widens them).
	 */
	SCOPE_EXEMPT = 2,
	/*
	 * The agent itself in `ringfence run`: not monitored, but every process
	 * it forks is, from its first instruction (no window between spawn and
	 * map insert).
	 */
	SCOPE_SPAWNER = 4,
	/*
	 * The agent's own process, in either mode: policed processes may not
	 * read its memory, trace it or signal it unrecorded.
	 */
	SCOPE_AGENT = 8,
	/*
	 * Joined at fork by its cgroup (lib/scope_cgroup.h), forked by a
	 * process outside the scope (the runner service): its first exec may
	 * make it a scope root by name. Not inherited.
	 */
	SCOPE_BY_CGROUP = 16,
	/*
	 * A root that is the CI runner itself (scope.runner.processes): its
	 * own connections may also reach the runner's hosts (the runner_*
	 * maps of sensor.network). Never inherited: its children are steps.
	 */
	SCOPE_RUNNER = 32,
	/*
	 * Spawned by a package manager (sensor.process's dep_manager_comms):
	 * until the agent has read its environment and working directory, it
	 * may be a dependency's install script, and
	 * dependencies.install_scripts judges it as one (fail closed).
	 * Inherited at fork; the agent clears it once it has decided.
	 */
	SCOPE_DEP_PENDING = 64,
	/*
	 * A dependency's install script (or a descendant of one) that
	 * dependencies.install_scripts applies to: set by the agent, inherited
	 * at fork.
	 */
	SCOPE_DEPENDENCY = 128,
	/*
	 * A dependency's install or build script (or a descendant of one),
	 * whatever dependencies.install_scripts says of it: set by the agent
	 * once it has named the package, inherited at fork. The code a
	 * poisoned package runs: its changes under bulk directories are sent
	 * one by one, never counted (lib/bulk.h).
	 */
	SCOPE_DEP_SCRIPT = 256,
};
BTF_KEEP_ENUM(scope_flag);

struct scope_entry {
	__u32 flags;		/* SCOPE_* */
	__u32 root_pid;		/* the scope root this process descends from */
};

/* scope_pids' capacity unless the loader sets another (a test's) */
#define SCOPE_MAX_PROCESSES 65536

/* pid (tgid) -> scope_entry */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, SCOPE_MAX_PROCESSES);
	__type(key, __u32);
	__type(value, struct scope_entry);
} scope_pids SEC(".maps");

/* comm of a process that becomes a scope root when it execs */
struct scope_comm {
	char comm[TASK_COMM_LEN];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct scope_comm);
	__type(value, __u32);
} scope_root_comms SEC(".maps");

/* Counters every sensor keeps, summed over CPUs by the loader. */
enum sensor_stat {
	STAT_EVENTS = 0,	/* records submitted */
	STAT_DROPS = 1,		/* records lost: ring buffer full */
	STAT_SCOPE_FULL = 2,	/* processes not tracked: scope_pids full */
	STAT_REFUSED = 3,	/* actions refused in the kernel (block mode) */
	STAT_KILLED = 4,	/* processes sent SIGKILL (block mode) */
	STAT_SUMMARISED = 5,	/* changes counted in a summary map, not sent */
	STAT_MAX = 8,
};
BTF_KEEP_ENUM(sensor_stat);

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, STAT_MAX);
	__type(key, __u32);
	__type(value, __u64);
} stats SEC(".maps");

static __always_inline void stat_inc(__u32 which)
{
	__u64 *count = bpf_map_lookup_elem(&stats, &which);

	if (count)
		*count += 1;
}

/* The scope entry of the current process, or NULL when it is not watched. */
static __always_inline struct scope_entry *current_scope(void)
{
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct scope_entry *entry = bpf_map_lookup_elem(&scope_pids, &pid);

	if (entry && (entry->flags & SCOPE_MONITORED))
		return entry;
	return NULL;
}

/* The header's type, time, ids and cgroup, from the current task. */
static __always_inline void fill_header_rest(struct event_header *header,
					     __u8 type, __u8 kind)
{
	__u64 uid_gid = bpf_get_current_uid_gid();

	header->type = type;
	header->kind = kind;
	header->flags = 0;
	header->time_ns = bpf_ktime_get_boot_ns();
	header->uid = (__u32)uid_gid;
	header->gid = uid_gid >> 32;
	header->cgroup_id = bpf_get_current_cgroup_id();
}

/* The common header from the current task, but for its parent's pid. */
static __always_inline void fill_header_but_ppid(struct event_header *header,
						 __u8 type, __u8 kind)
{
	__u64 pid_tgid = bpf_get_current_pid_tgid();

	fill_header_rest(header, type, kind);
	header->tid = (__u32)pid_tgid;
	header->pid = pid_tgid >> 32;
	bpf_get_current_comm(header->comm, sizeof(header->comm));
}

/* Fill the common header from the current task. */
static __always_inline void fill_header(struct event_header *header,
					__u8 type, __u8 kind)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	fill_header_but_ppid(header, type, kind);
	header->ppid = BPF_CORE_READ(task, real_parent, tgid);
}

/*
 * fill_header() in a tracing program (a raw tracepoint, an LSM hook):
 * the current task's pid, tgid and comm (NUL-padded by the kernel) by
 * plain loads through BTF, where the helpers cost more; the rest as
 * fill_header() has it. Each load through a pointer the task holds (its
 * parent, cred or cgroups) makes the verifier look the pointer's type up
 * in the kernel's BTF at every place it checks it, which with the header
 * inlined at every event weighs on the sensors' load; probe reads do not
 * cost that.
 */
static __always_inline void fill_header_traced(struct event_header *header,
					       __u8 type, __u8 kind)
{
	struct task_struct *task = bpf_get_current_task_btf();

	fill_header_rest(header, type, kind);
	header->tid = task->pid;
	header->pid = task->tgid;
	__builtin_memcpy(header->comm, task->comm, sizeof(header->comm));
	header->ppid = BPF_CORE_READ(task, real_parent, tgid);
}

#endif /* RINGFENCE_SCOPE_H */
