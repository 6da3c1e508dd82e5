/*
 * uring_open PATH OFFSET LENGTH SINK: opens PATH with io_uring's
 * IORING_OP_OPENAT (no open syscall), then reads LENGTH bytes at OFFSET
 * from it into SINK (a file mapped shared, so what was copied survives the
 * reader's death). Prints "read: ..." and "done" when it gets that far,
 * "unsupported" where the kernel has no io_uring.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>

#include "uring_one.h"

static void fill_openat(struct io_uring_sqe *sqe, void *path)
{
	sqe->opcode = IORING_OP_OPENAT;
	sqe->fd = AT_FDCWD;
	sqe->addr = (unsigned long)path;
	sqe->open_flags = O_RDONLY;
}

int main(int argc, char **argv)
{
	long offset, length, got;
	char *sink;
	int res, sink_fd;

	if (argc != 5) {
		fprintf(stderr, "usage: uring_open PATH OFFSET LENGTH SINK\n");
		return 2;
	}
	offset = strtol(argv[2], NULL, 10);
	length = strtol(argv[3], NULL, 10);
	sink_fd = open(argv[4], O_RDWR);
	sink = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, sink_fd, 0);
	if (sink_fd < 0 || sink == MAP_FAILED || length > 4096)
		return 2;
	res = uring_one(fill_openat, argv[1]);
	if (res == URING_MAP_FAILED)
		return 2;
	if (res == URING_UNSUPPORTED) {
		printf("unsupported\n");
		return 0;
	}
	if (res == URING_ENTER_FAILED) {
		printf("error: io_uring_enter errno %d\n", errno);
		return 0;
	}
	if (res < 0) {
		printf("error: openat errno %d\n", -res);
		return 0;
	}
	got = pread(res, sink, length, offset);
	printf("read: %.*s\n", got > 0 ? (int)got : 0, sink);
	printf("done\n");
	return 0;
}
