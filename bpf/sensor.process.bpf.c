// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sensor.process: fork, exec and exit of the processes in scope.
 *
 * Built on the sched tracepoints (kprobes and fentry are not available on
 * most CI kernels). The scope map is kept here: a child inherits its
 * parent's scope at fork, a process whose name is a scope root joins at
 * exec, and every process leaves at exit.
 *
 * A process outside the scope map joins it by its cgroup
 * (lib/scope_cgroup.h), and a full scope map fails closed
 * (lib/scope_overflow.h).
 *
 * process.deny is judged on the file run: at exec, bprm->file; and, for a
 * program a loader maps itself (`ld.so PROG`), the file of an mmap with
 * PROT_EXEC, seen from raw_tp/sys_enter.
 *
 * A package manager's child is captured at exec with what names the
 * package whose script it may run (lib/dependency.h).
 *
 * The guard (lib/guard.h) keeps policed processes from other processes'
 * memory, from bpf() and from signalling the agent unrecorded.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "lib/scope.h"
#include "lib/ring.h"
#include "lib/dentry_path.h"
#include "lib/syscall_chain.h"
#include "process.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SIGKILL 9
#define EEXIST 17

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

/*
 * Forbidden executables; each value is the index of the policy rule the
 * entry comes from, sent in the event. By file: (s_dev, i_ino) of the rule's
 * path as it resolved when the policy was applied.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct exec_file_key);
	__type(value, __u32);
} deny_exec_files SEC(".maps");

/* by the full path the kernel resolved ("/usr/bin/nc"): a file the rule
 * names that did not exist, or was replaced, when the policy was applied */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 2048);
	__type(key, struct exec_path_key);
	__type(value, __u32);
} deny_exec_paths SEC(".maps");

/* by name ("**\/xmrig"): the executed file's own name, and the comm exec
 * gives it (the name it was invoked by, as a multi-call binary such as
 * busybox dispatches on) */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, struct scope_comm);
	__type(value, __u32);
} deny_exec_names SEC(".maps");

/* sender pid -> the signals it sent to the agent (struct agent_signal) */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 256);
	__type(key, __u32);
	__type(value, struct agent_signal);
} agent_signals SEC(".maps");

/* The resolved path of the file checked; the first PROCESS_PATH_MAX bytes
 * are the deny_exec_paths key, so the lookup needs no copy. */
struct resolved {
	char path[DENTRY_PATH_MAX];
	__u32 len;		/* without the NUL */
	bool truncated;
};

/* too large for the 512-byte stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct resolved);
} resolved_scratch SEC(".maps");

#define PROCESS_EVENT_FIXED_SIZE offsetof(struct process_event, data)

static __always_inline void submit(void *event, __u64 size)
{
	if (bpf_ringbuf_output(&events, event, size, ring_wakeup(&events, size, false)))
		stat_inc(STAT_DROPS);
	else
		stat_inc(STAT_EVENTS);
}

#include "lib/scope_overflow.h"
#include "lib/dependency.h"

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
	if (!parent_scope) {
		/* from outside the scope: in only by its cgroup, as its own root */
		if (untracked_parent(parent_pid, child_pid) || !joins_by_cgroup(child))
			return 0;
		child_scope.flags = SCOPE_MONITORED | SCOPE_BY_CGROUP;
		child_scope.root_pid = child_pid;
	} else if (parent_scope->flags & SCOPE_SPAWNER) {
		/* children of the spawner are the roots of `ringfence run` */
		child_scope.flags = SCOPE_MONITORED;
		child_scope.root_pid = child_pid;
	} else if (parent_scope->flags & SCOPE_MONITORED) {
		/* a dependency's install script's children are its too */
		child_scope.flags = SCOPE_MONITORED |
			(parent_scope->flags & (SCOPE_DEP_PENDING | SCOPE_DEPENDENCY |
						SCOPE_DEP_SCRIPT));
		child_scope.root_pid = parent_scope->root_pid;
	} else {
		/* the agent's own children stay out, even in a scope cgroup:
		 * an entry without SCOPE_MONITORED keeps them (and theirs) out */
		if (joins_by_cgroup(child))
			bpf_map_update_elem(&scope_pids, &child_pid, &child_scope,
					    BPF_NOEXIST);
		return 0;
	}

	if (bpf_map_update_elem(&scope_pids, &child_pid, &child_scope, BPF_ANY))
		untracked_child(parent_pid, child_pid);

	/* reserve a fixed-size record: fork carries no data */
	event = bpf_ringbuf_reserve(&events, PROCESS_EVENT_FIXED_SIZE, 0);
	if (!event) {
		stat_inc(STAT_DROPS);
		return 0;
	}
	fill_header_but_ppid(&event->header, EVENT_TYPE_PROCESS, PROCESS_FORK);
	/* the event describes the child, which has no pid of its own yet in
	 * `current` (that is the parent) */
	event->header.tid = child_pid;
	event->header.pid = child_pid;
	event->header.ppid = BPF_CORE_READ(child, real_parent, tgid);
	event->exit_code = 0;
	event->exit_signal = 0;
	event->path_size = 0;
	event->argv_size = 0;
	bpf_ringbuf_submit(event, ring_wakeup(&events, sizeof(*event), true));
	stat_inc(STAT_EVENTS);
	return 0;
}

/*
 * The root flags for the current process's (new) name: the extra flags
 * its scope_root_comms value gives (SCOPE_RUNNER) plus SCOPE_EXEMPT, or 0
 * when it is not a root's name.
 */
static __always_inline __u32 root_name_flags(void)
{
	struct scope_comm name = {};
	__u32 *extra;

	bpf_get_current_comm(name.comm, sizeof(name.comm));
	extra = bpf_map_lookup_elem(&scope_root_comms, &name);
	return extra ? SCOPE_EXEMPT | (*extra & SCOPE_RUNNER) : 0;
}

/* Whether the current process's (new) name is one of the scope roots. */
static __always_inline bool has_root_name(void)
{
	return root_name_flags() != 0;
}

/* Add the current process as a scope root. */
static __always_inline bool join_scope_as_root(__u32 pid)
{
	struct scope_entry root = {
		.flags = SCOPE_MONITORED | root_name_flags(),
		.root_pid = pid,
	};

	if (bpf_map_update_elem(&scope_pids, &pid, &root, BPF_ANY)) {
		untracked_exec(pid);
		return false;
	}
	return true;
}

/*
 * Adds the current process, outside the scope map, when its cgroup is a
 * scope cgroup: one moved there, or forked before the agent started. Its
 * own root; never one of the agent's (kept out by their entry).
 */
static __always_inline bool join_scope_by_cgroup(__u32 pid)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	struct scope_entry entry = {
		.flags = SCOPE_MONITORED,
		.root_pid = pid,
	};
	long err;

	if (!joins_by_cgroup(task) || bpf_map_lookup_elem(&scope_pids, &pid))
		return false;
	err = bpf_map_update_elem(&scope_pids, &pid, &entry, BPF_NOEXIST);
	if (err && err != -EEXIST)
		untracked_exec(pid);
	return !err;
}

/* A name as a deny_exec_names key: NUL-padded, and only when it fits
 * (a rule's name is shorter than TASK_COMM_LEN, so a longer one differs). */
static __always_inline bool name_key(struct scope_comm *key, const unsigned char *name,
				     __u32 len)
{
	if (len >= TASK_COMM_LEN)
		return false;
	bpf_probe_read_kernel(key->comm, len & (TASK_COMM_LEN - 1), name);
	return true;
}

/*
 * Whether file is a forbidden program: by its inode, its own name, the
 * name it was invoked by (by_comm, at exec), or the path the kernel
 * resolved to it. *rule is the matching entry's value; r holds the
 * resolved path either way, for the event.
 */
static __always_inline bool file_denied(struct file *file, struct resolved *r,
					bool by_comm, __u32 *rule)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct exec_file_key fkey = {
		.dev = BPF_CORE_READ(inode, i_sb, s_dev),
		.ino = BPF_CORE_READ(inode, i_ino),
	};
	struct scope_comm name = {};
	__u32 *value;

	__builtin_memset(r->path, 0, PROCESS_PATH_MAX);
	r->truncated = false;
	r->len = file_path(file, r->path, &r->truncated);

	value = bpf_map_lookup_elem(&deny_exec_files, &fkey);
	if (!value && name_key(&name, BPF_CORE_READ(file, f_path.dentry, d_name.name),
			       BPF_CORE_READ(file, f_path.dentry, d_name.len)))
		value = bpf_map_lookup_elem(&deny_exec_names, &name);
	if (!value && by_comm) {
		__builtin_memset(&name, 0, sizeof(name));
		bpf_get_current_comm(name.comm, sizeof(name.comm));
		value = bpf_map_lookup_elem(&deny_exec_names, &name);
	}
	if (!value && !r->truncated && r->len < PROCESS_PATH_MAX)
		value = bpf_map_lookup_elem(&deny_exec_paths, r->path);
	if (!value)
		return false;
	*rule = *value;
	return true;
}

/* Whether process.deny has rules: without, no file is looked at. */
static __always_inline bool deny_rules(void)
{
	struct process_config *config;
	__u32 zero = 0;

	config = bpf_map_lookup_elem(&process_config, &zero);
	return config && config->rules;
}

/* Kills the current process when the policy says so; the deny flags. */
static __always_inline __u16 deny(void)
{
	struct process_config *config;
	__u32 zero = 0;

	config = bpf_map_lookup_elem(&process_config, &zero);
	if (config && config->action == EXEC_DENY_KILL) {
		bpf_send_signal(SIGKILL);
		stat_inc(STAT_KILLED);
		return PROCESS_FLAG_DENIED | PROCESS_FLAG_KILLED;
	}
	return PROCESS_FLAG_DENIED;
}

/*
 * Sends an exec record: path (a kernel string), the current argv, and
 * for a denied program its resolved path (r) and rule.
 */
static __always_inline void send_exec(const char *path, __u16 flags,
				      struct resolved *r, __u32 rule)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long arg_start, arg_end, argv_len;
	struct process_event *event;
	__u32 zero = 0, file_size = 0;
	long path_size;

	event = bpf_map_lookup_elem(&exec_scratch, &zero);
	if (!event)
		return;
	fill_header_traced(&event->header, EVENT_TYPE_PROCESS, PROCESS_EXEC);
	event->header.flags |= flags;
	event->exit_code = 0;
	event->exit_signal = 0;

	path_size = bpf_probe_read_kernel_str(event->data, PROCESS_PATH_MAX, path);
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

	if (flags & PROCESS_FLAG_DENIED) {
		file_size = bpf_probe_read_kernel_str(event->data + path_size + argv_len,
						      PROCESS_PATH_MAX, r->path);
		if ((long)file_size < 0)
			file_size = 0;
		if (r->truncated || file_size >= PROCESS_PATH_MAX)
			event->header.flags |= PROCESS_FLAG_FILE_TRUNCATED;
		file_size &= PROCESS_PATH_MAX * 2 - 1;
	}

	event->path_size = path_size;
	event->argv_size = argv_len;
	event->file_size = file_size;
	event->rule = rule;
	submit(event, PROCESS_EVENT_FIXED_SIZE + path_size + argv_len + file_size);
}

/* What exec_scope() found: in scope, judged by process.deny, a new root. */
#define EXEC_IN_SCOPE 1
#define EXEC_JUDGED 2
#define EXEC_NEW_ROOT 4

/*
 * The scope side of an exec: joins a process that becomes a root by its
 * name or belongs to a scope cgroup, and ends the trust of a root that
 * becomes another program. A function of its own, which the verifier
 * checks once, apart from the deny checks of the caller. 0 when the
 * process is out of scope, else EXEC_* bits.
 */
__noinline int exec_scope(__u32 pid)
{
	struct scope_entry *scope;
	bool new_root = false;

	scope = current_scope();
	if (!scope) {
		if (has_root_name())
			new_root = join_scope_as_root(pid);
		else if (join_scope_by_cgroup(pid))
			scope = current_scope();
		if (!new_root && !scope)
			return 0;
	} else if (scope->flags & SCOPE_BY_CGROUP) {
		/* the first exec after a fork from outside the scope (the
		 * runner service starting Runner.Worker) may make a root */
		scope->flags &= ~SCOPE_BY_CGROUP;
		if (has_root_name()) {
			scope->flags |= SCOPE_EXEMPT;
			scope->root_pid = pid;
			new_root = true;
		}
	} else if ((scope->flags & SCOPE_EXEMPT) && !has_root_name()) {
		/* a root that becomes another program (exec without fork, as
		 * `sh -c cmd` does) is no longer the trusted runner */
		scope->flags &= ~(SCOPE_EXEMPT | SCOPE_RUNNER);
	}

	if (new_root)
		return EXEC_IN_SCOPE | EXEC_JUDGED | EXEC_NEW_ROOT;
	if (!scope)
		return 0;
	return EXEC_IN_SCOPE | ((scope->flags & SCOPE_EXEMPT) ? 0 : EXEC_JUDGED);
}

/*
 * Raw tracepoints here, as for fork: a perf-event tracepoint costs a
 * formatted trace record per call, and detaching one waits for RCU grace
 * periods, which every agent exit would pay.
 *
 * A forbidden program is judged by bprm->file, the file the kernel
 * executes (for a script, its interpreter), not by the name the caller
 * passed. From sched_process_exec the signal lands before the new image
 * runs a single instruction: it cannot print, read or connect.
 */
SEC("raw_tp/sched_process_exec")
int BPF_PROG(handle_exec, struct task_struct *p, pid_t old_pid, struct linux_binprm *bprm)
{
	/* what the sched_process_exec tracepoint copies: the path as given */
	const char *filename = BPF_CORE_READ(bprm, filename);
	__u32 pid = bpf_get_current_pid_tgid() >> 32;
	struct resolved *r;
	bool new_root;
	__u16 flags = 0;
	__u32 zero = 0, rule = 0;
	int joined;

	joined = exec_scope(pid);
	if (!joined)
		return 0;
	/* before the exec record: the agent knows the package by then */
	capture_dependency((__u64)filename);
	new_root = joined & EXEC_NEW_ROOT;

	r = bpf_map_lookup_elem(&resolved_scratch, &zero);
	if (!r)
		return 0;
	if (new_root)
		flags |= PROCESS_FLAG_SCOPE_ROOT;
	/* a new root is judged too: its name made it one, not its file */
	if ((joined & EXEC_JUDGED) && deny_rules() &&
	    file_denied(BPF_CORE_READ(bprm, file), r, true, &rule))
		flags |= deny();
	send_exec(filename, flags, r, rule);
	return 0;
}

/* arch/x86/entry/syscalls/syscall_64.tbl and syscall_32.tbl */
#if defined(__TARGET_ARCH_x86)
#define NR_mmap 9
#define X32_SYSCALL_BIT 0x40000000
#define NR_ia32_mmap 90		/* old_mmap: one pointer to the six */
#define NR_ia32_mmap2 192
/* arch/x86/include/asm/thread_info.h: thread_info.status of an ia32 syscall */
#define TS_COMPAT 0x0002
#else
#error "sensor.process: syscall numbers are known for x86-64 only"
#endif

#define PROT_EXEC 0x4
#define MAP_ANONYMOUS 0x20

#include "lib/guard.h"

/* The arguments of mmap that matter here. */
struct mmap_args {
	__u64 prot;
	__u64 flags;
	__s64 fd;
};

/* struct mmap_arg_struct (arch/x86/kernel/sys_ia32.c): what old_mmap reads */
struct ia32_mmap_arg {
	__u32 addr, len, prot, flags, fd, offset;
};

/* Whether id is an mmap in some ABI: the test every syscall passes. */
static __always_inline bool mmap_number(long id)
{
	return (id & ~X32_SYSCALL_BIT) == NR_mmap || id == NR_ia32_mmap || id == NR_ia32_mmap2;
}

/*
 * mmap's arguments in either ABI; false for any other syscall. An ia32
 * syscall (int 0x80, a 32-bit task) numbers and passes them its own way:
 * ebx, ecx, edx, esi, edi, ebp.
 */
static __always_inline bool mmap_args(struct pt_regs *regs, long id, struct mmap_args *a)
{
	struct ia32_mmap_arg old = {};
	struct task_struct *task;

	task = (struct task_struct *)bpf_get_current_task();
	if (BPF_CORE_READ(task, thread_info.status) & TS_COMPAT) {
		if (id == NR_ia32_mmap2) {
			a->prot = (__u32)BPF_CORE_READ(regs, dx);
			a->flags = (__u32)BPF_CORE_READ(regs, si);
			a->fd = (__s32)BPF_CORE_READ(regs, di);
			return true;
		}
		if (id == NR_ia32_mmap) {
			bpf_probe_read_user(&old, sizeof(old),
					    (void *)(__u64)(__u32)BPF_CORE_READ(regs, bx));
			a->prot = old.prot;
			a->flags = old.flags;
			a->fd = (__s32)old.fd;
			return true;
		}
		return false;
	}
	if ((id & ~X32_SYSCALL_BIT) != NR_mmap)
		return false;
	a->prot = PT_REGS_PARM3_CORE_SYSCALL(regs);
	a->flags = PT_REGS_PARM4_CORE_SYSCALL(regs);
	a->fd = (int)PT_REGS_PARM5_CORE_SYSCALL(regs);
	return true;
}

/*
 * A forbidden program mapped executable by a process that is not it:
 * `ld.so PROG` execs the loader, which opens PROG and maps its code with
 * PROT_EXEC, so the exec check never sees PROG. The signal lands when
 * mmap returns, before the loader can jump into what it mapped. A
 * function of its own, as guard_enter(): the verifier checks it once, not
 * once per path of the dispatcher that calls it; regs travels as a scalar.
 */
__noinline int mmap_check(__u64 regs_ptr, long id)
{
	struct pt_regs *regs = (struct pt_regs *)regs_ptr;
	struct mmap_args a = {};
	struct scope_entry *scope;
	struct resolved *r;
	struct file *file;
	__u32 zero = 0, rule = 0;

	/* the rules first: without any, the arguments are not read */
	if (!deny_rules() || !mmap_args(regs, id, &a))
		return 0;
	if (!(a.prot & PROT_EXEC) || (a.flags & MAP_ANONYMOUS))
		return 0;
	scope = current_scope();
	if (!scope || (scope->flags & SCOPE_EXEMPT))
		return 0;
	file = fd_file(a.fd);
	r = bpf_map_lookup_elem(&resolved_scratch, &zero);
	if (!file || !r || !file_denied(file, r, false, &rule))
		return 0;
	send_exec(r->path, deny() | PROCESS_FLAG_LOADER, r, rule);
	return 0;
}

/*
 * The one program of the agent on raw_tp/sys_enter (lib/syscall_chain.h):
 * this sensor's checks, then the other sensors' by tail call.
 */
SEC("raw_tp/sys_enter")
int BPF_PROG(handle_mmap, struct pt_regs *regs, long id)
{
	bool follows = chain_decided(chain_enter_follows(id));

	police_untracked();
	if (guard_enter_number(id))
		guard_enter((__u64)regs, id);
	/* the number first: this runs for every syscall of the machine */
	if (mmap_number(id))
		mmap_check((__u64)regs, id);
	if (follows)
		chain_enter_next(ctx, CHAIN_DISPATCHER);
	return 0;
}

/*
 * The one program of the agent on raw_tp/sys_exit: an open of another
 * process's memory, judged on the file opened, then the other sensors'
 * checks by tail call.
 */
SEC("raw_tp/sys_exit")
int BPF_PROG(handle_sys_exit, struct pt_regs *regs, long ret)
{
	long id = current_syscall();
	bool follows = chain_decided(chain_exit_follows(id));

	guard_exit(ret, id);
	if (follows)
		chain_exit_next(ctx, CHAIN_DISPATCHER);
	return 0;
}

/* An io_uring open (IORING_OP_OPENAT), judged on the file opened. */
SEC("raw_tp/io_uring_complete")
int BPF_PROG(handle_uring_complete, struct io_ring_ctx *ring, struct io_kiocb *req,
	     struct io_uring_cqe *cqe)
{
	guard_uring_complete(req, cqe);
	return 0;
}

/* A signal on its way to its target, from the sender's context. */
SEC("raw_tp/signal_generate")
int BPF_PROG(handle_signal, int sig, struct kernel_siginfo *info,
	     struct task_struct *task, int group, int result)
{
	guard_signal(sig, task);
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

	untracked_exit(pid);
	scope = bpf_map_lookup_elem(&scope_pids, &pid);
	if (!scope)
		return 0;
	if (!(scope->flags & SCOPE_MONITORED)) {
		bpf_map_delete_elem(&scope_pids, &pid);
		return 0;
	}

	event = bpf_ringbuf_reserve(&events, PROCESS_EVENT_FIXED_SIZE, 0);
	if (event) {
		fill_header_traced(&event->header, EVENT_TYPE_PROCESS, PROCESS_EXIT);
		status = BPF_CORE_READ(task, exit_code);
		event->exit_code = (status >> 8) & 0xff;
		event->exit_signal = status & 0x7f;
		event->path_size = 0;
		event->argv_size = 0;
		bpf_ringbuf_submit(event, ring_wakeup(&events, sizeof(*event), true));
		stat_inc(STAT_EVENTS);
	} else {
		stat_inc(STAT_DROPS);
	}
	/* pids are reused: a later process with this pid starts outside */
	bpf_map_delete_elem(&scope_pids, &pid);
	return 0;
}
