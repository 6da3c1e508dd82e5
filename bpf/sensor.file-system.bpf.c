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
 * - open_by_handle_at, pidfd_getfd: the new fd's file, as an open (for
 *   pidfd_getfd with the flags the file was opened with).
 * - name_to_handle_at: by name; reported, never killed (a handle changes
 *   nothing, the open by handle is judged as an open).
 * - write, pwrite64, writev, pwritev, pwritev2, sendfile, splice,
 *   copy_file_range, fallocate: at sys_enter, by the fd's inode alone
 *   (fs_inodes), so a protected file's writer is killed before the write.
 * - mount, move_mount, open_tree(OPEN_TREE_CLONE), mount_setattr: at
 *   sys_exit, the target and source paths, in the agent's mount namespace.
 *
 * Every syscall is followed in both x86 ABIs (lib/fs_syscalls.h).
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
#include "lib/syscall_chain.h"
#include "file_system.h"
#include "lib/install_scripts.h"
#include "lib/bulk.h"

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

#include "lib/dir_verdict.h"
#include "lib/dir_path.h"

/*
 * The lookup of the finisher running on this CPU, between its early exit
 * and its learning: the two are global functions (the verifier checks
 * each once, apart from the finisher's paths) and share no stack.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dir_lookup);
} fs_dir_lookup SEC(".maps");

static __always_inline struct dir_lookup *dir_lookup_slot(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fs_dir_lookup, &zero);
}

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
	FS_OP_HANDLE,		/* dfd, name: name_to_handle_at */
	FS_OP_GETFD,		/* pidfd_getfd: the returned fd, its own flags */
	FS_OP_MOUNT,		/* target dfd, target, source dfd, source, MNT_* */
};

/*
 * args[4] of FS_OP_MOUNT. A tree that is copied (a bind, a clone) leaves
 * every path where it was: a directory above a protected tree matters
 * there only when it is mounted on or moved.
 */
#define MNT_SOURCE 1		/* args[2], args[3] name a source */
#define MNT_TARGET_FD 2		/* the target is args[0]'s file itself */
#define MNT_SOURCE_FD 4		/* the source is args[2]'s file itself */
#define MNT_SOURCE_COPY 8	/* the source is copied, not moved */
#define MNT_TARGET_COPY 16	/* open_tree: the "target" is the tree copied */

/*
 * What sys_enter saw, for sys_exit to finish once the result is known.
 * An int argument (dfd, fd) arrives with its upper 32 bits clear (AT_FDCWD
 * is 0xffffff9c, not -100): read them back through (int).
 */
struct fs_pending {
	__u32 op;
	__u32 call;		/* the syscall number in its ABI */
	__u32 flags;		/* FS_FLAG_COMPAT when it came by the i386 ABI */
	__u32 scope;		/* the process's SCOPE_* flags as sys_exit found them */
	__u64 args[5];
};

/*
 * The syscall sys_exit hands to its finisher (a tail call, on the same
 * CPU). sys_exit reads it from the registers, which hold the arguments
 * sys_enter saw: a tracer changes them before sys_enter or after sys_exit,
 * and the calls followed here leave them as they are. Nothing is kept
 * per thread between the two hooks.
 */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_pending);
} fs_pending SEC(".maps");

static __always_inline struct file_system_config *fs_cfg(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fs_config, &zero);
}

/* The syscall in flight: its number in its ABI and FS_FLAG_COMPAT. */
struct fs_origin {
	__u32 call;
	__u32 flags;
	/* what sys_enter hands to fs_pending, once, after its switch */
	struct fs_pending *out;
};

/*
 * Notes this thread's syscall and its arguments for sys_exit in
 * from->out; sys_enter stores it once its switch is done. Stores only:
 * the verifier then checks one map update for all the syscalls, not one
 * per case.
 */
static __always_inline void stash(struct fs_origin *from, __u32 op, __u64 a0, __u64 a1,
				  __u64 a2, __u64 a3, __u64 a4)
{
	struct fs_pending *p = from->out;

	p->op = op;
	p->call = from->call;
	p->flags = from->flags;
	p->args[0] = a0;
	p->args[1] = a1;
	p->args[2] = a2;
	p->args[3] = a3;
	p->args[4] = a4;
}

/* Whether open flags can change the file: write access, create, truncate. */
static __always_inline bool writes(__u64 flags)
{
	return (flags & O_ACCMODE) || (flags & (O_CREAT | O_TRUNC));
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
	b->root = 0;
	if (value) {
		classes |= *value & FS_CLASSES_MASK;
		b->root = *value >> FS_ROOT_SHIFT;
	}
	classes |= name_classes(name);
	/* a prefix match on an unresolved "x/../y" says nothing sure */
	if (b->odd || b->truncated)
		classes &= ~FS_CLASS_KILL;
	return classes;
}

/* The classes fs_inodes gives file's inode; 0 when it is not there. */
static __always_inline __u32 inode_classes(struct file *file)
{
	/* the file's and the inode's first bytes read whole where they hold
	 * the fields: a write pays this, and a probe read per field costs more */
	__u64 fw[6], iw[9];
	struct fs_inode_key key = {};
	struct super_block *sb;
	struct inode *inode;
	__u32 *value, mode;

	if (WINDOW_HAS(sizeof(fw), struct file, f_mode) &&
	    WINDOW_HAS(sizeof(fw), struct file, f_inode) &&
	    WINDOW_HAS(sizeof(iw), struct inode, i_sb) &&
	    WINDOW_HAS(sizeof(iw), struct inode, i_ino)) {
		if (bpf_probe_read_kernel(fw, sizeof(fw), file))
			return 0;
		mode = WINDOW_GET(fw, struct file, f_mode);
		inode = WINDOW_GET(fw, struct file, f_inode);
		if (!inode || bpf_probe_read_kernel(iw, sizeof(iw), inode))
			return 0;
		sb = WINDOW_GET(iw, struct inode, i_sb);
		key.ino = WINDOW_GET(iw, struct inode, i_ino);
	} else {
		mode = BPF_CORE_READ(file, f_mode);
		inode = BPF_CORE_READ(file, f_inode);
		sb = BPF_CORE_READ(inode, i_sb);
		key.ino = BPF_CORE_READ(inode, i_ino);
	}
	key.dev = BPF_CORE_READ(sb, s_dev);
	/*
	 * A file this open created is none of the files recorded before it,
	 * whatever number it got: an inode number freed by an unlink that
	 * landed is reused at once, before the agent drops its entry.
	 */
	if (mode & FMODE_CREATED)
		return 0;
	value = bpf_map_lookup_elem(&fs_inodes, &key);
	return value ? *value : 0;
}

/* ---- sys_exit: build, filter, enforce, send ---- */

/*
 * Takes the syscall sys_exit handed over out of fs_pending into *op;
 * false when there is none or it failed (a failed syscall changed
 * nothing).
 */
static __always_inline bool take_pending(long ret, struct fs_pending *op)
{
	__u32 zero = 0;
	struct fs_pending *found = bpf_map_lookup_elem(&fs_pending, &zero);

	if (!found || !found->op)
		return false;
	*op = *found;
	found->op = 0;
	return ret >= 0;
}

/*
 * The classes that make an event of kind worth sending, and those that
 * make its writer killed in block mode. A mount on, or a rename of, a
 * directory above a protected tree changes what the protected paths are.
 */
static __always_inline __u32 wanted_classes(__u8 kind)
{
	if (kind == FS_READ)
		return FS_CLASS_SECRET;
	if (kind == FS_HANDLE)
		return FS_CLASS_PROTECT | FS_CLASS_SECRET | FS_CLASS_KILL;
	if (kind == FS_MOUNT || kind == FS_RENAME)
		return FS_CLASS_WATCH | FS_CLASS_PROTECT | FS_CLASS_SECRET |
		       FS_CLASS_KILL | FS_CLASS_ABOVE;
	return FS_CLASS_WATCH | FS_CLASS_PROTECT | FS_CLASS_SECRET | FS_CLASS_KILL;
}

/* A handle changes nothing by itself: open_by_handle_at is judged as an open. */
static __always_inline __u32 kill_classes(__u8 kind)
{
	if (kind == FS_READ || kind == FS_HANDLE)
		return 0;
	if (kind == FS_MOUNT || kind == FS_RENAME)
		return FS_CLASS_KILL | FS_CLASS_ABOVE;
	return FS_CLASS_KILL;
}

/*
 * Sends the event in scratch when the policy cares; kills when it must,
 * unless an LSM hook has already refused the change (denied). The event's
 * header.flags may carry FS_FLAG_COMPAT, FS_FLAG_URING or FS_FLAG_INODE
 * set by the caller after reset(). scope: the process's SCOPE_* flags, of
 * a process in scope.
 */
static __always_inline void emit_as(struct fs_scratch *s, __u8 kind, __u32 classes,
				    struct built *b0, struct built *b1, bool two,
				    bool denied, __u32 scope)
{
	struct file_system_event *event = &s->event;
	struct file_system_config *cfg = fs_cfg();
	__u32 size0, size1 = 0, origin = event->header.flags, violation, size;
	__u32 rule = cfg ? cfg->install_scripts : 0;

	violation = install_files_violation(rule, scope, kind, classes);
	if (!violation)
		classes &= ~(FS_CLASS_DEP_SECRET | FS_CLASS_DEP_PROTECT);
	if (!violation && !(classes & wanted_classes(kind)))
		return;
	if (!violation && !denied && bulk_summarise(cfg, kind, classes, b0, b1, two, scope))
		return;
	/* an LSM hook's refusal (denied) keeps the probe reads: those
	 * programs load only on hosts with BPF LSM, which the tests do not
	 * run on */
	if (denied)
		fill_header(&event->header, EVENT_TYPE_FILE_SYSTEM, kind);
	else
		fill_header_traced(&event->header, EVENT_TYPE_FILE_SYSTEM, kind);
	event->header.flags = origin & (FS_FLAG_COMPAT | FS_FLAG_URING | FS_FLAG_INODE);
	if (b0->truncated)
		event->header.flags |= FS_FLAG_PATH_TRUNCATED;
	if (b1->truncated)
		event->header.flags |= FS_FLAG_NEW_PATH_TRUNCATED;
	if (b0->odd || b1->odd)
		event->header.flags |= FS_FLAG_UNNORMALIZED;
	if (denied) {
		stat_inc(STAT_REFUSED);
		event->header.flags |= FS_FLAG_DENIED;
	} else if (violation) {
		event->header.flags |= FS_FLAG_INSTALL_SCRIPT;
		if (rule & INSTALL_ENFORCE) {
			bpf_send_signal(SIGKILL);
			stat_inc(STAT_KILLED);
			event->header.flags |= FS_FLAG_KILLED;
		}
	} else if ((classes & kill_classes(kind)) && cfg && cfg->kill &&
		   !(scope & SCOPE_EXEMPT)) {
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
	size = offsetof(struct file_system_event, data) + size0 + size1;
	if (bpf_ringbuf_output(&events, event, size, ring_wakeup(&events, size, false)))
		stat_inc(STAT_DROPS);
	else
		stat_inc(STAT_EVENTS);
}

/* emit_as() for the current process, when it is in scope. */
static __always_inline void emit(struct fs_scratch *s, __u8 kind, __u32 classes,
				 struct built *b0, struct built *b1, bool two,
				 bool denied)
{
	struct scope_entry *scope = current_scope();

	if (scope)
		emit_as(s, kind, classes, b0, b1, two, denied, scope->flags);
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

/* reset() for the syscall op: its number and ABI go in the event. */
static __always_inline void reset_op(struct file_system_event *event, struct fs_pending *op)
{
	reset(event);
	event->header.flags = op->flags & FS_FLAG_COMPAT;
	event->call = op->call;
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

/*
 * paths[which] = the name a syscall is given, made absolute with the
 * directory it is relative to (dfd, or the cwd for AT_FDCWD), as
 * name_join() says: through that directory's cached path when the early
 * check read it into l (NULL: it did not run). kernel: the name is a
 * kernel copy (an io_uring request's struct filename).
 */
static __always_inline void name_path(struct fs_scratch *s, __u32 which, int dfd,
				      const char *name, struct built *b,
				      const struct dir_lookup *l, bool kernel)
{
	bool relative = !name_absolute(name, kernel);
	struct dentry *dentry = NULL;
	struct vfsmount *mnt = NULL;
	__u32 dirlen = 0;

	if (l && !l->dir_dentry)
		l = NULL;
	if (relative && l) {
		dentry = (struct dentry *)l->dir_dentry;
		mnt = (struct vfsmount *)l->dir_mnt;
	} else if (relative) {
		name_dir(dfd, &dentry, &mnt);
	}
	/* one walk for either base, to keep the verifier's paths few */
	if (dentry && mnt)
		dirlen = cached_walk(dentry, mnt, s->paths[which & 1].path, &b->truncated,
				     l, false);
	name_join(s, which, dirlen, relative, name, b, kernel);
}

/*
 * paths[which] = a syscall's name made absolute; returns its classes.
 * early: the early check read the name's directory into the lookup slot.
 */
static __always_inline __u32 named_path(struct fs_scratch *s, __u32 which,
					__u64 dfd, __u64 name, bool early)
{
	struct built *b = &s->built[which & 1];

	name_path(s, which, (int)dfd, (const char *)name, b,
		  early ? dir_lookup_slot() : NULL, false);
	return classes_of(s, which, b, s->paths[which & 1].path + (b->name_at & PATH_MASK));
}

/*
 * named_path() as a global function, so the verifier checks it once per
 * program, not at each call (finish_rename makes two). It finds the
 * scratch itself and takes no pointer: the verifier checks a global
 * function apart from its callers, without what they know of a pointer.
 */
__noinline __u32 named_path_classes(__u32 which, __u64 dfd, __u64 name, __u32 early)
{
	struct fs_scratch *s = scratch();

	if (!s)
		return 0;
	return named_path(s, which, dfd, name, early);
}

/*
 * paths[0] = file's full path, through the cache of the directory in l
 * (NULL: none) as cached_walk() says; returns its classes.
 */
static __always_inline __u32 file_path_in(struct file *file, const struct dir_lookup *l)
{
	struct fs_scratch *s = scratch();
	struct built *b0;

	if (!s)
		return 0;
	b0 = &s->built[0];
	b0->len = cached_walk(BPF_CORE_READ(file, f_path.dentry), BPF_CORE_READ(file, f_path.mnt),
			      s->paths[0].path, &b0->truncated, l, true);
	return classes_of(s, 0, b0,
			  (const char *)BPF_CORE_READ(file, f_path.dentry, d_name.name));
}

/* file_path() and the classes of the path alone, a global function as
 * named_path_classes() */
__noinline __u32 file_path_only_classes(__u64 file_ptr)
{
	return file_path_in((struct file *)file_ptr, NULL);
}

/*
 * file_path_only_classes() of a file whose directory the early check
 * just read into the lookup slot, through that directory's cached path.
 * A function of its own: the programs that never run the early check do
 * not verify the cache's paths.
 */
__noinline __u32 file_path_early_classes(__u64 file_ptr)
{
	return file_path_in((struct file *)file_ptr, dir_lookup_slot());
}

/* file_path() and its classes, by path and by inode */
__noinline __u32 file_path_classes(__u64 file_ptr)
{
	return file_path_only_classes(file_ptr) | inode_classes((struct file *)file_ptr);
}

/*
 * FS_FLAG_INODE when fs_inodes gave the file a class its path does not
 * have: the path is an alias (a hard link, a bind mount) or unknown.
 */
static __always_inline __u32 inode_flag(__u32 by_path, __u32 by_inode)
{
	return by_inode & ~by_path & (FS_CLASS_PROTECT | FS_CLASS_SECRET | FS_CLASS_KILL)
		       ? FS_FLAG_INODE : 0;
}

/*
 * One side of a mount (which: 0 the target, 1 the source) into
 * paths[which]: a name relative to dfd, or dfd's own file (by_fd: an
 * empty name with *_EMPTY_PATH, e.g. an open_tree() fd). Returns its
 * classes.
 */
__noinline __u32 mount_side(__u32 which, __u64 dfd, __u64 name, __u32 by_fd)
{
	struct fs_scratch *s = scratch();
	struct file *file;
	struct built *b;

	if (!by_fd)
		return named_path_classes(which, dfd, name, 0);
	if (!s)
		return 0;
	b = &s->built[which & 1];
	s->paths[which & 1].path[0] = 0;
	b->len = 0;
	file = fd_file((int)dfd);
	if (!file)
		return 0;
	b->len = file_path(file, s->paths[which & 1].path, &b->truncated);
	return classes_of(s, which, b,
			  (const char *)BPF_CORE_READ(file, f_path.dentry, d_name.name)) |
	       inode_classes(file);
}

/*
 * A write through fd (write, pwrite, writev, the fd_out of sendfile,
 * splice, copy_file_range, fallocate) by a policed process, judged at
 * sys_enter by the file's device and inode alone: writes are the
 * machine's most frequent syscall, so the path is built only for a
 * protected inode. SIGKILL sent here is pending before the write starts,
 * and a buffered write checks for it before each chunk it copies.
 */
__noinline int write_enter(__u64 fd, __u32 call, __u32 flags)
{
	struct scope_entry *scope = current_scope();
	struct fs_scratch *s;
	struct file *file;
	__u32 by_inode;

	if (!scope || (scope->flags & SCOPE_EXEMPT))
		return 0;
	file = fd_file_direct((int)fd);
	if (!file)
		return 0;
	by_inode = inode_classes(file);
	if (!(by_inode & FS_CLASS_KILL))
		return 0;
	s = scratch();
	if (!s)
		return 0;
	__builtin_memset(s->built, 0, sizeof(s->built));
	by_inode |= file_path_only_classes((__u64)file);
	reset(&s->event);
	s->event.header.flags = (flags & FS_FLAG_COMPAT) | FS_FLAG_INODE;
	s->event.call = call;
	s->event.flags = BPF_CORE_READ(file, f_flags);
	s->event.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
	s->event.ino = BPF_CORE_READ(file, f_inode, i_ino);
	emit(s, FS_WRITE, by_inode, &s->built[0], &s->built[1], false, false);
	return 0;
}

/* ---- sys_enter: cheap checks, then remember the arguments ---- */

static __always_inline void enter_open(struct fs_origin *from, __u64 flags)
{
	struct file_system_config *cfg;

	if (!writes(flags)) {
		/* a build reads thousands of files: only look at reads when
		 * the policy names secrets */
		cfg = fs_cfg();
		if (!cfg || (!cfg->read_classes &&
			     !install_reader(cfg->install_scripts)))
			return;
	}
	stash(from, FS_OP_OPEN, 0, 0, flags, 0, 0);
}

/* An i386 chown's 16-bit id; (u16)-1 leaves it unchanged, as (u32)-1 does. */
static __always_inline __u64 id16(__u64 id)
{
	return (__u16)id == 0xffff ? (__u32)-1 : (__u16)id;
}

/* Whether a user-space name is "" (an *_EMPTY_PATH call on the fd itself). */
static __always_inline bool empty_name(__u64 name)
{
	char first = 1;

	bpf_probe_read_user(&first, 1, (const void *)name);
	return first == 0;
}

#define MS_REMOUNT 32
#define MS_BIND 4096
#define MS_MOVE 8192
#define MOVE_MOUNT_F_EMPTY_PATH 0x04
#define MOVE_MOUNT_T_EMPTY_PATH 0x40
#define OPEN_TREE_CLONE 1
#define AT_EMPTY_PATH 0x1000

/* mount, move_mount, open_tree(OPEN_TREE_CLONE), mount_setattr */
static __always_inline void enter_mount(struct fs_origin *from, int call, __u64 a0,
					__u64 a1, __u64 a2, __u64 a3, __u64 a4)
{
	__u64 how = 0;

	switch (call) {
	case FS_CALL_MOUNT:
		/* source is a path only for a bind or a move */
		if ((a3 & (MS_BIND | MS_MOVE)) && !(a3 & MS_REMOUNT))
			how = MNT_SOURCE | (a3 & MS_MOVE ? 0 : MNT_SOURCE_COPY);
		stash(from, FS_OP_MOUNT, AT_FDCWD, a1, AT_FDCWD, a0, how);
		break;
	case FS_CALL_MOVE_MOUNT:
		how = MNT_SOURCE;
		if ((a4 & MOVE_MOUNT_T_EMPTY_PATH) && empty_name(a3))
			how |= MNT_TARGET_FD;
		/* an fd from open_tree(OPEN_TREE_CLONE) or fsmount() is a
		 * detached copy being attached; a path is a mount that moves */
		if ((a4 & MOVE_MOUNT_F_EMPTY_PATH) && empty_name(a1))
			how |= MNT_SOURCE_FD | MNT_SOURCE_COPY;
		stash(from, FS_OP_MOUNT, a2, a3, a0, a1, how);
		break;
	case FS_CALL_OPEN_TREE:
		/* without OPEN_TREE_CLONE it only opens a mount that exists */
		if (!(a2 & OPEN_TREE_CLONE))
			break;
		how = MNT_TARGET_COPY;
		/* fallthrough */
	default:
		if ((a2 & AT_EMPTY_PATH) && empty_name(a1))
			how |= MNT_TARGET_FD;
		stash(from, FS_OP_MOUNT, a0, a1, 0, 0, how);
	}
}

/*
 * The syscall's registers, the ones the tracepoints are given, as a BTF
 * pointer: its fields are plain loads, where a probe read each would cost
 * more than the rest of the hook on a hot syscall.
 */
static __always_inline struct pt_regs *syscall_regs(void)
{
	return (struct pt_regs *)bpf_task_pt_regs(bpf_get_current_task_btf());
}

/* The argument registers of each ABI: i386 ebx, ecx, edx, esi, edi, ebp. */
static __always_inline void syscall_args(bool compat, __u64 a[6])
{
	struct pt_regs *regs = syscall_regs();

	if (compat) {
		a[0] = (__u32)regs->bx;
		a[1] = (__u32)regs->cx;
		a[2] = (__u32)regs->dx;
		a[3] = (__u32)regs->si;
		a[4] = (__u32)regs->di;
		a[5] = (__u32)regs->bp;
	} else {
		a[0] = regs->di;
		a[1] = regs->si;
		a[2] = regs->dx;
		a[3] = regs->r10;
		a[4] = regs->r8;
		a[5] = regs->r9;
	}
}

/* In fs_call_code()'s result: the call came by the i386 ABI. */
#define FS_CALL_COMPAT 0x10000

/* fs_call() as one code, with the ABI in FS_CALL_COMPAT. */
static __always_inline int fs_call_code(long id)
{
	bool compat = false;
	int call = fs_call(id, &compat);

	return call | (compat && call ? FS_CALL_COMPAT : 0);
}

/*
 * Whether a syscall may move a directory or free a directory's inode
 * number, for lib/dir_verdict.h: a rename, an rmdir, a change of the
 * mounts. Asked at sys_enter and at sys_exit, of the same registers.
 */
static __always_inline bool moves_dirs(int call, bool compat)
{
	switch (call) {
	case FS_CALL_RENAME:
	case FS_CALL_RENAMEAT:
	case FS_CALL_RMDIR:
	case FS_CALL_MOUNT:
	case FS_CALL_MOVE_MOUNT:
	case FS_CALL_UMOUNT:
	case FS_CALL_PIVOT_ROOT:
		return true;
	case FS_CALL_UNLINKAT:
		/* unlinkat(dfd, name, flags) */
		return (compat ? (__u32)syscall_regs()->dx : syscall_regs()->dx) & AT_REMOVEDIR;
	}
	return false;
}

/*
 * This sensor's sys_enter and sys_exit are the last members of their
 * chains (lib/syscall_chain.h), never attached: their returns, and the
 * finishers sys_exit tail-calls, end the chain, with nothing after them
 * left to run.
 */
_Static_assert(CHAIN_ENTER_FILE_SYSTEM == CHAIN_ENTER_SLOTS - 1,
	       "sys_enter must tail-call the slots after its own");
_Static_assert(CHAIN_EXIT_FILE_SYSTEM == CHAIN_EXIT_SLOTS - 1,
	       "sys_exit and its finishers must tail-call the slots after its own");

/*
 * Every syscall of the machine passes here. Only two kinds do anything:
 * the writes of a policed process, judged before they happen, and the
 * calls that move directories (by anyone), which mark themselves in
 * flight for the directory verdicts. The rest of the calls followed are
 * read at sys_exit, once their result is known.
 */
SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	struct file_system_config *cfg;
	bool compat;
	__u64 a[6];
	int call;

	/* every other syscall of the machine ends here */
	call = fs_call_code(id);
	if (!call)
		return 0;
	compat = call & FS_CALL_COMPAT;
	call &= ~FS_CALL_COMPAT;
	if (call == FS_CALL_WRITE || call == FS_CALL_WRITE_ARG2) {
		/* no protected inode known: nothing to look up */
		cfg = fs_cfg();
		if (!cfg || !cfg->inodes)
			return 0;
		syscall_args(compat, a);
		write_enter(call == FS_CALL_WRITE ? a[0] : a[2], id,
			    compat ? FS_FLAG_COMPAT : 0);
		return 0;
	}
	if (moves_dirs(call, compat))
		dir_change_begin(bpf_get_current_pid_tgid());
	return 0;
}

/*
 * What sys_exit hands its finisher: the policed process's syscall call
 * (id in its ABI) with its arguments, as an op in *pending (op 0: nothing
 * to finish, such as a read-only open when no secret is named).
 */
static __always_inline void read_call(long id, int call, bool compat, struct fs_pending *pending)
{
	struct open_how how = {};
	struct fs_origin from;
	__u64 a[6];

	from.call = id;
	from.flags = compat ? FS_FLAG_COMPAT : 0;
	from.out = pending;
	pending->op = 0;
	syscall_args(compat, a);
	switch (call) {
	case FS_CALL_OPENAT:
		enter_open(&from, a[2]);
		break;
	case FS_CALL_OPEN:
		enter_open(&from, a[1]);
		break;
	case FS_CALL_CREAT:
		enter_open(&from, O_CREAT | O_TRUNC | 1);
		break;
	case FS_CALL_OPENAT2:
		bpf_probe_read_user(&how, sizeof(how), (void *)a[2]);
		enter_open(&from, how.flags);
		break;
	case FS_CALL_PIDFD_GETFD:
		stash(&from, FS_OP_GETFD, 0, 0, 0, 0, 0);
		break;
	case FS_CALL_NAME_TO_HANDLE:
		stash(&from, FS_OP_HANDLE, a[0], a[1], 0, 0, 0);
		break;
	case FS_CALL_UNLINK:
		stash(&from, FS_OP_UNLINK, AT_FDCWD, a[0], 0, 0, 0);
		break;
	case FS_CALL_UNLINKAT:
		stash(&from, FS_OP_UNLINK, a[0], a[1], a[2], 0, 0);
		break;
	case FS_CALL_RMDIR:
		stash(&from, FS_OP_UNLINK, AT_FDCWD, a[0], AT_REMOVEDIR, 0, 0);
		break;
	case FS_CALL_LINK:
		stash(&from, FS_OP_LINK, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
		break;
	case FS_CALL_LINKAT:
		stash(&from, FS_OP_LINK, a[0], a[1], a[2], a[3], 0);
		break;
	case FS_CALL_SYMLINK:
		stash(&from, FS_OP_SYMLINK, AT_FDCWD, a[1], 0, 0, 0);
		break;
	case FS_CALL_SYMLINKAT:
		stash(&from, FS_OP_SYMLINK, a[1], a[2], 0, 0, 0);
		break;
	case FS_CALL_MKDIR:
		stash(&from, FS_OP_MKDIR, AT_FDCWD, a[0], a[1], 0, 0);
		break;
	case FS_CALL_MKDIRAT:
		stash(&from, FS_OP_MKDIR, a[0], a[1], a[2], 0, 0);
		break;
	case FS_CALL_RENAME:
		stash(&from, FS_OP_RENAME, AT_FDCWD, a[0], AT_FDCWD, a[1], 0);
		break;
	case FS_CALL_RENAMEAT:
		stash(&from, FS_OP_RENAME, a[0], a[1], a[2], a[3], 0);
		break;
	case FS_CALL_CHMOD:
		stash(&from, FS_OP_CHMOD, AT_FDCWD, a[0], a[1], 0, 0);
		break;
	case FS_CALL_FCHMODAT:
		stash(&from, FS_OP_CHMOD, a[0], a[1], a[2], 0, 0);
		break;
	case FS_CALL_FCHMOD:
		stash(&from, FS_OP_FCHMOD, a[0], a[1], 0, 0, 0);
		break;
	case FS_CALL_CHOWN:
		stash(&from, FS_OP_CHOWN, AT_FDCWD, a[0], a[1], a[2], 0);
		break;
	case FS_CALL_CHOWN16:
		stash(&from, FS_OP_CHOWN, AT_FDCWD, a[0], id16(a[1]), id16(a[2]), 0);
		break;
	case FS_CALL_FCHOWNAT:
		stash(&from, FS_OP_CHOWN, a[0], a[1], a[2], a[3], 0);
		break;
	case FS_CALL_FCHOWN:
		stash(&from, FS_OP_FCHOWN, a[0], a[1], a[2], 0, 0);
		break;
	case FS_CALL_FCHOWN16:
		stash(&from, FS_OP_FCHOWN, a[0], id16(a[1]), id16(a[2]), 0, 0);
		break;
	case FS_CALL_TRUNCATE:
		stash(&from, FS_OP_TRUNCATE, AT_FDCWD, a[0], 0, 0, 0);
		break;
	case FS_CALL_FTRUNCATE:
		stash(&from, FS_OP_FTRUNCATE, a[0], 0, 0, 0, 0);
		break;
	case FS_CALL_MOUNT:
	case FS_CALL_MOVE_MOUNT:
	case FS_CALL_OPEN_TREE:
	case FS_CALL_MOUNT_SETATTR:
		enter_mount(&from, call, a[0], a[1], a[2], a[3], a[4]);
		break;
	}
}

/* ---- early exits: a directory's verdict (lib/dir_verdict.h) ---- */


/*
 * The struct windows file_ruled_out_early() reads whole, off its stack: a
 * finisher's frame and this function's together must fit the verifier's
 * 512 bytes.
 */
struct fs_windows {
	__u64 file[12], dentry[7], parent[9], inode[9];
	/* the file the check read (0: none in this syscall) and what
	 * finish_fd needs of it again: its inode, device and mode */
	__u64 of;
	__u64 ino;
	__u32 dev;
	__u32 mode;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_windows);
} fs_windows SEC(".maps");

/*
 * Whether file (opened, or named by fd) concerns no rule of the classes
 * care, known without a walk: no class every path has, none of care for
 * its directory's children, its name or its inode. *l is where its
 * directory's verdict is learnt when it had none.
 */
__noinline int file_ruled_out_early(__u64 file_ptr, __u32 care)
{
	struct file *file = (struct file *)file_ptr;
	struct dir_lookup *l = dir_lookup_slot();
	struct file_system_config *cfg = fs_cfg();
	/* a few windows read whole: a probe read per field costs more than
	 * the rest of this check */
	struct fs_windows *win;
	__u64 *fw, *dw, *pw, *iw, mnt_id;
	__u32 zero = 0;
	__u32 *value;
	struct super_block *sb, *parent_sb;
	struct fs_inode_key key = {};
	struct dentry *dentry, *parent;
	struct inode *inode, *parent_inode;
	struct vfsmount *mnt;
	__u32 mode;

	win = bpf_map_lookup_elem(&fs_windows, &zero);
	if (!l || !win)
		return 0;
	fw = win->file;
	dw = win->dentry;
	pw = win->parent;
	iw = win->inode;
	win->of = 0;
	l->usable = false;
	l->found = false;
	l->dir_dentry = 0;
	if (!cfg || cfg->match_all)
		return 0;
	if (!WINDOW_HAS(sizeof(win->file), struct file, f_mode) ||
	    !WINDOW_HAS(sizeof(win->file), struct file, f_inode) ||
	    !WINDOW_HAS(sizeof(win->file), struct file, f_path.mnt) ||
	    !WINDOW_HAS(sizeof(win->file), struct file, f_path.dentry) ||
	    !WINDOW_HAS(sizeof(win->dentry), struct dentry, d_parent) ||
	    !WINDOW_HAS(sizeof(win->dentry), struct dentry, d_name.name) ||
	    !WINDOW_HAS(sizeof(win->parent), struct inode, i_sb) ||
	    !WINDOW_HAS(sizeof(win->parent), struct inode, i_ino) ||
	    !bpf_core_field_exists(((struct mount *)0)->mnt_id_unique))
		return 0;
	if (bpf_probe_read_kernel(fw, sizeof(win->file), file))
		return 0;
	mode = WINDOW_GET(fw, struct file, f_mode);
	inode = WINDOW_GET(fw, struct file, f_inode);
	mnt = (struct vfsmount *)WINDOW_GET(fw, struct file, f_path.mnt);
	dentry = (struct dentry *)WINDOW_GET(fw, struct file, f_path.dentry);
	/* a mount's root (a file bind-mounted) has its directory on another mount */
	if (!mnt || !dentry || dentry == BPF_CORE_READ(mnt, mnt_root))
		return 0;
	if (bpf_probe_read_kernel(dw, sizeof(win->dentry), dentry))
		return 0;
	parent = WINDOW_GET(dw, struct dentry, d_parent);
	/* a disconnected dentry (from a handle) is its own parent */
	if (!parent || parent == dentry)
		return 0;
	parent_inode = BPF_CORE_READ(parent, d_inode);
	if (!parent_inode || bpf_probe_read_kernel(pw, sizeof(win->parent), parent_inode) ||
	    bpf_probe_read_kernel(iw, sizeof(win->inode), inode))
		return 0;
	l->dir_dentry = (__u64)parent;
	l->dir_mnt = (__u64)mnt;
	parent_sb = WINDOW_GET(pw, struct inode, i_sb);
	sb = WINDOW_GET(iw, struct inode, i_sb);
	mnt_id = BPF_CORE_READ((struct mount *)((void *)mnt -
						bpf_core_field_offset(struct mount, mnt)),
			       mnt_id_unique);
	key.ino = WINDOW_GET(iw, struct inode, i_ino);
	key.dev = BPF_CORE_READ(sb, s_dev);
	win->of = file_ptr;
	win->ino = key.ino;
	win->dev = key.dev;
	win->mode = mode;
	dir_lookup_by(mnt_id, WINDOW_GET(pw, struct inode, i_ino),
		      parent_sb == sb ? key.dev : BPF_CORE_READ(parent_sb, s_dev), l);
	if (!l->found || l->deeper || (l->value & care))
		return 0;
	if (name_classes((const char *)WINDOW_GET(dw, struct dentry, d_name.name)) & care)
		return 0;
	/* inode_classes(): a file this open created is none of those known */
	if (mode & FMODE_CREATED)
		return 1;
	value = bpf_map_lookup_elem(&fs_inodes, &key);
	return !value || !(*value & care);
}

/*
 * What file_ruled_out_early() read of file in this syscall, or NULL when
 * it did not get that far: finish_fd takes the inode, device and mode
 * from there rather than reading them again.
 */
static __always_inline struct fs_windows *early_read(struct file *file)
{
	__u32 zero = 0;
	struct fs_windows *win = bpf_map_lookup_elem(&fs_windows, &zero);

	return win && win->of == (__u64)file ? win : NULL;
}

/* inode_classes() of the file early_read() has. */
static __always_inline __u32 early_inode_classes(struct fs_windows *win)
{
	struct fs_inode_key key = { .ino = win->ino, .dev = win->dev };
	__u32 *value;

	/* as inode_classes(): a file this open created is none of those known */
	if (win->mode & FMODE_CREATED)
		return 0;
	value = bpf_map_lookup_elem(&fs_inodes, &key);
	return value ? *value : 0;
}

/* Learns file's directory's verdict from its path, just built in paths[0]. */
__noinline int learn_file_dir(__u64 file_ptr)
{
	struct file *file = (struct file *)file_ptr;
	struct dir_lookup *l = dir_lookup_slot();
	struct dentry_walk_buf *w = walk_buf();
	struct fs_scratch *s = scratch();
	__u32 namelen, dirlen;
	struct built *b;

	if (!l || !s || !l->usable || l->found)
		return 0;
	b = &s->built[0];
	namelen = BPF_CORE_READ(file, f_path.dentry, d_name.len);
	dirlen = b->len - namelen;
	dir_learn(l, &s->paths[0], dirlen,
		  w && !w->detached && !b->truncated && b->len > namelen &&
		  s->paths[0].path[(dirlen - 1) & PATH_MASK] == '/');
	return 0;
}

/*
 * Whether a name given to a syscall (relative to dfd) concerns no rule,
 * known without a walk: one component (no "/", not "." or "..") in a
 * directory whose children no rule names, and no class of its own.
 */
__noinline int name_ruled_out_early(__u64 dfd, __u64 name)
{
	struct dir_lookup *l = dir_lookup_slot();
	struct file_system_config *cfg = fs_cfg();
	struct fs_name_key key = {};
	struct dentry *dentry;
	struct vfsmount *mnt;
	__u32 *value;
	long copied;
	int i;

	if (!l)
		return 0;
	l->usable = false;
	l->found = false;
	l->dir_dentry = 0;
	if (!cfg || cfg->match_all)
		return false;
	copied = bpf_probe_read_user_str(key.name, sizeof(key.name), (const void *)name);
	if (copied <= 1 || copied >= FS_NAME_MAX)
		return false;
	if (key.name[0] == '.' && (!key.name[1] || (key.name[1] == '.' && !key.name[2])))
		return false;
	/* up to the NUL: a short name is most names */
	for (i = 0; i < FS_NAME_MAX && i < copied; i++) {
		if (key.name[i] == '/')
			return false;
	}
	name_dir((int)dfd, &dentry, &mnt);
	if (!dentry || !mnt)
		return false;
	l->dir_dentry = (__u64)dentry;
	l->dir_mnt = (__u64)mnt;
	dir_lookup(dentry, mnt, l);
	if (!l->found || l->deeper || l->value)
		return false;
	value = bpf_map_lookup_elem(&fs_names, &key);
	return !value || !*value;
}

/* Learns the directory's verdict from a name's path, just built in paths[0]. */
__noinline int learn_name_dir(void)
{
	struct dir_lookup *l = dir_lookup_slot();
	struct dentry_walk_buf *w = walk_buf();
	struct fs_scratch *s = scratch();
	struct built *b;

	if (!l || !s || !l->usable || l->found)
		return 0;
	b = &s->built[0];
	dir_learn(l, &s->paths[0], b->name_at,
		  w && !w->detached && !b->truncated && !b->odd);
	return 0;
}

/*
 * Whether a read-only open of file is of no interest: builds open
 * thousands of files to read, and when the secrets are all "**\/name"
 * patterns the name alone rules most out without a walk (and the inode,
 * when secrets are known by it). Shared by open(2) and io_uring's OPENAT.
 */
static __always_inline bool read_ruled_out(struct file_system_config *cfg,
					   struct file *file, __u64 flags)
{
	return !writes(flags) && cfg && !cfg->read_paths &&
	       !(name_classes((const char *)BPF_CORE_READ(file, f_path.dentry, d_name.name)) &
		 FS_CLASS_SECRET) &&
	       !(cfg->inodes && (inode_classes(file) & FS_CLASS_SECRET)) &&
	       !install_reader(cfg->install_scripts);
}

/*
 * The kind of an open with flags; mode is the new file's f_mode when the
 * open may have created it (0 for a descriptor taken from elsewhere).
 */
static __always_inline __u8 open_kind(__u32 mode, __u64 flags)
{
	if (mode & FMODE_CREATED)
		return FS_CREATE;
	if (!writes(flags))
		return FS_READ;
	return flags & O_TRUNC ? FS_TRUNCATE : FS_OPEN;
}

/*
 * The finishers are reached by tail call from sys_exit: the verifier
 * checks each on its own rather than every path through all of them at
 * once. They are never attached.
 */

/* open, openat, openat2, creat, open_by_handle_at, pidfd_getfd, fchmod,
 * fchown, ftruncate: by fd */
SEC("raw_tp/sys_exit")
int BPF_PROG(finish_fd, struct pt_regs *regs, long ret)
{
	struct fs_windows *early;
	__u32 by_path, by_inode, mode;
	struct built *b0, *b1;
	struct fs_pending op;
	struct fs_scratch *s;
	struct file *file;
	bool opened;
	__u64 flags;
	__u8 kind;

	s = finish_begin(ret, &op);
	if (!s)
		return 0;
	b0 = &s->built[0];
	b1 = &s->built[1];
	opened = op.op == FS_OP_OPEN || op.op == FS_OP_GETFD;
	file = fd_file_direct(opened ? ret : (int)op.args[0]);
	if (!file)
		return 0;
	/* a descriptor taken from another process keeps the flags it was
	 * opened with */
	flags = op.op == FS_OP_GETFD ? BPF_CORE_READ(file, f_flags) : op.args[2];
	if (opened && read_ruled_out(fs_cfg(), file, flags))
		return 0;
	/* a read-only open is sent for a secret only (an install script's
	 * included): a watched directory's files are read without a walk */
	if (file_ruled_out_early((__u64)file, opened && !writes(flags) ?
					      FS_CLASS_SECRET | FS_CLASS_DEP_SECRET :
					      FS_CLASSES_MASK))
		return 0;
	by_path = file_path_early_classes((__u64)file);
	learn_file_dir((__u64)file);
	early = early_read(file);
	by_inode = early ? early_inode_classes(early) : inode_classes(file);
	reset_op(&s->event, &op);
	s->event.header.flags |= inode_flag(by_path, by_inode);
	if (early) {
		s->event.dev = early->dev;
		s->event.ino = early->ino;
	} else {
		s->event.dev = BPF_CORE_READ(file, f_inode, i_sb, s_dev);
		s->event.ino = BPF_CORE_READ(file, f_inode, i_ino);
	}
	if (opened) {
		s->event.flags = flags;
		if (op.op != FS_OP_OPEN)
			mode = 0;
		else
			mode = early ? early->mode : BPF_CORE_READ(file, f_mode);
		kind = open_kind(mode, flags);
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
	emit_as(s, kind, by_path | by_inode, b0, b1, false, false, op.scope);
	return 0;
}

/* unlink, rmdir, chmod, chown, truncate, symlink, mkdir,
 * name_to_handle_at: by name */
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
	if (name_ruled_out_early(op.args[0], op.args[1]))
		return 0;
	classes = named_path_classes(0, op.args[0], op.args[1], 1);
	learn_name_dir();
	reset_op(&s->event, &op);
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
	} else if (op.op == FS_OP_HANDLE) {
		kind = FS_HANDLE;
	} else {
		kind = FS_TRUNCATE;
	}
	emit_as(s, kind, classes, b0, b1, false, false, op.scope);
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
	classes = named_path_classes(0, op.args[0], op.args[1], 0);
	classes |= named_path_classes(1, op.args[2], op.args[3], 0);
	reset_op(&s->event, &op);
	emit_as(s, op.op == FS_OP_LINK ? FS_LINK : FS_RENAME, classes, b0, b1, true, false,
		op.scope);
	return 0;
}

/* The inode number of this task's mount namespace. */
static __always_inline __u32 mount_namespace(void)
{
	struct task_struct *task = (struct task_struct *)bpf_get_current_task();

	return BPF_CORE_READ(task, nsproxy, mnt_ns, ns.inum);
}

/*
 * mount, move_mount, open_tree(OPEN_TREE_CLONE), mount_setattr: the
 * target (for open_tree, the tree cloned) and the source of a bind or a
 * move. Only a mount in the agent's mount namespace changes what others
 * see: a private namespace (unshare -m) is the process's own business.
 * The mount is in place when the kill lands; the agent takes it down.
 */
SEC("raw_tp/sys_exit")
int BPF_PROG(finish_mount, struct pt_regs *regs, long ret)
{
	struct file_system_config *cfg;
	struct built *b0, *b1;
	struct fs_pending op;
	struct fs_scratch *s;
	__u32 classes, source;
	bool two;

	s = finish_begin(ret, &op);
	if (!s)
		return 0;
	cfg = fs_cfg();
	if (cfg && cfg->mnt_ns && mount_namespace() != cfg->mnt_ns)
		return 0;
	b0 = &s->built[0];
	b1 = &s->built[1];
	two = op.args[4] & MNT_SOURCE;
	classes = mount_side(0, op.args[0], op.args[1], op.args[4] & MNT_TARGET_FD);
	if (op.args[4] & MNT_TARGET_COPY)
		classes &= ~FS_CLASS_ABOVE;
	if (two) {
		source = mount_side(1, op.args[2], op.args[3], op.args[4] & MNT_SOURCE_FD);
		if (op.args[4] & MNT_SOURCE_COPY)
			source &= ~FS_CLASS_ABOVE;
		classes |= source;
	}
	reset_op(&s->event, &op);
	emit_as(s, FS_MOUNT, classes, b0, b1, two, false, op.scope);
	return 0;
}

#define TAIL_FD 0
#define TAIL_NAME 1
#define TAIL_RENAME 2
#define TAIL_MOUNT 3

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__array(values, int (void *));
} fs_tails SEC(".maps") = {
	.values = {
		[TAIL_FD] = (void *)&finish_fd,
		[TAIL_NAME] = (void *)&finish_name,
		[TAIL_RENAME] = (void *)&finish_rename,
		[TAIL_MOUNT] = (void *)&finish_mount,
	},
};

/*
 * A directory-changing call's end moves the verdicts' generation, whoever
 * made it; a policed process's syscall that succeeded goes to its
 * finisher.
 */
SEC("raw_tp/sys_exit")
int BPF_PROG(sys_exit, struct pt_regs *regs, long ret)
{
	long id = syscall_regs()->orig_ax;
	struct scope_entry *scope;
	struct fs_pending *pending;
	__u32 zero = 0;
	bool compat;
	int call;

	call = fs_call_code(id);
	if (!call)
		return 0;
	compat = call & FS_CALL_COMPAT;
	call &= ~FS_CALL_COMPAT;
	if (!fs_exit_call(call))
		return 0;
	if (moves_dirs(call, compat))
		dir_change_end(bpf_get_current_pid_tgid());
	/* a failed syscall changed nothing */
	if (ret < 0)
		return 0;
	scope = current_scope();
	if (!scope)
		return 0;
	pending = bpf_map_lookup_elem(&fs_pending, &zero);
	if (!pending)
		return 0;
	read_call(id, call, compat, pending);
	/* the finisher's event is the process's as found here */
	pending->scope = scope->flags;
	switch (pending->op) {
	case 0:
		break;
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
	case FS_OP_HANDLE:
		bpf_tail_call(ctx, &fs_tails, TAIL_NAME);
		break;
	case FS_OP_MOUNT:
		bpf_tail_call(ctx, &fs_tails, TAIL_MOUNT);
		break;
	default:
		bpf_tail_call(ctx, &fs_tails, TAIL_FD);
	}
	return 0;
}

/* ---- io_uring: requests that never pass sys_enter (lib/fs_uring.h) ---- */

#include "lib/fs_uring.h"

/* Whether an io_uring opcode may move a directory or remove one. */
static __always_inline bool uring_moves_dirs(int opcode)
{
	return opcode == URING_OP(RENAMEAT) || opcode == URING_OP(UNLINKAT);
}

/*
 * Every io_uring request of the machine comes here: anything but a
 * policed process's, or a rename or unlink (in flight for the directory
 * verdicts until it completes), costs one scope lookup.
 */
SEC("raw_tp/io_uring_submit_req")
int BPF_PROG(uring_submit_req, struct io_kiocb *req)
{
	if (uring_moves_dirs(BPF_CORE_READ(req, opcode)))
		dir_change_begin((__u64)req);
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
	int opcode = BPF_CORE_READ(req, opcode);

	/* a request whose completion posts no CQE stays in flight: the
	 * verdicts are off from then on, never stale */
	if (uring_moves_dirs(opcode))
		dir_change_end((__u64)req);
	if (!current_scope())
		return 0;
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
	/* a directory above a protected tree moves the tree with it */
	if (!(classes & (FS_CLASS_KILL | FS_CLASS_ABOVE)))
		return 0;
	reset(&s->event);
	emit(s, FS_RENAME, classes, &s->built[0], &s->built[1], true, true);
	return -EPERM;
}
