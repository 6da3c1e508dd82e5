/*
 * uring_socket INTERFACE MARKER: opens an AF_PACKET socket with io_uring's
 * IORING_OP_SOCKET, no socket() syscall, then sends a frame with it
 * (send_frame.h). Prints "unsupported" where the kernel has no io_uring or
 * no such operation. Only ever run inside a network namespace a test made.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <stdio.h>

#include "send_frame.h"
#include "uring_one.h"

/* io_uring/net.c io_socket_prep(): domain in fd, type in off, protocol in
 * len */
static void fill_socket(struct io_uring_sqe *sqe, void *unused)
{
	(void)unused;
	sqe->opcode = IORING_OP_SOCKET;
	sqe->fd = AF_PACKET;
	sqe->off = SOCK_RAW;
	sqe->len = htons(ETH_P_ALL);
}

int main(int argc, char **argv)
{
	int res;

	if (argc != 3) {
		fprintf(stderr, "usage: uring_socket INTERFACE MARKER\n");
		return 2;
	}
	res = uring_one(fill_socket, NULL);
	if (res == URING_MAP_FAILED)
		return 2;
	if (res == URING_UNSUPPORTED || res == -EINVAL) {
		printf("unsupported\n");
		return 0;
	}
	if (res == URING_ENTER_FAILED) {
		printf("errno %d\n", errno);
		return 0;
	}
	if (res < 0) {
		printf("errno %d\n", -res);
		return 0;
	}
	return send_frame(res, argv[1], argv[2]);
}
