/*
 * fs_bypass MODE ...: the ways around a path check on a protected file
 * that tests/file_system_bypass_test.ts tries from a policed process.
 * Each prints what it got ("wrote N", "read TEXT", "errno E") and exits 0
 * when the call returned, whatever its result: a kill shows as the signal.
 *
 *   int80-write PATH open|openat   i386 open + write of "evil\n"
 *   int80-read PATH                i386 open + read, printed
 *   handle-write PATH              name_to_handle_at + open_by_handle_at + write
 *   handle-read PATH               the same, read-only, printed
 *   getfd-write PID FD             pidfd_getfd of another process's fd + write
 *   getfd-read PID FD              the same, then a read from offset 0, printed
 *   hold PATH SOCKET [ro]          opens PATH for writing (ro: reading), prints "ready PID FD",
 *                                  hands the fd to whoever connects to SOCKET
 *   recv-write SOCKET HOW          takes an fd from SOCKET and writes with HOW:
 *                                  write pwrite64 writev pwritev2 sendfile
 *                                  splice copy_file_range fallocate int80-write
 *                                  int80-pwrite64
 *   write PATH HOW                 opens PATH for writing, then as recv-write
 *   tree-bind SOURCE TARGET        a bind mount by the new mount API:
 *                                  open_tree(OPEN_TREE_CLONE) + move_mount
 *   setattr PATH                   mount_setattr: the mount at PATH read-write
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <unistd.h>

#define I386_READ 3
#define I386_WRITE 4
#define I386_OPEN 5
#define I386_PWRITE64 181
#define I386_OPENAT 295
#define EVIL "evil\n"

static long int80(long nr, long a, long b, long c, long d, long e)
{
	long ret;

	/* the i386 entry clears r8-r11 for a 64-bit caller */
	__asm__ volatile("int $0x80"
			 : "=a"(ret)
			 : "a"(nr), "b"(a), "c"(b), "d"(c), "S"(d), "D"(e)
			 : "memory", "r8", "r9", "r10", "r11");
	return ret;
}

/* Memory below 4 GiB, where the i386 ABI's pointers reach. */
static char *low(const char *text)
{
	char *page = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);

	if (page == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	if (text)
		strcpy(page, text);
	return page;
}

static int report(long ret, const char *what)
{
	if (ret < 0)
		printf("%s errno %ld\n", what, ret == -1 ? (long)errno : -ret);
	else
		printf("%s %ld\n", what, ret);
	return 0;
}

/* Writes EVIL to fd the way how says; prints the result. */
static int write_how(int fd, const char *how)
{
	struct iovec iov = { .iov_base = EVIL, .iov_len = 5 };
	int pipes[2], src;
	long ret;
	char *buf;

	if (!strcmp(how, "write")) {
		ret = write(fd, EVIL, 5);
	} else if (!strcmp(how, "pwrite64")) {
		ret = pwrite(fd, EVIL, 5, 0);
	} else if (!strcmp(how, "writev")) {
		ret = writev(fd, &iov, 1);
	} else if (!strcmp(how, "pwritev2")) {
		ret = pwritev2(fd, &iov, 1, -1, 0);
	} else if (!strcmp(how, "sendfile") || !strcmp(how, "copy_file_range")) {
		char name[] = "/tmp/fs_bypass.XXXXXX";

		src = mkstemp(name);
		unlink(name);
		if (src < 0 || write(src, EVIL, 5) != 5 || lseek(src, 0, SEEK_SET))
			return 2;
		ret = !strcmp(how, "sendfile") ? sendfile(fd, src, NULL, 5)
					       : copy_file_range(src, NULL, fd, NULL, 5, 0);
	} else if (!strcmp(how, "splice")) {
		if (pipe(pipes) || write(pipes[1], EVIL, 5) != 5)
			return 2;
		ret = splice(pipes[0], NULL, fd, NULL, 5, 0);
	} else if (!strcmp(how, "fallocate")) {
		ret = fallocate(fd, 0, 0, 1 << 20);
	} else if (!strcmp(how, "int80-write")) {
		buf = low(EVIL);
		ret = int80(I386_WRITE, fd, (long)buf, 5, 0, 0);
	} else if (!strcmp(how, "int80-pwrite64")) {
		buf = low(EVIL);
		ret = int80(I386_PWRITE64, fd, (long)buf, 5, 0, 0);
	} else {
		fprintf(stderr, "fs_bypass: unknown write %s\n", how);
		return 2;
	}
	return report(ret, "wrote");
}

static int sock_at(const char *path, struct sockaddr_un *addr)
{
	int sock = socket(AF_UNIX, SOCK_STREAM, 0);

	memset(addr, 0, sizeof(*addr));
	addr->sun_family = AF_UNIX;
	strncpy(addr->sun_path, path, sizeof(addr->sun_path) - 1);
	return sock;
}

static int hold(const char *path, const char *sockpath, int flags)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 };
	struct iovec iov = { .iov_base = "f", .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct sockaddr_un addr;
	struct cmsghdr *cmsg;
	int fd = open(path, flags), sock, client;

	sock = sock_at(sockpath, &addr);
	if (fd < 0 || sock < 0 || bind(sock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    listen(sock, 8)) {
		perror("hold");
		return 2;
	}
	printf("ready %d %d\n", getpid(), fd);
	fflush(stdout);
	cmsg = CMSG_FIRSTHDR(&msg);
	cmsg->cmsg_level = SOL_SOCKET;
	cmsg->cmsg_type = SCM_RIGHTS;
	cmsg->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cmsg), &fd, sizeof(int));
	/* serves until killed */
	while ((client = accept(sock, NULL, NULL)) >= 0) {
		sendmsg(client, &msg, 0);
		close(client);
	}
	return 0;
}

static int receive(const char *sockpath)
{
	char control[CMSG_SPACE(sizeof(int))] = { 0 }, byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = control, .msg_controllen = sizeof(control),
	};
	struct sockaddr_un addr;
	int sock = sock_at(sockpath, &addr), fd;

	if (connect(sock, (struct sockaddr *)&addr, sizeof(addr)) ||
	    recvmsg(sock, &msg, 0) != 1 || !CMSG_FIRSTHDR(&msg)) {
		perror("receive");
		exit(2);
	}
	memcpy(&fd, CMSG_DATA(CMSG_FIRSTHDR(&msg)), sizeof(int));
	return fd;
}

static int by_handle(const char *path, int flags)
{
	struct file_handle *handle = malloc(sizeof(*handle) + MAX_HANDLE_SZ);
	char *dir = strdup(path);
	int mount_id, mount_fd;

	handle->handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, path, handle, &mount_id, 0)) {
		report(-1, "handle");
		exit(0);
	}
	mount_fd = open(dirname(dir), O_RDONLY | O_DIRECTORY);
	return open_by_handle_at(mount_fd, handle, flags);
}

static int print_read(long fd, int compat)
{
	char *buf = low(NULL);
	long got;

	if (fd < 0)
		return report(fd, "opened");
	got = compat ? int80(I386_READ, fd, (long)buf, 4096, 0, 0) : read(fd, buf, 4096);
	if (got < 0)
		return report(got, "read");
	printf("read %.*s", (int)got, buf);
	return 0;
}

int main(int argc, char **argv)
{
	const char *mode = argc > 1 ? argv[1] : "";
	long fd;

	setvbuf(stdout, NULL, _IONBF, 0);
	if (!strcmp(mode, "int80-write") && argc == 4) {
		char *path = low(argv[2]);

		fd = !strcmp(argv[3], "openat")
			     ? int80(I386_OPENAT, AT_FDCWD, (long)path, O_WRONLY | O_APPEND, 0, 0)
			     : int80(I386_OPEN, (long)path, O_WRONLY | O_APPEND, 0, 0, 0);
		if (fd < 0)
			return report(fd, "opened");
		return write_how(fd, "int80-write");
	}
	if (!strcmp(mode, "int80-read") && argc == 3)
		return print_read(int80(I386_OPEN, (long)low(argv[2]), O_RDONLY, 0, 0, 0), 1);
	if (!strcmp(mode, "handle-write") && argc == 3) {
		fd = by_handle(argv[2], O_WRONLY | O_APPEND);
		return fd < 0 ? report(-1, "opened") : write_how(fd, "write");
	}
	if (!strcmp(mode, "handle-read") && argc == 3)
		return print_read(by_handle(argv[2], O_RDONLY), 0);
	if (!strcmp(mode, "getfd-write") && argc == 4) {
		int pidfd = syscall(SYS_pidfd_open, atoi(argv[2]), 0);

		fd = syscall(SYS_pidfd_getfd, pidfd, atoi(argv[3]), 0);
		return fd < 0 ? report(-1, "getfd") : write_how(fd, "write");
	}
	if (!strcmp(mode, "getfd-read") && argc == 4) {
		int pidfd = syscall(SYS_pidfd_open, atoi(argv[2]), 0);

		fd = syscall(SYS_pidfd_getfd, pidfd, atoi(argv[3]), 0);
		if (fd >= 0)
			lseek(fd, 0, SEEK_SET);
		return fd < 0 ? report(-1, "getfd") : print_read(fd, 0);
	}
	if (!strcmp(mode, "hold") && (argc == 4 || argc == 5))
		return hold(argv[2], argv[3], argc == 5 ? O_RDONLY : O_WRONLY);
	if (!strcmp(mode, "recv-write") && argc == 4)
		return write_how(receive(argv[2]), argv[3]);
	if (!strcmp(mode, "tree-bind") && argc == 4) {
		fd = syscall(SYS_open_tree, AT_FDCWD, argv[2], OPEN_TREE_CLONE);
		if (fd < 0)
			return report(-1, "open_tree");
		return report(syscall(SYS_move_mount, fd, "", AT_FDCWD, argv[3],
				      MOVE_MOUNT_F_EMPTY_PATH), "mounted");
	}
	if (!strcmp(mode, "setattr") && argc == 3) {
		struct mount_attr attr = { .attr_clr = MOUNT_ATTR_RDONLY };

		return report(syscall(SYS_mount_setattr, AT_FDCWD, argv[2], 0, &attr,
				      sizeof(attr)), "setattr");
	}
	if (!strcmp(mode, "write") && argc == 4) {
		fd = open(argv[2], O_WRONLY);
		return fd < 0 ? report(-1, "opened") : write_how(fd, argv[3]);
	}
	fprintf(stderr, "usage: fs_bypass MODE ... (see the source)\n");
	return 2;
}
