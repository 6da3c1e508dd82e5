/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * io_uring requests of policed processes, for sensor.file-system.
 *
 * io_uring work never passes raw_tp/sys_enter or sys_exit: an
 * IORING_OP_OPENAT, WRITE or UNLINKAT runs inside io_uring_enter(2), or
 * in the ring's own threads (iou-sqp for SQPOLL, iou-wrk for requests
 * punted to io-wq). Three tracepoints see them:
 *
 * - io_uring_submit_req, after the request's prep and BEFORE it is first
 *   issued, in the submitter (or its iou-sqp thread: same process, same
 *   fd table): an open for writing of a FS_CLASS_KILL name, unlink,
 *   rename, link, symlink and mkdir by name, and a write, truncate,
 *   fallocate, splice or tee into a file protected by path or by inode
 *   (on its fd, or its fixed file in the ring's table).
 * - io_uring_file_get, where each issue of a request on a normal fd gets
 *   its file, before it runs, in whichever of the process's threads
 *   issues it (the submitter, iou-sqp, an iou-wrk worker, or task work
 *   for a request linked behind another): a write whose fd named no file
 *   or another one at submission, such as one linked behind the open
 *   that makes its fd.
 * - io_uring_complete, for OPENAT and OPENAT2: the new fd's (or direct
 *   descriptor's) file by its canonical path and its inode, so an alias
 *   (hard link, bind mount) opened for writing is killed before a later
 *   write is submitted, and a read of a secret is reported.
 *
 * In block mode SIGKILL is then pending in every thread of the process
 * before the request runs, and a buffered write checks
 * fatal_signal_pending before each chunk (generic_perform_write): it
 * moves nothing. A request that has no such check (unlink, rename, an
 * O_TRUNC open, ftruncate, fallocate) still runs when an io-wq worker of
 * the ring is at work and takes it before it looks at signals; with no
 * worker, the kill stops the worker's creation and the request is
 * cancelled.
 *
 * Names an io_uring request carries were copied into the kernel by its
 * prep (struct filename): they are read as kernel strings. A request on
 * a fixed file (IOSQE_FIXED_FILE) is resolved through the ring's file
 * table (ctx->file_table), as io_file_get_fixed() does.
 *
 * Included by sensor.file-system.bpf.c after its own helpers (fs_cfg,
 * writes, reset, emit, file_path_classes), which this file uses.
 */
#ifndef RINGFENCE_FS_URING_H
#define RINGFENCE_FS_URING_H

/* include/uapi/linux/io_uring.h: a direct descriptor in any free slot */
#define IORING_FILE_INDEX_ALLOC (~0U)
/* io_uring/filetable.h: the low bits of io_rsrc_node.file_ptr are flags */
#define URING_FFS_MASK (~3UL)
/* io_uring/io_uring.h: REQ_F_FIXED_FILE, bit 0 of io_kiocb.flags */
#define URING_REQ_F_FIXED_FILE 1ULL
#ifndef FMODE_WRITE
#define FMODE_WRITE 0x2	/* include/linux/fs.h */
#endif
/* include/linux/sched/signal.h: the whole process is being killed */
#define SIGNAL_GROUP_EXIT 0x00000004

/* The running kernel's value of IORING_OP_<name>; -1 where it has none. */
#define URING_OP(name)                                                   \
	(bpf_core_enum_value_exists(enum io_uring_op, IORING_OP_##name)  \
		 ? (int)bpf_core_enum_value(enum io_uring_op, IORING_OP_##name) \
		 : -1)

/*
 * io_kiocb -> the file its write was judged on at submission (0: its fd
 * was not open then), so that its issue (uring_file_get) judges it again
 * only when the fd has come to name another file since. LRU: a request
 * cancelled before its issue leaves an entry for eviction to take.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, __u64);
} fs_uring_judged SEC(".maps");

/* The file in slot of the ring's fixed file table; NULL when empty. */
static __always_inline struct file *uring_fixed_file(struct io_kiocb *req, __u32 slot)
{
	struct io_ring_ctx *ctx = BPF_CORE_READ(req, ctx);
	struct io_rsrc_node **nodes, *node = NULL;
	unsigned long ptr;

	if (!bpf_core_field_exists(ctx->file_table.data.nodes) ||
	    !bpf_core_field_exists(node->file_ptr))
		return NULL;
	if (slot >= BPF_CORE_READ(ctx, file_table.data.nr))
		return NULL;
	nodes = BPF_CORE_READ(ctx, file_table.data.nodes);
	bpf_probe_read_kernel(&node, sizeof(node), nodes + slot);
	if (!node)
		return NULL;
	ptr = BPF_CORE_READ(node, file_ptr);
	return (struct file *)(ptr & URING_FFS_MASK);
}

/*
 * paths[which] = an io_uring request's name (a struct filename the prep
 * copied in) made absolute with dfd; returns its classes. A global
 * function, checked once, like named_path_classes().
 */
__noinline __u32 uring_name_classes(__u32 which, __u64 dfd, __u64 filename)
{
	const char *name = BPF_CORE_READ((struct filename *)filename, name);
	struct fs_scratch *s = scratch();
	struct built *b;

	if (!s || !name)
		return 0;
	b = &s->built[which & 1];
	name_path(s, which, (int)dfd, name, b, NULL, true);
	return classes_of(s, which, b, s->paths[which & 1].path + (b->name_at & PATH_MASK));
}

/* The scratch with its built paths cleared; NULL when there is none. */
static __always_inline struct fs_scratch *uring_scratch(void)
{
	struct fs_scratch *s = scratch();

	if (s)
		__builtin_memset(s->built, 0, sizeof(s->built));
	return s;
}

/*
 * Sends the event in scratch as an io_uring request's (opcode in call),
 * and kills when it must. A global function: the verifier checks emit()
 * once, not at each caller.
 */
__noinline int uring_emit(__u32 opcode, __u32 kind, __u32 classes, __u32 two)
{
	struct fs_scratch *s = scratch();

	if (!s)
		return 0;
	s->event.call = opcode;
	s->event.header.flags = FS_FLAG_URING;
	emit(s, kind, classes, &s->built[0], &s->built[1], two, false);
	return 0;
}

/* Whether a request writes to its file (for splice and tee: their output). */
static __always_inline bool uring_writes_file(int opcode)
{
	return opcode == URING_OP(WRITE) || opcode == URING_OP(WRITEV) ||
	       opcode == URING_OP(WRITE_FIXED) || opcode == URING_OP(WRITEV_FIXED) ||
	       opcode == URING_OP(FTRUNCATE) || opcode == URING_OP(FALLOCATE) ||
	       opcode == URING_OP(SPLICE) || opcode == URING_OP(TEE);
}

/*
 * A request that writes to file (uring_writes_file), judged by the file's
 * path and inode before the request runs.
 */
static __always_inline void uring_judge_fd(struct file *file, __u8 opcode)
{
	struct fs_scratch *s;
	__u32 classes;

	/* a file not open for writing fails the request: nothing to judge */
	if (!file || !(BPF_CORE_READ(file, f_mode) & FMODE_WRITE))
		return;
	s = uring_scratch();
	if (!s)
		return;
	classes = file_path_classes((__u64)file);
	/* a write to a watched file was reported when it was opened */
	if (!(classes & FS_CLASS_PROTECT))
		return;
	reset(&s->event);
	s->event.flags = BPF_CORE_READ(file, f_flags);
	s->event.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	s->event.ino = BPF_CORE_READ(file, f_inode, i_ino);
	uring_emit(opcode, opcode == URING_OP(FTRUNCATE) ? FS_TRUNCATE : FS_WRITE,
		   classes, false);
}

/*
 * OPENAT, OPENAT2 for writing: a FS_CLASS_KILL name is killed before the
 * open is issued (an O_TRUNC open truncates when it runs). Every other
 * open, and the name reached through a link or a mount, is judged on the
 * opened file at completion (uring_complete_open), which also reports it.
 */
static __always_inline void uring_submit_open(struct io_kiocb *req, __u8 opcode)
{
	struct io_open *open = (struct io_open *)req;
	struct file_system_config *cfg = fs_cfg();
	struct scope_entry *scope = current_scope();
	struct fs_scratch *s;
	__u64 flags;
	__u32 classes;

	if (!bpf_core_type_exists(struct io_open))
		return;
	flags = BPF_CORE_READ(open, how.flags);
	/* only a kill is decided here; the completion reports the rest */
	if (!writes(flags) || !cfg || !cfg->kill || !scope || (scope->flags & SCOPE_EXEMPT))
		return;
	s = uring_scratch();
	if (!s)
		return;
	classes = uring_name_classes(0, BPF_CORE_READ(open, dfd),
				     (__u64)BPF_CORE_READ(open, filename));
	if (!(classes & FS_CLASS_KILL))
		return;
	reset(&s->event);
	s->event.flags = flags;
	uring_emit(opcode, flags & O_TRUNC ? FS_TRUNCATE : FS_OPEN, classes, false);
}

/* UNLINKAT, RENAMEAT, LINKAT, SYMLINKAT, MKDIRAT: by the names given. */
static __always_inline void uring_submit_name(struct io_kiocb *req, __u8 opcode)
{
	struct io_rename *rename = (struct io_rename *)req;
	struct io_unlink *unlink = (struct io_unlink *)req;
	struct io_mkdir *mkdir = (struct io_mkdir *)req;
	struct io_link *link = (struct io_link *)req;
	struct fs_scratch *s = uring_scratch();
	__u32 classes = 0, flags = 0;
	bool both = false;
	__u8 kind;

	if (!s)
		return;
	if (opcode == URING_OP(UNLINKAT)) {
		classes = uring_name_classes(0, BPF_CORE_READ(unlink, dfd),
					     (__u64)BPF_CORE_READ(unlink, filename));
		kind = BPF_CORE_READ(unlink, flags) & AT_REMOVEDIR ? FS_RMDIR : FS_UNLINK;
	} else if (opcode == URING_OP(MKDIRAT)) {
		classes = uring_name_classes(0, BPF_CORE_READ(mkdir, dfd),
					     (__u64)BPF_CORE_READ(mkdir, filename));
		flags = BPF_CORE_READ(mkdir, mode);
		kind = FS_MKDIR;
	} else if (opcode == URING_OP(SYMLINKAT)) {
		/* oldpath is the link's content, not a file */
		classes = uring_name_classes(0, BPF_CORE_READ(link, new_dfd),
					     (__u64)BPF_CORE_READ(link, newpath));
		kind = FS_SYMLINK;
	} else if (opcode == URING_OP(LINKAT)) {
		classes = uring_name_classes(0, BPF_CORE_READ(link, old_dfd),
					     (__u64)BPF_CORE_READ(link, oldpath));
		classes |= uring_name_classes(1, BPF_CORE_READ(link, new_dfd),
					      (__u64)BPF_CORE_READ(link, newpath));
		kind = FS_LINK;
		both = true;
	} else {
		classes = uring_name_classes(0, BPF_CORE_READ(rename, old_dfd),
					     (__u64)BPF_CORE_READ(rename, oldpath));
		classes |= uring_name_classes(1, BPF_CORE_READ(rename, new_dfd),
					      (__u64)BPF_CORE_READ(rename, newpath));
		kind = FS_RENAME;
		both = true;
	}
	reset(&s->event);
	s->event.flags = flags;
	uring_emit(opcode, kind, classes, both);
}

/* Whether the current process is being killed (SIGKILL already sent). */
static __always_inline bool uring_dying(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, signal, flags) & SIGNAL_GROUP_EXIT;
}

/*
 * A write's file at submission, judged; kept in fs_uring_judged for its
 * issue. A fixed file (IOSQE_FIXED_FILE) is found in the ring's table.
 */
static __always_inline void uring_submit_write(struct io_kiocb *req, __u8 opcode)
{
	__u64 key = (__u64)req, value;
	__s32 fd = BPF_CORE_READ(req, cqe.fd);
	struct file *file;

	if (BPF_CORE_READ(req, flags) & URING_REQ_F_FIXED_FILE) {
		uring_judge_fd(uring_fixed_file(req, fd), opcode);
		return;
	}
	file = fd_file(fd);
	value = (__u64)file;
	/* always written: an io_kiocb is reused, its old entry must go */
	bpf_map_update_elem(&fs_uring_judged, &key, &value, BPF_ANY);
	uring_judge_fd(file, opcode);
}

/*
 * At io_uring_file_get: a write on a normal fd being issued, in whichever
 * thread issues it; judged unless submission judged the same file.
 */
static __always_inline void uring_issue_write(struct io_kiocb *req, int fd, __u8 opcode)
{
	struct file *file = fd_file(fd);
	__u64 key = (__u64)req, *judged;

	judged = bpf_map_lookup_elem(&fs_uring_judged, &key);
	if (judged && *judged && *judged == (__u64)file)
		return;
	/* killed already (at the open this write is linked to, say) */
	if (uring_dying())
		return;
	uring_judge_fd(file, opcode);
}

/*
 * At io_uring_submit_req: the request of a policed process, before its
 * issue. A write is judged again at its issue (uring_issue_write) if its
 * fd names another file then, such as a write linked behind the open
 * that makes its fd.
 */
static __always_inline void uring_submit(struct io_kiocb *req)
{
	int opcode = BPF_CORE_READ(req, opcode);

	if (uring_writes_file(opcode))
		uring_submit_write(req, opcode);
	else if (opcode == URING_OP(OPENAT) || opcode == URING_OP(OPENAT2))
		uring_submit_open(req, opcode);
	else if (opcode == URING_OP(UNLINKAT) || opcode == URING_OP(RENAMEAT) ||
		 opcode == URING_OP(LINKAT) || opcode == URING_OP(SYMLINKAT) ||
		 opcode == URING_OP(MKDIRAT))
		uring_submit_name(req, opcode);
}

/*
 * At io_uring_complete of an OPENAT or OPENAT2 that succeeded (res: the
 * fd, or for a direct descriptor 0 or the slot it got): the opened file
 * by path and inode, as finish_fd judges an open(2).
 */
static __always_inline void uring_complete_open(struct io_kiocb *req, __s32 res)
{
	struct io_open *open = (struct io_open *)req;
	struct file_system_config *cfg = fs_cfg();
	struct fs_scratch *s;
	struct file *file;
	__u32 slot, classes;
	__u64 flags;

	if (res < 0 || !cfg || !bpf_core_type_exists(struct io_open))
		return;
	flags = BPF_CORE_READ(open, how.flags);
	if (!writes(flags) && !cfg->read_classes &&
	    !install_reader(cfg->install_scripts))
		return;
	/* killed at submission: that event said it */
	if (uring_dying())
		return;
	slot = BPF_CORE_READ(open, file_slot);
	if (slot)
		file = uring_fixed_file(req, slot == IORING_FILE_INDEX_ALLOC ? res : slot - 1);
	else
		file = fd_file(res);
	if (!file)
		return;
	if (read_ruled_out(cfg, file, flags))
		return;
	s = uring_scratch();
	if (!s)
		return;
	classes = file_path_classes((__u64)file);
	reset(&s->event);
	s->event.flags = flags;
	s->event.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	s->event.ino = BPF_CORE_READ(file, f_inode, i_ino);
	uring_emit(BPF_CORE_READ(req, opcode), open_kind(BPF_CORE_READ(file, f_mode), flags),
		   classes, false);
}

#endif /* RINGFENCE_FS_URING_H */
