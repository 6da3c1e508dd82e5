/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * process_event: the record sensor.process sends, and the maps its loader
 * fills; decoded and written by sensors/process.ts, whose layouts and
 * tables tests/layout_test.ts checks against this object's BTF.
 */
#ifndef RINGFENCE_PROCESS_H
#define RINGFENCE_PROCESS_H

#include "lib/event.h"

enum process_event_kind {
	PROCESS_FORK = 1,
	PROCESS_EXEC = 2,
	PROCESS_EXIT = 3,
	/* a policed process reached for another's memory (struct guard_event) */
	PROCESS_MEMORY_ACCESS = 4,
	/* a policed process called bpf() (struct guard_event) */
	PROCESS_BPF = 5,
	/* a policed process signalled the agent (struct guard_event) */
	PROCESS_SIGNAL = 6,
	/* a process that belongs in scope but that the full scope map could
	 * not hold: reported, and killed in block mode (lib/scope_overflow.h) */
	PROCESS_UNTRACKED = 7,
	/* the exec of a package manager's child: what names the package it
	 * may be a script of (struct dependency_event, lib/dependency.h) */
	PROCESS_DEPENDENCY = 8,
};
BTF_KEEP_ENUM(process_event_kind);

/* header.flags of a process_event */
enum process_event_flag {
	PROCESS_FLAG_PATH_TRUNCATED = 1,
	PROCESS_FLAG_ARGV_TRUNCATED = 2,
	/* exec of a process that became a scope root by its name */
	PROCESS_FLAG_SCOPE_ROOT = 4,
	/* exec of a program the policy forbids (process.deny) */
	PROCESS_FLAG_DENIED = 8,
	/* ... and the new image was sent SIGKILL before its first instruction */
	PROCESS_FLAG_KILLED = 16,
	/* the forbidden program was mapped executable (mmap PROT_EXEC) by a
	 * process that is not it, as the dynamic loader does in `ld.so PROG` */
	PROCESS_FLAG_LOADER = 32,
	/* the resolved path of a denied program was longer than captured */
	PROCESS_FLAG_FILE_TRUNCATED = 64,
};
BTF_KEEP_ENUM(process_event_flag);

/* process_config.action */
enum exec_deny_action {
	EXEC_DENY_REPORT = 0,	/* audit: report what block mode would do */
	EXEC_DENY_KILL = 1,
};
BTF_KEEP_ENUM(exec_deny_action);

struct process_config {
	__u32 action;		/* enum exec_deny_action */
	__u32 rules;		/* process.deny has rules: 0 skips every check */
	/* set SCOPE_DEP_PENDING on a package manager's children at exec */
	__u32 dep_pending;
};

/* Bytes of the executable path captured, with its NUL. */
#define PROCESS_PATH_MAX 512
/* Bytes of argv captured (NUL-separated); longer command lines are cut. */
#define PROCESS_ARGV_MAX 1024
/* data[] is larger than the two together so the verifier can prove bounds
 * with masks; only path_size + argv_size bytes of it are sent. */
#define PROCESS_DATA_SIZE 4096

/*
 * A forbidden executable, by its full path (NUL-padded): the path the
 * kernel resolved (the dentry walk of the file executed), matched against
 * the rule as written and with its directory's symlinks resolved.
 */
struct exec_path_key {
	char path[PROCESS_PATH_MAX];
};

/*
 * A forbidden executable, by the file itself: whatever path reaches it (a
 * symlink, a hard link, "//", "/./", a relative name, an fd) leads to
 * the same inode. dev is the superblock's s_dev, in the kernel's encoding
 * (major << 20 | minor).
 */
struct exec_file_key {
	__u32 dev;
	__u32 pad;
	__u64 ino;
};

/*
 * A signal a policed process sent to the agent: the value of agent_signals,
 * keyed by the sender's pid. The map outlives the agent (pinned), so the
 * next agent or `ringfence stop` names whoever killed it.
 */
struct agent_signal {
	__u64 time_ns;		/* CLOCK_BOOTTIME of the last one */
	__u32 sender_pid;
	__u32 sender_root;	/* the scope root the sender descends from */
	__u32 target_pid;	/* the agent's pid it was sent to */
	__u32 signal;		/* the last signal number */
	__u32 count;		/* signals sent by this sender */
	__u32 uid;		/* the sender's real uid */
	char comm[TASK_COMM_LEN];
};

/* guard_config.memory, .bpf and .signal: what a guard check does */
enum guard_action {
	GUARD_OFF = 0,		/* the policy allows it: nothing */
	GUARD_REPORT = 1,	/* audit: an event, nothing stopped */
	GUARD_KILL = 2,		/* block: SIGKILL to the caller, and an event */
};
BTF_KEEP_ENUM(guard_action);

/* [0] of guard_config, written by the loader (agent/guard_policy.ts) */
struct guard_config {
	__u32 memory;		/* runner.memory: another process's memory */
	__u32 bpf;		/* runner.bpf: any bpf() call */
	__u32 signal;		/* signals to the agent */
	__u32 pad;
};

/* guard_event.via: how the memory was reached */
enum guard_via {
	GUARD_VIA_NONE = 0,
	GUARD_VIA_VM_READV = 1,
	GUARD_VIA_VM_WRITEV = 2,
	GUARD_VIA_PTRACE_ATTACH = 3,
	GUARD_VIA_PTRACE_SEIZE = 4,
	GUARD_VIA_PTRACE_TRACEME = 5,
	GUARD_VIA_PROC_MEM = 6,
	GUARD_VIA_PROC_ENVIRON = 7,
};
BTF_KEEP_ENUM(guard_via);

/* guard_event.target_role */
enum guard_role {
	GUARD_ROLE_PROCESS = 0,	/* another process, in scope or not */
	GUARD_ROLE_ROOT = 1,	/* a scope root (exempt or its own root) */
	GUARD_ROLE_AGENT = 2,	/* the agent */
};
BTF_KEEP_ENUM(guard_role);

/* header.flags of a guard_event */
enum guard_event_flag {
	GUARD_FLAG_KILLED = 1,	/* the caller was sent SIGKILL */
	GUARD_FLAG_COMPAT = 2,	/* the call came by the i386 ABI (int $0x80) */
	GUARD_FLAG_OUTSIDE = 4,	/* the target is not in scope */
};
BTF_KEEP_ENUM(guard_event_flag);

/*
 * What sensor.process sends for PROCESS_MEMORY_ACCESS, PROCESS_BPF and
 * PROCESS_SIGNAL: the header names the caller, the rest its target. The
 * target's comm is empty when only its pid was at hand (process_vm_*,
 * ptrace): the agent names it from its process tree.
 */
struct guard_event {
	struct event_header header;
	__u32 target_pid;	/* memory/signal: the target's pid (tgid) */
	__u32 target_root;	/* the scope root it descends from, or 0 */
	__u32 target_role;	/* enum guard_role */
	__u32 via;		/* enum guard_via; 0 for bpf and signal */
	__u64 arg;		/* ptrace request, bpf command or signal number */
	__u32 syscall;		/* the syscall's number in its ABI */
	__u32 pad;
	char target_comm[TASK_COMM_LEN];
};
/* in BTF for tests/layout_test.ts: only a ring reservation uses it */
const struct guard_event ringfence_btf_guard_event
	__attribute__((unused, section(".ringfence.types")));

struct process_event {
	struct event_header header;
	__s32 exit_code;	/* exit: the status passed to exit(), 0..255 */
	__u32 exit_signal;	/* exit: the signal that ended it, or 0 */
	__u32 path_size;	/* exec: bytes of path at data[0], with its NUL */
	__u32 argv_size;	/* exec: bytes of argv after the path */
	__u32 file_size;	/* denied exec: bytes of the resolved path after argv */
	__u32 rule;		/* denied exec: the value of the deny map entry matched */
	char data[PROCESS_DATA_SIZE];
};

#endif /* RINGFENCE_PROCESS_H */
