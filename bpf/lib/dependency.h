/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Which dependency a process works for: at the exec of a package
 * manager's child (npm's lifecycle script shell, pip's build backend,
 * cargo's build script), what names the package is captured while the
 * kernel holds it: the new image's environment (npm_package_name,
 * CARGO_PKG_NAME, ...), its working directory (the unpacked package) and
 * the file exec'd. A script that exits at once, or clears its environment
 * before it forks, is named all the same: nothing is read from /proc
 * later. The agent classifies the record (agent/dependencies.ts) and its
 * descendants inherit the answer.
 *
 * Only the children of a package manager pay for it: every other exec
 * costs one read of the parent's name and one hash lookup.
 *
 * Included by sensor.process after lib/dentry_path.h and process.h.
 */
#ifndef RINGFENCE_DEPENDENCY_H
#define RINGFENCE_DEPENDENCY_H

/*
 * Bytes of the environment captured from each end: its start (a tool
 * that sorts its children's variables, as cargo does, puts CARGO_PKG_* in
 * the first part) and its end (npm adds its npm_* variables after the
 * inherited ones). An environment up to twice this size is sent whole.
 * Both ends together stay within a per-CPU scratch value (32 KiB).
 */
#define DEP_ENV_CHUNK 12288
#define DEP_CWD_MAX DENTRY_PATH_MAX
#define DEP_PATH_MAX 512
/* data[] holds head, tail, cwd and path; masks bound each offset */
#define DEP_DATA_SIZE (2 * DEP_ENV_CHUNK + DEP_CWD_MAX + DEP_PATH_MAX)
#define DEP_OFFSET_MASK 0x7fff

/* header.flags of a dependency_event */
enum dependency_event_flag {
	/* the environment was larger than two chunks: its middle is missing */
	DEP_FLAG_ENV_CUT = 1,
	/* the working directory's path was cut */
	DEP_FLAG_CWD_TRUNCATED = 2,
	/* the exec'd file's name was cut */
	DEP_FLAG_PATH_TRUNCATED = 4,
	/* SCOPE_DEP_PENDING was set on the process */
	DEP_FLAG_PENDING = 8,
};
BTF_KEEP_ENUM(dependency_event_flag);

/*
 * What sensor.process sends (kind PROCESS_DEPENDENCY) just before the
 * exec record of a process whose parent is a package manager. The header
 * is the new image's (pid, comm after exec).
 */
struct dependency_event {
	struct event_header header;
	__u32 env_size;		/* bytes of the whole environment */
	__u32 head_size;	/* bytes of its start, at data[0] */
	__u32 tail_size;	/* bytes of its end, after the head */
	__u32 cwd_size;		/* bytes of the working directory, with its NUL */
	__u32 path_size;	/* bytes of the file exec'd, with its NUL */
	__u32 pad;
	char manager[TASK_COMM_LEN];	/* the parent's comm */
	char data[DEP_DATA_SIZE];
};
/* in BTF for tests/layout_test.ts: sent from a scratch value */
const struct dependency_event ringfence_btf_dependency_event
	__attribute__((unused, section(".ringfence.types")));

/*
 * Package managers by name: a parent's comm cut at its first space, dot
 * or digit ("npm install ../x" is npm, "python3.11" python, "pip3" pip).
 * Filled by the loader; the value is unused.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 64);
	__type(key, struct scope_comm);
	__type(value, __u32);
} dep_manager_comms SEC(".maps");

/* the record is built here: too large for the 512-byte stack */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dependency_event);
} dep_scratch SEC(".maps");

#define DEP_EVENT_FIXED_SIZE offsetof(struct dependency_event, data)

/* Whether the current task's parent is a package manager; its comm in name. */
static __always_inline bool parent_is_manager(struct scope_comm *name)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	bool cut = false;
	int i;

	BPF_CORE_READ_STR_INTO(&name->comm, task, real_parent, comm);
#pragma unroll
	for (i = 0; i < TASK_COMM_LEN; i++) {
		char c = name->comm[i];

		if (c == ' ' || c == '.' || (c >= '0' && c <= '9'))
			cut = true;
		if (cut)
			name->comm[i] = 0;
	}
	return bpf_map_lookup_elem(&dep_manager_comms, name) != NULL;
}

/* Whether the loader asks for SCOPE_DEP_PENDING (process_config.dep_pending). */
static __always_inline bool dep_pending_wanted(void)
{
	struct process_config *config;
	__u32 zero = 0;

	config = bpf_map_lookup_elem(&process_config, &zero);
	return config && config->dep_pending;
}

/*
 * Sends the dependency record of the current process, which has just
 * exec'd `filename`, when its parent is a package manager; marks it
 * SCOPE_DEP_PENDING when the loader asks. A function of its own: the
 * verifier checks it once, apart from the exec handler's deny checks.
 */
__noinline int capture_dependency(__u64 filename)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();
	unsigned long env_start, env_end, env_size, head, tail, off;
	struct scope_comm manager = {};
	struct dependency_event *event;
	struct scope_entry *scope;
	struct fs_struct *fs;
	bool truncated = false;
	__u32 zero = 0, len;
	long path_size;

	if (!parent_is_manager(&manager))
		return 0;
	event = bpf_map_lookup_elem(&dep_scratch, &zero);
	if (!event)
		return 0;
	fill_header(&event->header, EVENT_TYPE_PROCESS, PROCESS_DEPENDENCY);
	BPF_CORE_READ_STR_INTO(&event->manager, task, real_parent, comm);

	if (dep_pending_wanted()) {
		scope = current_scope();
		if (scope) {
			scope->flags |= SCOPE_DEP_PENDING;
			event->header.flags |= DEP_FLAG_PENDING;
		}
	}

	/* the environment as execve laid it out on the new stack */
	env_start = BPF_CORE_READ(task, mm, env_start);
	env_end = BPF_CORE_READ(task, mm, env_end);
	env_size = env_end > env_start ? env_end - env_start : 0;
	head = env_size;
	tail = 0;
	if (env_size > 2 * DEP_ENV_CHUNK) {
		head = DEP_ENV_CHUNK;
		tail = DEP_ENV_CHUNK;
		event->header.flags |= DEP_FLAG_ENV_CUT;
	} else if (env_size > DEP_ENV_CHUNK) {
		head = DEP_ENV_CHUNK;
		tail = env_size - DEP_ENV_CHUNK;
	}
	if (head > DEP_ENV_CHUNK)
		head = DEP_ENV_CHUNK;
	if (tail > DEP_ENV_CHUNK)
		tail = DEP_ENV_CHUNK;
	if (bpf_probe_read_user(event->data, head, (void *)env_start))
		head = 0;
	off = head & DEP_OFFSET_MASK;
	if (off > DEP_ENV_CHUNK)
		off = DEP_ENV_CHUNK;
	if (tail && bpf_probe_read_user(event->data + off, tail,
					(void *)(env_end - tail)))
		tail = 0;
	off += tail;
	if (off > 2 * DEP_ENV_CHUNK)
		off = 2 * DEP_ENV_CHUNK;

	/* the working directory: where npm and pip run a package's script */
	fs = BPF_CORE_READ(task, fs);
	len = walk_path(BPF_CORE_READ(fs, pwd.dentry), BPF_CORE_READ(fs, pwd.mnt),
			event->data + off, &truncated);
	if (truncated)
		event->header.flags |= DEP_FLAG_CWD_TRUNCATED;
	len = (len & PATH_MASK) + 1;
	off += len;
	if (off > 2 * DEP_ENV_CHUNK + DEP_CWD_MAX)
		off = 2 * DEP_ENV_CHUNK + DEP_CWD_MAX;

	path_size = bpf_probe_read_kernel_str(event->data + off, DEP_PATH_MAX,
					      (const char *)filename);
	if (path_size < 0)
		path_size = 0;
	if (path_size >= DEP_PATH_MAX)
		event->header.flags |= DEP_FLAG_PATH_TRUNCATED;
	if (path_size > DEP_PATH_MAX)
		path_size = DEP_PATH_MAX;
	off += path_size;

	event->env_size = env_size;
	event->head_size = head;
	event->tail_size = tail;
	event->cwd_size = len;
	event->path_size = path_size;
	event->pad = 0;
	if (off > DEP_DATA_SIZE)
		off = DEP_DATA_SIZE;
	submit(event, DEP_EVENT_FIXED_SIZE + off);
	return 0;
}

#endif /* RINGFENCE_DEPENDENCY_H */
