/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Full paths for sensor.file-system: an open file's by dentry walk
 * (dentry_path.h), a name given to a syscall joined to the directory it
 * is relative to.
 *
 * The scratch paths are built in also holds the event they are sent in,
 * so that an event is filled without a copy through the stack.
 */
#ifndef RINGFENCE_PATH_H
#define RINGFENCE_PATH_H

#include "../file_system.h"
#include "dentry_path.h"

_Static_assert(FS_PATH_MAX == DENTRY_PATH_MAX, "paths are built by dentry_path.h");
_Static_assert(FS_MAX_DEPTH == DENTRY_MAX_DEPTH, "paths are built by dentry_path.h");

/* include/uapi/linux/fcntl.h: a dirfd meaning the current directory */
#define AT_FDCWD -100

/* a bound the verifier can see on offsets into two paths */
#define DATA_MASK (FS_PATH_MAX * 2 - 1)

/* A path being built; its first FS_PREFIX_MAX bytes with prefixlen are
 * the LPM key, so the trie is asked without a copy. */
struct fs_path_buf {
	__u32 prefixlen;
	char path[2 * FS_PATH_MAX];
};

/* What building paths[i] found out, in built[i]. */
struct built {
	__u32 len;		/* without the NUL */
	__u32 name_at;		/* where the last component starts */
	bool truncated;
	bool odd;		/* the name has "//", "/./" or "/../" in it */
	/* the bulk root the path is under (the prefix map value's high 16
	 * bits, lib/bulk.h); 0: none */
	__u16 root;
};

/*
 * Where a scan of a path is and what it found. The path is read eight
 * bytes at a time; a byte's class (a '/', a '.') is its 0x80 bit in a
 * mask of the word, so that a pattern is an AND of shifted masks. It
 * lives in the scratch map, whose values the verifier does not track: a
 * scan's state on the stack would be verified once per value it took.
 */
struct scan {
	__u32 which;		/* paths[which] */
	__u32 start;		/* the first byte scanned: where the name joins the path */
	__u32 end;		/* where the path ends (its NUL) */
	__u32 base;		/* the first word: start rounded down to a multiple of 8 */
	__u32 slash_word;	/* the last word with a '/' */
	__u64 slash_bytes;	/* its '/' bytes */
	__u64 slashes;		/* the last word's '/' bytes, as 0x80 bits */
	__u64 dots;		/* its '.' bytes */
	__u64 odd;		/* nonzero: "//", "/./" or "/../" seen */
};

struct fs_scratch {
	/* in map memory, where the verifier does not track values: two paths
	 * built one after the other do not multiply its states */
	struct built built[2];
	struct scan scan;
	struct file_system_event event;
	struct fs_path_buf paths[2];
};

/* too large for the 512-byte stack; one per CPU, as a program runs on one */
struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct fs_scratch);
} fs_scratch SEC(".maps");

static __always_inline struct fs_scratch *scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&fs_scratch, &zero);
}

#define BYTES_01 0x0101010101010101ULL
#define BYTES_7F 0x7f7f7f7f7f7f7f7fULL

/* 0x80 in each byte of x that is zero, exactly: no borrow between bytes */
static __always_inline __u64 zero_bytes(__u64 x)
{
	return ~(((x & BYTES_7F) + BYTES_7F) | x | BYTES_7F);
}

/* The index (0-7) of the highest byte with its 0x80 bit set in m (m != 0). */
static __always_inline __u32 high_byte(__u64 m)
{
	__u32 at = 0;

	if (m >> 32) {
		at += 4;
		m >>= 32;
	}
	if (m >> 16) {
		at += 2;
		m >>= 16;
	}
	if (m >> 8)
		at += 1;
	return at;
}

/*
 * One word of the path (bpf_loop): where its last component starts, and
 * whether it has components the kernel did not resolve. A "//" is a '/'
 * after a '/'; a "/." or "/.." component ends at a '/' or at the end. The
 * bytes before start and after end are no characters: the mask of bytes
 * in [start, end) keeps them out, and the end is a place a component ends.
 * The previous word's masks give the patterns that cross into this one.
 */
static long scan_word(__u64 index, void *data)
{
	struct fs_scratch *s = scratch();
	__u64 x, slash, dot, ends, s1, s2, s3, d1, d2, chars = ~0ULL;
	struct scan *sc;
	__u32 base, from, to;

	if (!s)
		return 1;
	sc = &s->scan;
	base = sc->base + ((__u32)index << 3);
	x = *(__u64 *)&s->paths[sc->which & 1].path[base & (DATA_MASK & ~7)];
	/* bytes [from, to) of this word are characters of the scan */
	from = sc->start > base ? (sc->start - base) & 7 : 0;
	to = sc->end - base < 8 ? sc->end - base : 8;
	chars <<= from * 8;
	if (to < 8)
		chars &= (1ULL << ((to & 7) * 8)) - 1;
	chars &= ~BYTES_7F;
	slash = zero_bytes(x ^ ('/' * BYTES_01)) & chars;
	dot = zero_bytes(x ^ ('.' * BYTES_01)) & chars;
	ends = slash;
	if (to < 8)
		ends |= 0x80ULL << ((to & 7) * 8);
	s1 = (slash << 8) | (sc->slashes >> 56);
	s2 = (slash << 16) | (sc->slashes >> 48);
	s3 = (slash << 24) | (sc->slashes >> 40);
	d1 = (dot << 8) | (sc->dots >> 56);
	d2 = (dot << 16) | (sc->dots >> 48);
	sc->odd |= (slash & s1) | (ends & d1 & s2) | (ends & d1 & d2 & s3);
	if (slash) {
		sc->slash_word = base;
		sc->slash_bytes = slash;
	}
	sc->slashes = slash;
	sc->dots = dot;
	return to < 8;
}

/*
 * b->odd and b->name_at of paths[which], b->len bytes, scanned from start
 * (the name's joining '/', or 0 for an absolute name): whether a "//",
 * "/./" or "/../" is in it, and where its last component starts.
 */
static __always_inline void path_scan(struct fs_scratch *s, __u32 which, __u32 start,
				      struct built *b)
{
	struct scan *sc = &s->scan;

	sc->which = which;
	sc->start = start;
	sc->end = b->len;
	sc->base = start & ~7;
	sc->slash_word = 0;
	sc->slash_bytes = 0;
	sc->slashes = 0;
	sc->dots = 0;
	sc->odd = 0;
	/* the end the scan stops at, whatever a failed copy left there */
	s->paths[which & 1].path[b->len & DATA_MASK] = 0;
	bpf_loop(((b->len - sc->base) >> 3) + 1, scan_word, NULL, 0);
	b->odd = sc->odd != 0;
	b->name_at = (sc->slash_bytes ? sc->slash_word + high_byte(sc->slash_bytes) : 0) + 1;
}

/* Whether a name given to a syscall is absolute (kernel: a kernel copy). */
static __always_inline bool name_absolute(const char *name, bool kernel)
{
	char first = 0;

	if (kernel)
		bpf_probe_read_kernel(&first, 1, name);
	else
		bpf_probe_read_user(&first, 1, name);
	return first == '/';
}

/*
 * The directory a relative name is resolved from: dfd's, or the cwd for
 * AT_FDCWD (both NULL when there is none).
 */
static __always_inline void name_dir(int dfd, struct dentry **dentry, struct vfsmount **mnt)
{
	struct fs_struct *fs;
	struct file *dir;

	*dentry = NULL;
	*mnt = NULL;
	if (dfd == AT_FDCWD) {
		/* plain loads through BTF: cheaper than a probe read each */
		fs = bpf_get_current_task_btf()->fs;
		if (!fs)
			return;
		*dentry = fs->pwd.dentry;
		*mnt = fs->pwd.mnt;
	} else {
		dir = fd_file(dfd);
		*dentry = BPF_CORE_READ(dir, f_path.dentry);
		*mnt = BPF_CORE_READ(dir, f_path.mnt);
	}
}

/*
 * paths[which] = name joined to the directory's path that is already in
 * it, dirlen bytes (relative names only); *b says how long it is, where
 * its last component starts, and whether it is cut or has components to
 * normalise. kernel: the name is a kernel copy (an io_uring request's
 * struct filename), not the caller's memory.
 */
static __always_inline void name_join(struct fs_scratch *s, __u32 which, __u32 dirlen,
				      bool relative, const char *name, struct built *b,
				      bool kernel)
{
	char *out = s->paths[which & 1].path;
	__u32 start = 0;
	long copied;

	if (relative) {
		/* the root is "/": the name follows its slash */
		if (dirlen == 1)
			dirlen = 0;
		out[dirlen & PATH_MASK] = '/';
		start = dirlen & PATH_MASK;
		dirlen = (dirlen + 1) & PATH_MASK;
	} else {
		dirlen = 0;
	}
	if (kernel)
		copied = bpf_probe_read_kernel_str(out + dirlen, FS_PATH_MAX, name);
	else
		copied = bpf_probe_read_user_str(out + dirlen, FS_PATH_MAX, name);
	if (copied < 1)
		copied = 1;
	b->len = dirlen + copied - 1;
	if (b->len >= FS_PATH_MAX - 1) {
		b->truncated = true;
		b->len = FS_PATH_MAX - 1;
		out[FS_PATH_MAX - 1] = 0;
	}
	path_scan(s, which, start, b);
}

#endif /* RINGFENCE_PATH_H */
