/*
 * uring_socket INTERFACE MARKER: opens an AF_PACKET socket with io_uring's
 * IORING_OP_SOCKET, no socket() syscall, then sends a frame with it
 * (send_frame.h). Prints "unsupported" where the kernel has no io_uring or
 * no such operation. Only ever run inside a network namespace a test made.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "send_frame.h"

int main(int argc, char **argv)
{
	struct io_uring_params params = { 0 };
	struct io_uring_sqe *sqes, *sqe;
	struct io_uring_cqe *cqes;
	unsigned char *sq, *cq;
	unsigned int tail, index, *array;
	int ring, res;

	if (argc != 3) {
		fprintf(stderr, "usage: uring_socket INTERFACE MARKER\n");
		return 2;
	}
	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0) {
		printf("unsupported\n");
		return 0;
	}
	sq = mmap(NULL, params.sq_off.array + params.sq_entries * sizeof(__u32),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
		  IORING_OFF_SQ_RING);
	cq = mmap(NULL, params.cq_off.cqes +
		  params.cq_entries * sizeof(struct io_uring_cqe),
		  PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
		  IORING_OFF_CQ_RING);
	sqes = mmap(NULL, params.sq_entries * sizeof(struct io_uring_sqe),
		    PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, ring,
		    IORING_OFF_SQES);
	if (sq == MAP_FAILED || cq == MAP_FAILED || sqes == MAP_FAILED)
		return 2;
	tail = *(unsigned int *)(sq + params.sq_off.tail);
	index = tail & *(unsigned int *)(sq + params.sq_off.ring_mask);
	sqe = &sqes[index];
	memset(sqe, 0, sizeof(*sqe));
	/* io_uring/net.c io_socket_prep(): domain in fd, type in off,
	 * protocol in len */
	sqe->opcode = IORING_OP_SOCKET;
	sqe->fd = AF_PACKET;
	sqe->off = SOCK_RAW;
	sqe->len = htons(ETH_P_ALL);
	array = (unsigned int *)(sq + params.sq_off.array);
	array[index] = index;
	__atomic_store_n((unsigned int *)(sq + params.sq_off.tail), tail + 1,
			 __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS,
		    NULL, 0) < 0) {
		printf("errno %d\n", errno);
		return 0;
	}
	cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
	res = cqes[*(unsigned int *)(cq + params.cq_off.head) &
		   *(unsigned int *)(cq + params.cq_off.ring_mask)].res;
	if (res == -EINVAL) {
		printf("unsupported\n");
		return 0;
	}
	if (res < 0) {
		printf("errno %d\n", -res);
		return 0;
	}
	return send_frame(res, argv[1], argv[2]);
}
