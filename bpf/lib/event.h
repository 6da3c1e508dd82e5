/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The header every ringfence event starts with. Shared by the sensors
 * (kernel side) and mirrored by sensors/event.ts, whose layout is checked
 * against the compiled objects' BTF by tests/layout_test.ts.
 */
#ifndef RINGFENCE_EVENT_H
#define RINGFENCE_EVENT_H

#define TASK_COMM_LEN 16

/*
 * Keeps `enum name` in the object's BTF, where tests/layout_test.ts holds
 * the TypeScript tables to it. clang emits BTF only for types that a global
 * variable or function uses, and these enums travel in __u8..__u32 fields.
 * The anchor lives in a section of its own, which libbpf skips: it costs
 * no map and no load time.
 */
#define BTF_KEEP_ENUM(name)						\
	const enum name ringfence_btf_##name				\
	__attribute__((unused, section(".ringfence.types")))

/* Which sensor produced a record: the first byte of every record. */
enum event_type {
	EVENT_TYPE_PROCESS = 1,
	EVENT_TYPE_NETWORK = 2,
	EVENT_TYPE_FILE_SYSTEM = 3,
};

struct event_header {
	__u8 type;		/* enum event_type */
	__u8 kind;		/* per-type kind, e.g. enum process_event_kind */
	__u16 flags;		/* per-type flags */
	__u32 tid;		/* thread that caused the event */
	__u64 time_ns;		/* CLOCK_BOOTTIME (bpf_ktime_get_boot_ns) */
	__u32 pid;		/* process (thread group) id, init pid namespace */
	__u32 ppid;		/* real parent's process id when the event fired */
	__u32 uid;		/* real uid */
	__u32 gid;		/* real gid */
	__u64 cgroup_id;	/* cgroup v2 id */
	char comm[TASK_COMM_LEN];
};

#endif /* RINGFENCE_EVENT_H */
