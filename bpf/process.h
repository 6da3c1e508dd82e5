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
	/* a process that belongs in scope but that the full scope map could
	 * not hold: reported, and killed in block mode (lib/scope_overflow.h) */
	PROCESS_UNTRACKED = 7,
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
