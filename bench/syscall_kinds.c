/*
 * N calls of one syscall kind in DIR, for bench/syscall_kinds.ts: the
 * sensors' in-kernel time divided by N is what that kind costs.
 *   syscall_kinds KIND DIR N
 * KIND "rel_K" runs K in DIR by names relative to it, as the file storm
 * does: one component, which the sensors judge without a walk when its
 * directory's verdict is known.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/futex.h>
#include <sys/epoll.h>

static char path[4096], other[4096];

static const char *at(const char *dir, const char *name, long i)
{
	if (!*dir)
		snprintf(path, sizeof(path), "%s%ld", name, i);
	else
		snprintf(path, sizeof(path), "%s/%s%ld", dir, name, i);
	return path;
}

int main(int argc, char **argv)
{
	const char *kind, *dir;
	struct stat st;
	long n, i;
	int fd;

	if (argc != 4)
		return 2;
	kind = argv[1];
	dir = argv[2];
	n = atol(argv[3]);
	if (!strncmp(kind, "rel_", 4)) {
		if (chdir(dir))
			return perror("chdir"), 1;
		kind += 4;
		dir = "";
	}
	/* a file every kind may read or write */
	fd = open(at(dir, "file", 0), O_CREAT | O_RDWR, 0644);
	if (fd < 0)
		return perror("open"), 1;
	if (!strcmp(kind, "null")) {
		for (i = 0; i < n; i++)
			syscall(SYS_getppid);
	} else if (!strcmp(kind, "futex")) {
		static int word;
		for (i = 0; i < n; i++)
			syscall(SYS_futex, &word, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
	} else if (!strcmp(kind, "epoll")) {
		struct epoll_event ev;
		int ep = epoll_create1(0);
		for (i = 0; i < n; i++)
			epoll_wait(ep, &ev, 1, 0);
	} else if (!strcmp(kind, "read_pipe")) {
		/* a write and a read a call: a pipe's write is judged too */
		int p[2];
		char c;
		if (pipe(p))
			return perror("pipe"), 1;
		for (i = 0; i < n; i++) {
			if (write(p[1], "x", 1) != 1 || read(p[0], &c, 1) != 1)
				return perror("pipe"), 1;
		}
	} else if (!strcmp(kind, "write")) {
		for (i = 0; i < n; i++)
			if (pwrite(fd, "x", 1, 0) != 1)
				return perror("pwrite"), 1;
	} else if (!strcmp(kind, "read")) {
		char c;
		for (i = 0; i < n; i++)
			pread(fd, &c, 1, 0);
	} else if (!strcmp(kind, "open_read")) {
		for (i = 0; i < n; i++) {
			int f = openat(AT_FDCWD, at(dir, "file", 0), O_RDONLY);
			if (f < 0)
				return perror("openat"), 1;
			close(f);
		}
	} else if (!strcmp(kind, "open_write")) {
		for (i = 0; i < n; i++) {
			int f = openat(AT_FDCWD, at(dir, "file", 0), O_WRONLY);
			if (f < 0)
				return perror("openat"), 1;
			close(f);
		}
	} else if (!strcmp(kind, "open_creat")) {
		for (i = 0; i < n; i++) {
			int f = openat(AT_FDCWD, at(dir, "c", i), O_CREAT | O_WRONLY | O_EXCL, 0644);
			if (f < 0)
				return perror("openat"), 1;
			close(f);
		}
	} else if (!strcmp(kind, "unlink")) {
		for (i = 0; i < n; i++)
			if (unlink(at(dir, "c", i)))
				return perror("unlink"), 1;
	} else if (!strcmp(kind, "fstatat")) {
		for (i = 0; i < n; i++)
			fstatat(AT_FDCWD, at(dir, "file", 0), &st, 0);
	} else if (!strcmp(kind, "mkdir")) {
		for (i = 0; i < n; i++)
			if (mkdir(at(dir, "d", i), 0755))
				return perror("mkdir"), 1;
	} else if (!strcmp(kind, "mkdir_exists")) {
		for (i = 0; i < n; i++)
			mkdir(at(dir, "d", 0), 0755);
	} else if (!strcmp(kind, "rmdir")) {
		for (i = 0; i < n; i++)
			if (rmdir(at(dir, "d", i)))
				return perror("rmdir"), 1;
	} else if (!strcmp(kind, "rename")) {
		for (i = 0; i < n; i++) {
			snprintf(other, sizeof(other), "%s%sr%ld", dir, *dir ? "/" : "",
				 (i + 1) & 1);
			if (i == 0)
				close(open(at(dir, "r", 0), O_CREAT | O_WRONLY, 0644));
			if (rename(at(dir, "r", i & 1), other))
				return perror("rename"), 1;
		}
	} else if (!strcmp(kind, "symlink")) {
		for (i = 0; i < n; i++)
			if (symlink("file0", at(dir, "s", i)))
				return perror("symlink"), 1;
	} else if (!strcmp(kind, "chmod")) {
		for (i = 0; i < n; i++)
			if (chmod(at(dir, "file", 0), i & 1 ? 0600 : 0644))
				return perror("chmod"), 1;
	} else {
		return 2;
	}
	return 0;
}
