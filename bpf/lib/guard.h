/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The guard of sensor.process: what a policed process (in scope, not an
 * exempt root) may not do to other processes and to the agent.
 *
 * - memory (runner.memory): process_vm_readv/writev of another process;
 *   ptrace attach or seize of a scope root, the agent or a process outside
 *   the scope, and PTRACE_TRACEME under a root or the agent; an open of
 *   another process's /proc/PID/mem, or of the environ of a root or the
 *   agent. The syscalls are judged at raw_tp/sys_enter: SIGKILL is then
 *   pending while the call runs, and the kernel's remote page pinning
 *   (__get_user_pages) stops at a pending fatal signal, so nothing is
 *   copied. A /proc open is judged at raw_tp/sys_exit on the file opened
 *   (its superblock, name and the task behind its inode), whatever path,
 *   dirfd or symlink reached it; the signal lands as open() returns, before
 *   the fd can be read.
 * - bpf (runner.bpf): any bpf() call. The call itself completes (a map
 *   write or a link detach happens before the kill lands): the event is
 *   what lets the agent undo it.
 * - signals to the agent, at the signal_generate tracepoint, which names
 *   the task that gets it: a signal to any thread of the agent, by kill(),
 *   kill(-1), a process group, tkill, tgkill, rt_(tg)sigqueueinfo or a
 *   pidfd, counts, and only one that is sent (permitted, non-zero).
 *
 * For every other process of the machine the cost is a test of the
 * syscall's number (read through BTF at sys_exit) and, for the numbers
 * named here, one scope lookup.
 *
 * Include after the maps `events`, `agent_signals` and submit().
 */
#ifndef RINGFENCE_GUARD_H
#define RINGFENCE_GUARD_H

#include "scope.h"
#include "../process.h"

#if !defined(__TARGET_ARCH_x86)
#error "guard: syscall numbers are known for x86-64 only"
#endif

/* arch/x86/entry/syscalls/syscall_64.tbl */
#define NR64_open 2
#define NR64_kill 62
#define NR64_ptrace 101
#define NR64_rt_sigqueueinfo 129
#define NR64_tkill 200
#define NR64_tgkill 234
#define NR64_openat 257
#define NR64_rt_tgsigqueueinfo 297
#define NR64_process_vm_readv 310
#define NR64_process_vm_writev 311
#define NR64_bpf 321
#define NR64_pidfd_send_signal 424
#define NR64_openat2 437
/* the x32 ABI's own entries of these (x32 numbers carry this bit) */
#define GUARD_X32_BIT 0x40000000
#define NRX32_ptrace 521
#define NRX32_rt_sigqueueinfo 524
#define NRX32_rt_tgsigqueueinfo 536
#define NRX32_process_vm_readv 539
#define NRX32_process_vm_writev 540
/* arch/x86/entry/syscalls/syscall_32.tbl */
#define NR32_open 5
#define NR32_ptrace 26
#define NR32_kill 37
#define NR32_rt_sigqueueinfo 178
#define NR32_tkill 238
#define NR32_tgkill 270
#define NR32_openat 295
#define NR32_rt_tgsigqueueinfo 335
#define NR32_process_vm_readv 347
#define NR32_process_vm_writev 348
#define NR32_bpf 357
#define NR32_pidfd_send_signal 424
#define NR32_openat2 437

/* arch/x86/include/asm/thread_info.h: a 32-bit syscall is running */
#define GUARD_TS_COMPAT 0x0002

/* include/uapi/linux/ptrace.h */
#define PTRACE_TRACEME 0
#define PTRACE_ATTACH 16
#define PTRACE_SEIZE 0x4206

/* include/uapi/linux/magic.h */
#define PROC_SUPER_MAGIC 0x9fa0

#define GUARD_SIGKILL 9
#define GUARD_SIGTERM 15

/* The calls the guard judges. */
enum guard_call {
	GUARD_CALL_NONE = 0,
	GUARD_CALL_VM_READV,
	GUARD_CALL_VM_WRITEV,
	GUARD_CALL_PTRACE,
	GUARD_CALL_BPF,
	GUARD_CALL_OPEN,
	GUARD_CALL_SIGNAL,
};

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct guard_config);
} guard_config SEC(".maps");

/*
 * Which call id is in the ABI it came by (*compat: i386), or
 * GUARD_CALL_NONE. The number alone rules out most syscalls; the task's
 * ABI is read only for numbers that mean one of these in some ABI.
 */
static __always_inline int guard_call(long id, bool *compat)
{
	struct task_struct *task;

	switch (id) {
	case NR64_open: case NR64_kill: case NR64_ptrace:
	case NR64_rt_sigqueueinfo: case NR64_tkill: case NR64_tgkill:
	case NR64_openat: case NR64_rt_tgsigqueueinfo:
	case NR64_process_vm_readv: case NR64_process_vm_writev:
	case NR64_bpf: case NR64_pidfd_send_signal: case NR64_openat2:
	case NR32_open: case NR32_ptrace: case NR32_kill:
	case NR32_rt_sigqueueinfo: case NR32_tkill: case NR32_tgkill:
	case NR32_openat: case NR32_rt_tgsigqueueinfo:
	case NR32_process_vm_readv: case NR32_process_vm_writev:
	case NR32_bpf:
	case GUARD_X32_BIT | NR64_open: case GUARD_X32_BIT | NR64_kill:
	case GUARD_X32_BIT | NR64_tkill: case GUARD_X32_BIT | NR64_tgkill:
	case GUARD_X32_BIT | NR64_openat: case GUARD_X32_BIT | NR64_bpf:
	case GUARD_X32_BIT | NR64_pidfd_send_signal:
	case GUARD_X32_BIT | NR64_openat2:
	case GUARD_X32_BIT | NRX32_ptrace:
	case GUARD_X32_BIT | NRX32_rt_sigqueueinfo:
	case GUARD_X32_BIT | NRX32_rt_tgsigqueueinfo:
	case GUARD_X32_BIT | NRX32_process_vm_readv:
	case GUARD_X32_BIT | NRX32_process_vm_writev:
		break;
	default:
		return GUARD_CALL_NONE;
	}
	task = bpf_get_current_task_btf();
	*compat = task->thread_info.status & GUARD_TS_COMPAT;
	if (*compat) {
		switch (id) {
		case NR32_open: case NR32_openat: case NR32_openat2:
			return GUARD_CALL_OPEN;
		case NR32_ptrace:
			return GUARD_CALL_PTRACE;
		case NR32_process_vm_readv:
			return GUARD_CALL_VM_READV;
		case NR32_process_vm_writev:
			return GUARD_CALL_VM_WRITEV;
		case NR32_bpf:
			return GUARD_CALL_BPF;
		case NR32_kill: case NR32_tkill: case NR32_tgkill:
		case NR32_rt_sigqueueinfo: case NR32_rt_tgsigqueueinfo:
		case NR32_pidfd_send_signal:
			return GUARD_CALL_SIGNAL;
		default:
			return GUARD_CALL_NONE;
		}
	}
	switch (id & ~GUARD_X32_BIT) {
	case NR64_open: case NR64_openat: case NR64_openat2:
		return GUARD_CALL_OPEN;
	case NR64_ptrace: case NRX32_ptrace:
		return GUARD_CALL_PTRACE;
	case NR64_process_vm_readv: case NRX32_process_vm_readv:
		return GUARD_CALL_VM_READV;
	case NR64_process_vm_writev: case NRX32_process_vm_writev:
		return GUARD_CALL_VM_WRITEV;
	case NR64_bpf:
		return GUARD_CALL_BPF;
	case NR64_kill: case NR64_tkill: case NR64_tgkill:
	case NR64_rt_sigqueueinfo: case NR64_rt_tgsigqueueinfo:
	case NR64_pidfd_send_signal:
	case NRX32_rt_sigqueueinfo: case NRX32_rt_tgsigqueueinfo:
		return GUARD_CALL_SIGNAL;
	default:
		return GUARD_CALL_NONE;
	}
}

/* Argument n (0-based) of the running syscall, in its ABI. */
static __always_inline __u64 guard_arg(struct pt_regs *regs, bool compat, int n)
{
	if (compat) {
		/* i386: ebx, ecx, edx, esi, edi, ebp */
		switch (n) {
		case 0: return (__u32)BPF_CORE_READ(regs, bx);
		case 1: return (__u32)BPF_CORE_READ(regs, cx);
		default: return (__u32)BPF_CORE_READ(regs, dx);
		}
	}
	switch (n) {
	case 0: return BPF_CORE_READ(regs, di);
	case 1: return BPF_CORE_READ(regs, si);
	default: return BPF_CORE_READ(regs, dx);
	}
}

/* The policed caller's scope entry: in scope and not an exempt root. */
static __always_inline struct scope_entry *policed(void)
{
	struct scope_entry *scope = current_scope();

	if (!scope || (scope->flags & SCOPE_EXEMPT))
		return NULL;
	return scope;
}

/*
 * Whether the caller descends from a scope root that is not the runner: a
 * container runtime (dockerd, containerd). Its runc sets up each
 * container's device rules with bpf(); a container that could use bpf()
 * against the agent is a privileged one, which owns the host anyway.
 */
static __always_inline bool under_runtime_root(struct scope_entry *scope)
{
	__u32 root = scope->root_pid;
	struct scope_entry *entry = bpf_map_lookup_elem(&scope_pids, &root);

	return entry && (entry->flags & SCOPE_EXEMPT) &&
	       !(entry->flags & SCOPE_RUNNER);
}

static __always_inline struct guard_config *guard_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&guard_config, &zero);
}

/* What a pid in scope is to the guard; GUARD_ROLE_PROCESS otherwise. */
static __always_inline __u32 role_of(__u32 pid, struct scope_entry *entry)
{
	if (!entry)
		return GUARD_ROLE_PROCESS;
	if (entry->flags & SCOPE_AGENT)
		return GUARD_ROLE_AGENT;
	if ((entry->flags & SCOPE_EXEMPT) ||
	    ((entry->flags & SCOPE_MONITORED) && entry->root_pid == pid))
		return GUARD_ROLE_ROOT;
	return GUARD_ROLE_PROCESS;
}

/* A target pid's scope entry; NULL outside the scope. */
static __always_inline struct scope_entry *scope_of(__u32 pid)
{
	return bpf_map_lookup_elem(&scope_pids, &pid);
}

/* The thread-group id of task as its own pid namespace numbers it. */
static __always_inline __u32 ns_tgid(struct task_struct *task)
{
	struct pid *pid = BPF_CORE_READ(task, signal, pids[PIDTYPE_TGID]);
	unsigned int level = BPF_CORE_READ(pid, level);
	int nr = 0;

	bpf_probe_read_kernel(&nr, sizeof(nr),
			      (void *)pid + bpf_core_field_offset(struct pid, numbers) +
			      (level & 31) * bpf_core_type_size(struct upid) +
			      bpf_core_field_offset(struct upid, nr));
	return nr;
}

/* Whether task lives in the initial pid namespace. */
static __always_inline bool init_pid_ns(struct task_struct *task)
{
	return BPF_CORE_READ(task, thread_pid, level) == 0;
}

/* The first task attached to pid as PIDTYPE_PID (pid_task()). */
static __always_inline struct task_struct *task_of_pid(struct pid *pid)
{
	struct hlist_node *first = BPF_CORE_READ(pid, tasks[PIDTYPE_PID].first);

	if (!first)
		return NULL;
	return (void *)first - bpf_core_field_offset(struct task_struct, pid_links);
}

/* Kills the caller when action says so; the flags for the event. */
static __always_inline __u16 guard_act(__u32 action)
{
	if (action != GUARD_KILL)
		return 0;
	bpf_send_signal(GUARD_SIGKILL);
	stat_inc(STAT_KILLED);
	return GUARD_FLAG_KILLED;
}

/* Sends a guard_event of kind about target (task NULL: only its pid). */
static __always_inline void guard_emit(__u8 kind, __u16 flags, __u32 via,
				       __u64 arg, long id, __u32 target,
				       struct scope_entry *entry,
				       struct task_struct *task)
{
	struct guard_event *event;

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event) {
		stat_inc(STAT_DROPS);
		return;
	}
	fill_header(&event->header, EVENT_TYPE_PROCESS, kind);
	event->header.flags = flags | (entry ? 0 : GUARD_FLAG_OUTSIDE);
	event->target_pid = target;
	event->target_root = entry ? entry->root_pid : 0;
	event->target_role = role_of(target, entry);
	event->via = via;
	event->arg = arg;
	event->syscall = id;
	event->pad = 0;
	__builtin_memset(event->target_comm, 0, sizeof(event->target_comm));
	if (task)
		bpf_probe_read_kernel_str(event->target_comm,
					  sizeof(event->target_comm), task->comm);
	bpf_ringbuf_submit(event, ring_wakeup(&events, sizeof(*event), true));
	stat_inc(STAT_EVENTS);
}

/* ptrace(request, pid): what it would do to a process the guard keeps. */
static __always_inline void guard_ptrace(struct pt_regs *regs, long id, bool compat,
					 struct guard_config *cfg, __u16 flags)
{
	struct task_struct *task = bpf_get_current_task_btf();
	__u64 request = guard_arg(regs, compat, 0);
	struct scope_entry *entry;
	__u32 target, via;

	if (request == PTRACE_TRACEME) {
		/* the parent becomes the tracer: a root or the agent would
		 * then be the one that is traced into */
		target = BPF_CORE_READ(task, real_parent, tgid);
		entry = scope_of(target);
		if (role_of(target, entry) == GUARD_ROLE_PROCESS)
			return;
		via = GUARD_VIA_PTRACE_TRACEME;
		flags |= guard_act(cfg->memory);
		guard_emit(PROCESS_MEMORY_ACCESS, flags, via, request, id, target,
			   entry, task->real_parent);
		return;
	}
	if (request == PTRACE_ATTACH)
		via = GUARD_VIA_PTRACE_ATTACH;
	else if (request == PTRACE_SEIZE)
		via = GUARD_VIA_PTRACE_SEIZE;
	else
		return;
	/* the pid is the caller's namespace's: the scope map's are the
	 * initial namespace's, and no root or agent is visible from a child
	 * namespace */
	if (!init_pid_ns(task))
		return;
	target = (__u32)guard_arg(regs, compat, 1);
	entry = scope_of(target);
	/* a process of its own scope that is not a root: a debugger's case */
	if (entry && role_of(target, entry) == GUARD_ROLE_PROCESS)
		return;
	flags |= guard_act(cfg->memory);
	guard_emit(PROCESS_MEMORY_ACCESS, flags, via, request, id, target, entry, NULL);
}

/*
 * At raw_tp/sys_enter: process_vm_readv/writev, ptrace and bpf of a
 * policed process. Opens are judged at exit, signals where they are sent.
 */
static __always_inline void guard_enter_call(struct pt_regs *regs, long id)
{
	struct scope_entry *scope;
	struct guard_config *cfg;
	bool compat = false;
	__u32 target;
	__u16 flags;
	int call;

	call = guard_call(id, &compat);
	if (call == GUARD_CALL_NONE || call == GUARD_CALL_OPEN ||
	    call == GUARD_CALL_SIGNAL)
		return;
	scope = policed();
	if (!scope)
		return;
	cfg = guard_cfg();
	if (!cfg)
		return;
	flags = compat ? GUARD_FLAG_COMPAT : 0;
	if (call == GUARD_CALL_BPF) {
		if (cfg->bpf == GUARD_OFF || under_runtime_root(scope))
			return;
		flags |= guard_act(cfg->bpf);
		guard_emit(PROCESS_BPF, flags, GUARD_VIA_NONE,
			   guard_arg(regs, compat, 0), id, 0, NULL, NULL);
		return;
	}
	if (cfg->memory == GUARD_OFF)
		return;
	if (call == GUARD_CALL_PTRACE) {
		guard_ptrace(regs, id, compat, cfg, flags);
		return;
	}
	/* process_vm_readv/writev(pid, ...): any process but the caller */
	target = (__u32)guard_arg(regs, compat, 0);
	if (target == ns_tgid(bpf_get_current_task_btf()))
		return;
	flags |= guard_act(cfg->memory);
	guard_emit(PROCESS_MEMORY_ACCESS, flags,
		   call == GUARD_CALL_VM_READV ? GUARD_VIA_VM_READV : GUARD_VIA_VM_WRITEV,
		   0, id, target, init_pid_ns(bpf_get_current_task_btf()) ?
		   scope_of(target) : NULL, NULL);
}

/*
 * The numbers that are, in some ABI, a call guard_enter() judges (ptrace,
 * process_vm_readv/writev, bpf): the test raw_tp/sys_enter makes before
 * it calls guard_enter() for any syscall of the machine.
 */
static __always_inline bool guard_enter_number(long id)
{
	switch (id) {
	case NR64_ptrace: case NR64_process_vm_readv:
	case NR64_process_vm_writev: case NR64_bpf:
	case NR32_ptrace: case NR32_process_vm_readv:
	case NR32_process_vm_writev: case NR32_bpf:
	case GUARD_X32_BIT | NR64_bpf:
	case GUARD_X32_BIT | NRX32_ptrace:
	case GUARD_X32_BIT | NRX32_process_vm_readv:
	case GUARD_X32_BIT | NRX32_process_vm_writev:
		return true;
	}
	return false;
}

/*
 * guard_enter_call as a function of its own: the verifier checks it once,
 * not once per path of the exec-deny checks of the program that calls it.
 * regs travels as a scalar (a global function takes no kernel pointer);
 * it is only read through bpf_probe_read_kernel.
 */
__noinline int guard_enter(__u64 regs, long id)
{
	guard_enter_call((struct pt_regs *)regs, id);
	return 0;
}

/*
 * The new fd `fd` of the current process, opened by syscall `id`: when it
 * is /proc/PID/mem of another process or /proc/PID/environ of a root or
 * the agent (also under /proc/PID/task/TID/), the caller is judged.
 */
static __always_inline void guard_opened(long fd, long id, bool compat,
					 struct guard_config *cfg)
{
	__u32 self = bpf_get_current_pid_tgid() >> 32;
	struct scope_entry *entry;
	struct task_struct *task;
	struct proc_inode *pi;
	struct inode *inode;
	struct file *file;
	char name[8] = {};
	__u32 target, via;
	__u16 flags;

	file = fd_file_direct(fd);
	if (!file)
		return;
	inode = BPF_CORE_READ(file, f_inode);
	if (BPF_CORE_READ(inode, i_sb, s_magic) != PROC_SUPER_MAGIC)
		return;
	bpf_probe_read_kernel_str(name, sizeof(name),
				  BPF_CORE_READ(file, f_path.dentry, d_name.name));
	if (name[0] == 'm' && name[1] == 'e' && name[2] == 'm' && !name[3])
		via = GUARD_VIA_PROC_MEM;
	else if (name[0] == 'e' && name[1] == 'n' && name[2] == 'v' && name[3] == 'i' &&
		 name[4] == 'r' && name[5] == 'o' && name[6] == 'n' && !name[7])
		via = GUARD_VIA_PROC_ENVIRON;
	else
		return;
	pi = (void *)inode - bpf_core_field_offset(struct proc_inode, vfs_inode);
	task = task_of_pid(BPF_CORE_READ(pi, pid));
	if (!task)
		return;
	target = BPF_CORE_READ(task, tgid);
	if (target == self)
		return;
	entry = scope_of(target);
	if (via == GUARD_VIA_PROC_ENVIRON &&
	    role_of(target, entry) == GUARD_ROLE_PROCESS)
		return;
	flags = (compat ? GUARD_FLAG_COMPAT : 0) | guard_act(cfg->memory);
	guard_emit(PROCESS_MEMORY_ACCESS, flags, via, 0, id, target, entry, task);
}

/* The numbers that are an open in some ABI: all sys_exit looks at. */
static __always_inline bool guard_open_number(long id)
{
	/* NR32_openat2 is NR64_openat2 */
	switch (id) {
	case NR64_open: case NR64_openat: case NR64_openat2:
	case NR32_open: case NR32_openat:
	case GUARD_X32_BIT | NR64_open: case GUARD_X32_BIT | NR64_openat:
	case GUARD_X32_BIT | NR64_openat2:
		return true;
	}
	return false;
}

/*
 * The number of the syscall the current task is in, from its saved
 * registers as a BTF pointer: a plain load (the tracepoint's own regs
 * argument could only be probe read). sys_exit's dispatcher reads it once
 * for every syscall of the machine.
 */
static __always_inline long current_syscall(void)
{
	struct task_struct *task = bpf_get_current_task_btf();

	return ((struct pt_regs *)bpf_task_pt_regs(task))->orig_ax;
}

/*
 * At raw_tp/sys_exit: an open that succeeded, judged on its new fd. Every
 * syscall of the machine passes here: the result and the number (id,
 * current_syscall()) come first. The scope comes before the file: the
 * file takes probe reads (an fd table grown past the 64 slots
 * files_struct embeds, as every child of a bash running a script (fd 255)
 * has, is read so), the scope one lookup.
 */
static __always_inline void guard_exit(long ret, long id)
{
	struct guard_config *cfg;
	bool compat = false;

	if (ret < 0)
		return;
	if (!guard_open_number(id) || guard_call(id, &compat) != GUARD_CALL_OPEN)
		return;
	if (!policed())
		return;
	cfg = guard_cfg();
	if (!cfg || cfg->memory == GUARD_OFF)
		return;
	guard_opened(ret, id, compat, cfg);
}

/* io_uring_enter(2), which the event names for an io_uring open */
#define NR64_io_uring_enter 426

/*
 * At the io_uring_complete tracepoint: IORING_OP_OPENAT/OPENAT2 open
 * without the open syscalls. The completion runs in the submitter or one
 * of its io_uring threads, which share its fd table, before the result
 * reaches user space; a read linked to the open (IOSQE_IO_LINK) runs
 * after it, with the SIGKILL already pending, and pins no page. An open
 * into a direct descriptor (file_slot) has no fd and is not judged.
 */
static __always_inline void guard_uring_complete(struct io_kiocb *req,
						 struct io_uring_cqe *cqe)
{
	struct guard_config *cfg;
	struct io_open *open;
	__u8 opcode;
	__s32 res;

	if (!bpf_core_type_exists(struct io_open) ||
	    !bpf_core_enum_value_exists(enum io_uring_op, IORING_OP_OPENAT) ||
	    !bpf_core_enum_value_exists(enum io_uring_op, IORING_OP_OPENAT2))
		return;
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode != bpf_core_enum_value(enum io_uring_op, IORING_OP_OPENAT) &&
	    opcode != bpf_core_enum_value(enum io_uring_op, IORING_OP_OPENAT2))
		return;
	res = BPF_CORE_READ(cqe, res);
	if (res < 0 || !policed())
		return;
	/* the request's command data opens struct io_kiocb */
	open = (struct io_open *)req;
	if (BPF_CORE_READ(open, file_slot))
		return;
	cfg = guard_cfg();
	if (!cfg || cfg->memory == GUARD_OFF)
		return;
	guard_opened(res, NR64_io_uring_enter, false, cfg);
}

/*
 * A signal sent to the agent by a policed process through a signal
 * syscall (not one the kernel sends on its behalf, as SIGCHLD at exit):
 * counted per sender in agent_signals, reported, and in block mode the
 * sender is killed. SIGTERM is the agent's stop request, which `ringfence
 * stop` sends: it is recorded and reported, its sender not killed.
 */
static __always_inline void guard_signal(int sig, struct task_struct *target_task)
{
	__u32 target = BPF_CORE_READ(target_task, tgid);
	__u32 self = bpf_get_current_pid_tgid() >> 32;
	struct scope_entry *entry, *sender;
	struct agent_signal *record, fresh = {};
	struct guard_config *cfg;
	bool compat = false;
	__u16 flags = 0;
	long id;

	entry = scope_of(target);
	if (!entry || !(entry->flags & SCOPE_AGENT) || target == self || sig <= 0)
		return;
	sender = policed();
	if (!sender)
		return;
	id = current_syscall();
	if (guard_call(id, &compat) != GUARD_CALL_SIGNAL)
		return;
	record = bpf_map_lookup_elem(&agent_signals, &self);
	if (record) {
		__sync_fetch_and_add(&record->count, 1);
		record->signal = sig;
		record->time_ns = bpf_ktime_get_boot_ns();
		record->target_pid = target;
	} else {
		fresh.time_ns = bpf_ktime_get_boot_ns();
		fresh.sender_pid = self;
		fresh.sender_root = sender->root_pid;
		fresh.target_pid = target;
		fresh.signal = sig;
		fresh.count = 1;
		fresh.uid = (__u32)bpf_get_current_uid_gid();
		bpf_get_current_comm(fresh.comm, sizeof(fresh.comm));
		bpf_map_update_elem(&agent_signals, &self, &fresh, BPF_ANY);
	}
	cfg = guard_cfg();
	if (compat)
		flags |= GUARD_FLAG_COMPAT;
	if (cfg && sig != GUARD_SIGTERM)
		flags |= guard_act(cfg->signal);
	guard_emit(PROCESS_SIGNAL, flags, GUARD_VIA_NONE, sig, id, target, entry,
		   target_task);
}

#endif /* RINGFENCE_GUARD_H */
