// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sensor.file-system: writes, creates, truncates, unlinks, renames, chmods
 * and chowns of the processes in scope, and their reads of secret files.
 *
 * Hooks: raw_tp/sys_enter and raw_tp/sys_exit (fentry, LSM and kprobes
 * are not available everywhere), which pick out the syscalls below by
 * number. There is no bpf_d_path there: full paths are built by walking
 * dentries (lib/path.h).
 *
 * - open, openat, openat2, creat: at sys_exit, from the new fd's struct
 *   file (dentry walk up through the mounts). The path is the canonical
 *   one: relative names, dirfds, "..", and symlinks are all resolved, and
 *   only opens that succeeded are reported.
 * - unlink, rmdir, rename, link, symlink, mkdir, chmod, chown, truncate
 *   by name: the name given to the syscall joined to the directory it is
 *   relative to (cwd or dirfd, by dentry walk), checked for success at
 *   sys_exit. The name's own "." and ".." are left to user space to
 *   normalise (the event says so), and a symlink inside the name is not
 *   followed: that needs the lookup the syscall does, which no tracepoint
 *   exposes.
 * - fchmod, fchown, ftruncate: from the fd's struct file, like opens.
 *
 * Paths are cut at FS_PATH_MAX bytes and at FS_MAX_DEPTH directory levels
 * (flagged). They are relative to the mount namespace's root; a chroot is
 * not taken into account.
 *
 * Filtering happens here so a busy build does not flood user space: the
 * loader fills an LPM trie with the literal prefixes of the policy's globs
 * and a hash of literal file names (for "**\/name" patterns); the final
 * glob match is user space's. Protected paths the kernel can match exactly
 * get FS_CLASS_KILL, and in block mode their writer is sent SIGKILL from
 * sys_exit: the syscall has completed (a truncating open has truncated,
 * an unlink has unlinked) but the process never runs another instruction,
 * so an open for writing is stopped before its first write().
 *
 * Where BPF LSM is active (lsm=...,bpf), the loader also loads the lsm_*
 * programs at the end of this file: they refuse a change to a FS_CLASS_KILL
 * path with EPERM before it happens, and the kill at sys_exit stays as the
 * backstop. Elsewhere (most hosted runners, and a kernel that refuses
 * them) the loader leaves them out and the signal path is the enforcement.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

#include "lib/scope.h"
#include "lib/ring.h"
#include "lib/path.h"
#include "lib/fs_syscalls.h"
#include "file_system.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define SIGKILL 9
#define AT_REMOVEDIR 0x200
#define O_ACCMODE 3
#define O_CREAT 0100
#define O_TRUNC 01000
/* include/linux/fs.h: set on a struct file whose open created the file */
#define FMODE_CREATED (1 << 20)

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 * 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct file_system_config);
} fs_config SEC(".maps");

/* literal prefixes (and literal paths, with their NUL) -> FS_CLASS_* */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 4096);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_prefix_key);
	__type(value, __u32);
} fs_prefixes SEC(".maps");

/* literal file names of "**\/name" patterns -> FS_CLASS_* */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, struct fs_name_key);
	__type(value, __u32);
} fs_names SEC(".maps");

/*
 * Protected and secret files by device and inode -> FS_CLASS_*, filled by
 * the loader at start and kept current as files under protected trees are
 * created and renamed: a hard link, a bind mount or a handle reaches the
 * same entry as the path the policy names.
 */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct fs_inode_key);
	__type(value, __u32);
} fs_inodes SEC(".maps");

enum fs_op {
	FS_OP_OPEN = 1,		/* args: -, -, flags */
	FS_OP_UNLINK,		/* dfd, name */
	FS_OP_RENAME,		/* olddfd, oldname, newdfd, newname */
	FS_OP_CHMOD,		/* dfd, name, mode */
	FS_OP_FCHMOD,		/* fd, mode */
	FS_OP_CHOWN,		/* dfd, name, uid, gid */
	FS_OP_FCHOWN,		/* fd, uid, gid */
	FS_OP_TRUNCATE,		/* name */
	FS_OP_FTRUNCATE,		/* fd */
	FS_OP_LINK,		/* olddfd, oldname, newdfd, newname */
	FS_OP_SYMLINK,		/* newdfd, linkpath */
	FS_OP_MKDIR,		/* dfd, name, mode */
};

/*
 * What sys_enter saw, for sys_exit to finish once the result is known.
 * An int argument (dfd, fd) arrives with its upper 32 bits clear (AT_FDCWD
 * is 0xffffff9c, not -100): read them back through (int).
 */
struct fs_pending {
	__u32 op;
	__u32 pad;
	__u64 args[4];
};

/*
 * thread -> its syscall in flight. LRU: an exit that never comes (a
 * thread killed in the syscall) must not leak an entry for good.
 */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 8192);
	__type(key, __u64);
	__type(value, struct fs_pending);
} fs_pending SEC(".maps");

static __always_inline struct file_system_config *fs_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fs_config, &zero);
}

/* Remembers this thread's syscall and its arguments for sys_exit. */
static __always_inline void stash(__u32 op, __u64 a0, __u64 a1, __u64 a2, __u64 a3)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fs_pending pending = {
		.op = op,
		.args = { a0, a1, a2, a3 },
	};

	bpf_map_update_elem(&fs_pending, &id, &pending, BPF_ANY);
}

/* ---- sys_enter: cheap checks, then remember the arguments ---- */

/* Whether open flags can change the file: write access, create, truncate. */
static __always_inline bool writes(__u64 flags)
{
	return (flags & O_ACCMODE) || (flags & (O_CREAT | O_TRUNC));
}

static __always_inline void enter_open(__u64 flags)
{
	struct file_system_config *cfg;

	if (!writes(flags)) {
		/* a build reads thousands of files: only look at reads when
		 * the policy names secrets */
		cfg = fs_cfg();
		if (!cfg || !cfg->read_classes)
			return;
	}
	stash(FS_OP_OPEN, 0, 0, flags, 0);
}

#define ARG(n) PT_REGS_PARM##n##_CORE_SYSCALL(regs)

SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	struct open_how how = {};

	/* every other syscall of the machine ends here */
	if (!fs_syscall(id))
		return 0;
	if (!current_scope())
		return 0;
	switch (id) {
	case NR_openat:
		enter_open(ARG(3));
		break;
	case NR_open:
		enter_open(ARG(2));
		break;
	case NR_creat:
		enter_open(O_CREAT | O_TRUNC | 1);
		break;
	case NR_openat2:
		bpf_probe_read_user(&how, sizeof(how), (void *)ARG(3));
		enter_open(how.flags);
		break;
	case NR_unlink:
		stash(FS_OP_UNLINK, AT_FDCWD, ARG(1), 0, 0);
		break;
	case NR_unlinkat:
		stash(FS_OP_UNLINK, ARG(1), ARG(2), ARG(3), 0);
		break;
	case NR_rmdir:
		stash(FS_OP_UNLINK, AT_FDCWD, ARG(1), AT_REMOVEDIR, 0);
		break;
	case NR_link:
		stash(FS_OP_LINK, AT_FDCWD, ARG(1), AT_FDCWD, ARG(2));
		break;
	case NR_linkat:
		stash(FS_OP_LINK, ARG(1), ARG(2), ARG(3), ARG(4));
		break;
	case NR_symlink:
		stash(FS_OP_SYMLINK, AT_FDCWD, ARG(2), 0, 0);
		break;
	case NR_symlinkat:
		stash(FS_OP_SYMLINK, ARG(2), ARG(3), 0, 0);
		break;
	case NR_mkdir:
		stash(FS_OP_MKDIR, AT_FDCWD, ARG(1), ARG(2), 0);
		break;
	case NR_mkdirat:
		stash(FS_OP_MKDIR, ARG(1), ARG(2), ARG(3), 0);
		break;
	case NR_rename:
		stash(FS_OP_RENAME, AT_FDCWD, ARG(1), AT_FDCWD, ARG(2));
		break;
	case NR_renameat:
	case NR_renameat2:
		stash(FS_OP_RENAME, ARG(1), ARG(2), ARG(3), ARG(4));
		break;
	case NR_chmod:
		stash(FS_OP_CHMOD, AT_FDCWD, ARG(1), ARG(2), 0);
		break;
	case NR_fchmodat:
	case NR_fchmodat2:
		stash(FS_OP_CHMOD, ARG(1), ARG(2), ARG(3), 0);
		break;
	case NR_fchmod:
		stash(FS_OP_FCHMOD, ARG(1), ARG(2), 0, 0);
		break;
	case NR_chown:
	case NR_lchown:
		stash(FS_OP_CHOWN, AT_FDCWD, ARG(1), ARG(2), ARG(3));
		break;
	case NR_fchownat:
		stash(FS_OP_CHOWN, ARG(1), ARG(2), ARG(3), ARG(4));
		break;
	case NR_fchown:
		stash(FS_OP_FCHOWN, ARG(1), ARG(2), ARG(3), 0);
		break;
	case NR_truncate:
		stash(FS_OP_TRUNCATE, AT_FDCWD, ARG(1), 0, 0);
		break;
	case NR_ftruncate:
		stash(FS_OP_FTRUNCATE, ARG(1), 0, 0, 0);
		break;
	}
	return 0;
}

/* ---- policy classes ---- */

/* The classes the name map gives a last path component. */
static __always_inline __u32 name_classes(const char *name)
{
	struct fs_name_key key = {};
	__u32 *value;
	long copied;

	copied = bpf_probe_read_kernel_str(key.name, sizeof(key.name), name);
	/* a longer name is not in the map: its cut copy must not match */
	if (copied <= 1 || copied >= FS_NAME_MAX)
		return 0;
	value = bpf_map_lookup_elem(&fs_names, &key);
	return value ? *value : 0;
}

/*
 * The policy classes of paths[which] (FS_CLASS_*); name is its last
 * component. FS_CLASS_KILL only when the path is whole and normal.
 */
static __always_inline __u32 classes_of(struct fs_scratch *s, __u32 which,
					struct built *b, const char *name)
{
	struct fs_path_buf *p = &s->paths[which & 1];
	struct file_system_config *cfg = fs_cfg();
	__u32 classes = cfg ? cfg->match_all : 0, *value;
	__u32 bytes = b->len + 1;	/* with the NUL: literal paths end in one */

	p->prefixlen = (bytes > FS_PREFIX_MAX ? FS_PREFIX_MAX : bytes) * 8;
	value = bpf_map_lookup_elem(&fs_prefixes, p);
	if (value)
		classes |= *value;
	classes |= name_classes(name);
	/* a prefix match on an unresolved "x/../y" says nothing sure */
	if (b->odd || b->truncated)
		classes &= ~FS_CLASS_KILL;
	return classes;
}

/* The classes fs_inodes gives file's inode; 0 when it is not there. */
static __always_inline __u32 inode_classes(struct file *file)
{
	struct inode *inode = BPF_CORE_READ(file, f_inode);
	struct fs_inode_key key = {
		.ino = BPF_CORE_READ(inode, i_ino),
		.dev = BPF_CORE_READ(inode, i_sb, s_dev),
	};
	__u32 *value = bpf_map_lookup_elem(&fs_inodes, &key);

	return value ? *value : 0;
}

/* ---- sys_exit: build, filter, enforce, send ---- */

/*
 * Takes this thread's syscall in flight out of fs_pending into *op; false
 * when there is none or it failed (a failed syscall changed nothing).
 */
static __always_inline bool take_pending(long ret, struct fs_pending *op)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fs_pending *found = bpf_map_lookup_elem(&fs_pending, &id);

	if (!found)
		return false;
	*op = *found;
	bpf_map_delete_elem(&fs_pending, &id);
	return ret >= 0;
}

/*
 * Sends the event in scratch when the policy cares; kills when it must,
 * unless an LSM hook has already refused the change (denied).
 */
static __always_inline void emit(struct fs_scratch *s, __u8 kind, __u32 classes,
				 struct built *b0, struct built *b1, bool two,
				 bool denied)
{
	struct file_system_event *event = &s->event;
	struct file_system_config *cfg = fs_cfg();
	struct scope_entry *scope = current_scope();
	__u32 wanted, size0, size1 = 0;
	/* what the caller said of the request before (reset() clears it) */
	__u16 via = event->header.flags & FS_FLAG_URING;

	wanted = kind == FS_READ ? FS_CLASS_SECRET
				 : FS_CLASS_WATCH | FS_CLASS_PROTECT | FS_CLASS_SECRET;
	if (!scope || !(classes & wanted))
		return;
	fill_header(&event->header, EVENT_TYPE_FILE_SYSTEM, kind);
	event->header.flags |= via;
	if (b0->truncated)
		event->header.flags |= FS_FLAG_PATH_TRUNCATED;
	if (b1->truncated)
		event->header.flags |= FS_FLAG_NEW_PATH_TRUNCATED;
	if (b0->odd || b1->odd)
		event->header.flags |= FS_FLAG_UNNORMALIZED;
	if (denied) {
		stat_inc(STAT_REFUSED);
		event->header.flags |= FS_FLAG_DENIED;
	} else if (kind != FS_READ && (classes & FS_CLASS_KILL) && cfg && cfg->kill &&
		   !(scope->flags & SCOPE_EXEMPT)) {
		bpf_send_signal(SIGKILL);
		stat_inc(STAT_KILLED);
		event->header.flags |= FS_FLAG_KILLED;
	}
	event->classes = classes;
	size0 = (b0->len + 1) & DATA_MASK;
	bpf_probe_read_kernel(event->data, size0, s->paths[0].path);
	if (two) {
		size1 = (b1->len + 1) & DATA_MASK;
		bpf_probe_read_kernel(event->data + size0, size1, s->paths[1].path);
	}
	event->path_size = size0;
	event->new_path_size = size1;
	if (bpf_ringbuf_output(&events, event,
			       offsetof(struct file_system_event, data) + size0 + size1,
			       ring_wakeup(&events)))
		stat_inc(STAT_DROPS);
	else
		stat_inc(STAT_EVENTS);
}

static __always_inline void reset(struct file_system_event *event)
{
	event->header.flags = 0;
	event->flags = 0;
	event->owner_uid = (__u32)-1;
	event->owner_gid = (__u32)-1;
	event->call = 0;
	event->dev = 0;
	event->ino = 0;
}

/*
 * The scratch to build paths in, with this thread's syscall that just
 * ended in *op; NULL when there is none or it failed.
 */
static __always_inline struct fs_scratch *finish_begin(long ret, struct fs_pending *op)
{
	struct fs_scratch *s;

	if (!take_pending(ret, op))
		return NULL;
	s = scratch();
	if (s)
		__builtin_memset(s->built, 0, sizeof(s->built));
	return s;
}

/* paths[which] = a syscall's name made absolute; returns its classes. */
static __always_inline __u32 named_path(struct fs_scratch *s, __u32 which,
					__u64 dfd, __u64 name)
{
	struct built *b = &s->built[which & 1];

	name_path(s, which, (int)dfd, (const char *)name, b, false);
	return classes_of(s, which, b, s->paths[which & 1].path + (b->name_at & PATH_MASK));
}

/*
 * named_path() as a global function, so the verifier checks it once per
 * program, not at each call (finish_rename makes two). It finds the
 * scratch itself and takes no pointer: the verifier checks a global
 * function apart from its callers, without what they know of a pointer.
 */
__noinline __u32 named_path_classes(__u32 which, __u64 dfd, __u64 name)
{
	struct fs_scratch *s = scratch();

	if (!s)
		return 0;
	return named_path(s, which, dfd, name);
}

/* file_path() and its classes, a global function as named_path_classes() */
__noinline __u32 file_path_classes(__u64 file_ptr)
{
	struct file *file = (struct file *)file_ptr;
	struct fs_scratch *s = scratch();
	struct built *b0;

	if (!s)
		return 0;
	b0 = &s->built[0];
	b0->len = file_path(file, s->paths[0].path, &b0->truncated);
	return classes_of(s, 0, b0,
			  (const char *)BPF_CORE_READ(file, f_path.dentry, d_name.name)) |
	       inode_classes(file);
}

/*
 * The three finishers are reached by tail call from sys_exit: the
 * verifier checks each on its own rather than every path through all
 * three at once. They are never attached.
 */

/* open, openat, openat2, creat, fchmod, fchown, ftruncate: by fd */
SEC("raw_tp/sys_exit")
int BPF_PROG(finish_fd, struct pt_regs *regs, long ret)
{
	struct file_system_config *cfg;
	struct built *b0, *b1;
	struct fs_pending op;
	struct fs_scratch *s;
	struct file *file;
	__u32 classes;
	__u8 kind;

	s = finish_begin(ret, &op);
	if (!s)
		return 0;
	b0 = &s->built[0];
	b1 = &s->built[1];
	file = fd_file(op.op == FS_OP_OPEN ? ret : (int)op.args[0]);
	if (!file)
		return 0;
	/* Builds open thousands of files to read: when the secrets are all
	 * "**\/name" patterns, the name alone rules most out without a walk. */
	cfg = fs_cfg();
	if (op.op == FS_OP_OPEN && !writes(op.args[2]) && cfg && !cfg->read_paths &&
	    !(name_classes((const char *)BPF_CORE_READ(file, f_path.dentry, d_name.name)) &
	      FS_CLASS_SECRET))
		return 0;
	classes = file_path_classes((__u64)file);
	reset(&s->event);
	s->event.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	s->event.ino = BPF_CORE_READ(file, f_inode, i_ino);
	if (op.op == FS_OP_OPEN) {
		s->event.flags = op.args[2];
		if (BPF_CORE_READ(file, f_mode) & FMODE_CREATED)
			kind = FS_CREATE;
		else if (!writes(op.args[2]))
			kind = FS_READ;
		else if (op.args[2] & O_TRUNC)
			kind = FS_TRUNCATE;
		else
			kind = FS_OPEN;
	} else if (op.op == FS_OP_FCHMOD) {
		s->event.flags = op.args[1];
		kind = FS_CHMOD;
	} else if (op.op == FS_OP_FCHOWN) {
		s->event.owner_uid = op.args[1];
		s->event.owner_gid = op.args[2];
		kind = FS_CHOWN;
	} else {
		kind = FS_TRUNCATE;
	}
	emit(s, kind, classes, b0, b1, false, false);
	return 0;
}

/* unlink, rmdir, chmod, chown, truncate, symlink, mkdir: by name */
SEC("raw_tp/sys_exit")
int BPF_PROG(finish_name, struct pt_regs *regs, long ret)
{
	struct built *b0, *b1;
	struct fs_pending op;
	struct fs_scratch *s;
	__u32 classes;
	__u8 kind;

	s = finish_begin(ret, &op);
	if (!s)
		return 0;
	b0 = &s->built[0];
	b1 = &s->built[1];
	classes = named_path_classes(0, op.args[0], op.args[1]);
	reset(&s->event);
	if (op.op == FS_OP_CHMOD) {
		s->event.flags = op.args[2];
		kind = FS_CHMOD;
	} else if (op.op == FS_OP_CHOWN) {
		s->event.owner_uid = op.args[2];
		s->event.owner_gid = op.args[3];
		kind = FS_CHOWN;
	} else if (op.op == FS_OP_UNLINK) {
		kind = op.args[2] & AT_REMOVEDIR ? FS_RMDIR : FS_UNLINK;
	} else if (op.op == FS_OP_SYMLINK) {
		kind = FS_SYMLINK;
	} else if (op.op == FS_OP_MKDIR) {
		s->event.flags = op.args[2];
		kind = FS_MKDIR;
	} else {
		kind = FS_TRUNCATE;
	}
	emit(s, kind, classes, b0, b1, false, false);
	return 0;
}

/* rename, renameat, renameat2, link, linkat: two names */
SEC("raw_tp/sys_exit")
int BPF_PROG(finish_rename, struct pt_regs *regs, long ret)
{
	struct built *b0, *b1;
	struct fs_pending op;
	struct fs_scratch *s;
	__u32 classes;

	s = finish_begin(ret, &op);
	if (!s)
		return 0;
	b0 = &s->built[0];
	b1 = &s->built[1];
	classes = named_path_classes(0, op.args[0], op.args[1]);
	classes |= named_path_classes(1, op.args[2], op.args[3]);
	reset(&s->event);
	emit(s, op.op == FS_OP_LINK ? FS_LINK : FS_RENAME, classes, b0, b1, true, false);
	return 0;
}

#define TAIL_FD 0
#define TAIL_NAME 1
#define TAIL_RENAME 2

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 3);
	__type(key, __u32);
	__array(values, int (void *));
} fs_tails SEC(".maps") = {
	.values = {
		[TAIL_FD] = (void *)&finish_fd,
		[TAIL_NAME] = (void *)&finish_name,
		[TAIL_RENAME] = (void *)&finish_rename,
	},
};

SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	__u64 id = bpf_get_current_pid_tgid();
	struct fs_pending *pending;

	if (!fs_syscall(BPF_CORE_READ(regs, orig_ax)))
		return 0;
	pending = bpf_map_lookup_elem(&fs_pending, &id);
	if (!pending)
		return 0;
	switch (pending->op) {
	case FS_OP_RENAME:
	case FS_OP_LINK:
		bpf_tail_call(ctx, &fs_tails, TAIL_RENAME);
		break;
	case FS_OP_UNLINK:
	case FS_OP_CHMOD:
	case FS_OP_CHOWN:
	case FS_OP_TRUNCATE:
	case FS_OP_SYMLINK:
	case FS_OP_MKDIR:
		bpf_tail_call(ctx, &fs_tails, TAIL_NAME);
		break;
	default:
		bpf_tail_call(ctx, &fs_tails, TAIL_FD);
	}
	return 0;
}

/* ---- io_uring: requests that never pass sys_enter (lib/fs_uring.h) ---- */

#include "lib/fs_uring.h"

/*
 * Every io_uring request of the machine comes here: anything but a
 * policed process's costs one scope lookup.
 */
SEC("raw_tp/io_uring_submit_req")
int BPF_PROG(uring_submit_req, struct io_kiocb *req)
{
	if (current_scope())
		uring_submit(req);
	return 0;
}

/* A request on a normal fd gets its file, each time it is issued. */
SEC("raw_tp/io_uring_file_get")
int BPF_PROG(uring_file_get, struct io_kiocb *req, int fd)
{
	int opcode;

	if (!current_scope())
		return 0;
	opcode = BPF_CORE_READ(req, opcode);
	if (uring_writes_file(opcode))
		uring_issue_write(req, fd, opcode);
	return 0;
}

SEC("raw_tp/io_uring_complete")
int BPF_PROG(uring_complete, struct io_ring_ctx *ring, struct io_kiocb *req,
	     struct io_uring_cqe *cqe)
{
	int opcode;

	if (!current_scope())
		return 0;
	opcode = BPF_CORE_READ(req, opcode);
	if (opcode == URING_OP(OPENAT) || opcode == URING_OP(OPENAT2))
		uring_complete_open(req, BPF_CORE_READ(cqe, res));
	return 0;
}

/* ---- BPF LSM: refuse the change itself, where the kernel allows it ---- */

#define EPERM 1
#define FMODE_WRITE 0x2

/*
 * The scratch to build paths in, when this process is policed and the
 * policy enforces; NULL otherwise (the hook lets the change through).
 */
static __always_inline struct fs_scratch *lsm_begin(void)
{
	struct file_system_config *cfg = fs_cfg();
	struct scope_entry *scope = current_scope();
	struct fs_scratch *s;

	if (!cfg || !cfg->kill || !scope || (scope->flags & SCOPE_EXEMPT))
		return NULL;
	s = scratch();
	if (s)
		__builtin_memset(s->built, 0, sizeof(s->built));
	return s;
}

/*
 * paths[which] = the path of dentry (which may not exist yet: mknod) on
 * mnt; returns its classes.
 */
static __always_inline __u32 lsm_path(struct fs_scratch *s, __u32 which,
				      struct dentry *dentry, struct vfsmount *mnt)
{
	struct built *b = &s->built[which & 1];

	b->len = walk_path(dentry, mnt, s->paths[which & 1].path, &b->truncated);
	return classes_of(s, which, b, (const char *)BPF_CORE_READ(dentry, d_name.name));
}

/* Refuses a change to a protected path, and says so in an event. */
static __always_inline int lsm_check(struct dentry *dentry, struct vfsmount *mnt,
				     __u8 kind, __u32 flags)
{
	struct fs_scratch *s = lsm_begin();
	__u32 classes;

	if (!s)
		return 0;
	classes = lsm_path(s, 0, dentry, mnt);
	if (!(classes & FS_CLASS_KILL))
		return 0;
	reset(&s->event);
	s->event.flags = flags;
	emit(s, kind, classes, &s->built[0], &s->built[1], false, true);
	return -EPERM;
}

SEC("lsm/file_open")
int BPF_PROG(lsm_file_open, struct file *file)
{
	__u32 flags = BPF_CORE_READ(file, f_flags);

	/* O_RDONLY|O_TRUNC truncates without FMODE_WRITE: path_truncate */
	if (!(BPF_CORE_READ(file, f_mode) & FMODE_WRITE))
		return 0;
	return lsm_check(BPF_CORE_READ(file, f_path.dentry),
			 BPF_CORE_READ(file, f_path.mnt), FS_OPEN, flags);
}

SEC("lsm/path_truncate")
int BPF_PROG(lsm_path_truncate, const struct path *path)
{
	return lsm_check(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt),
			 FS_TRUNCATE, 0);
}

/* open(O_CREAT) of a path that does not exist yet comes here too */
SEC("lsm/path_mknod")
int BPF_PROG(lsm_path_mknod, const struct path *dir, struct dentry *dentry)
{
	return lsm_check(dentry, BPF_CORE_READ(dir, mnt), FS_CREATE, O_CREAT | 1);
}

SEC("lsm/path_unlink")
int BPF_PROG(lsm_path_unlink, const struct path *dir, struct dentry *dentry)
{
	return lsm_check(dentry, BPF_CORE_READ(dir, mnt), FS_UNLINK, 0);
}

SEC("lsm/path_chmod")
int BPF_PROG(lsm_path_chmod, const struct path *path, umode_t mode)
{
	return lsm_check(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt),
			 FS_CHMOD, mode);
}

/* uid and gid are kuid_t/kgid_t passed by value: the event leaves them out */
SEC("lsm/path_chown")
int BPF_PROG(lsm_path_chown, const struct path *path)
{
	return lsm_check(BPF_CORE_READ(path, dentry), BPF_CORE_READ(path, mnt),
			 FS_CHOWN, 0);
}

SEC("lsm/path_mkdir")
int BPF_PROG(lsm_path_mkdir, const struct path *dir, struct dentry *dentry, umode_t mode)
{
	return lsm_check(dentry, BPF_CORE_READ(dir, mnt), FS_MKDIR, mode);
}

SEC("lsm/path_rmdir")
int BPF_PROG(lsm_path_rmdir, const struct path *dir, struct dentry *dentry)
{
	return lsm_check(dentry, BPF_CORE_READ(dir, mnt), FS_RMDIR, 0);
}

SEC("lsm/path_symlink")
int BPF_PROG(lsm_path_symlink, const struct path *dir, struct dentry *dentry)
{
	return lsm_check(dentry, BPF_CORE_READ(dir, mnt), FS_SYMLINK, 0);
}

/* a new name for a protected file, or a protected name for another file */
SEC("lsm/path_link")
int BPF_PROG(lsm_path_link, struct dentry *old_dentry, const struct path *new_dir,
	     struct dentry *new_dentry)
{
	struct vfsmount *mnt = BPF_CORE_READ(new_dir, mnt);
	struct fs_scratch *s = lsm_begin();
	__u32 classes;

	if (!s)
		return 0;
	/* a hard link stays on one mount: the new directory's */
	classes = lsm_path(s, 0, old_dentry, mnt);
	classes |= lsm_path(s, 1, new_dentry, mnt);
	if (!(classes & FS_CLASS_KILL))
		return 0;
	reset(&s->event);
	emit(s, FS_LINK, classes, &s->built[0], &s->built[1], true, true);
	return -EPERM;
}

SEC("lsm/path_rename")
int BPF_PROG(lsm_path_rename, const struct path *old_dir, struct dentry *old_dentry,
	     const struct path *new_dir, struct dentry *new_dentry)
{
	struct fs_scratch *s = lsm_begin();
	__u32 classes;

	if (!s)
		return 0;
	classes = lsm_path(s, 0, old_dentry, BPF_CORE_READ(old_dir, mnt));
	classes |= lsm_path(s, 1, new_dentry, BPF_CORE_READ(new_dir, mnt));
	if (!(classes & FS_CLASS_KILL))
		return 0;
	reset(&s->event);
	emit(s, FS_RENAME, classes, &s->built[0], &s->built[1], true, true);
	return -EPERM;
}
