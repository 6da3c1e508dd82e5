/*
 * uring_open PATH OFFSET LENGTH SINK: opens PATH with io_uring's
 * IORING_OP_OPENAT (no open syscall), then reads LENGTH bytes at OFFSET
 * from it into SINK (a file mapped shared, so what was copied survives the
 * reader's death). Prints "read: ..." and "done" when it gets that far,
 * "unsupported" where the kernel has no io_uring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	struct io_uring_params params = { 0 };
	struct io_uring_sqe *sqes, *sqe;
	struct io_uring_cqe *cqes;
	unsigned char *sq, *cq;
	unsigned int tail, index, *array;
	long offset, length, got;
	char *sink;
	int ring, res, sink_fd;

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
	sqe->opcode = IORING_OP_OPENAT;
	sqe->fd = AT_FDCWD;
	sqe->addr = (unsigned long)argv[1];
	sqe->open_flags = O_RDONLY;
	array = (unsigned int *)(sq + params.sq_off.array);
	array[index] = index;
	__atomic_store_n((unsigned int *)(sq + params.sq_off.tail), tail + 1,
			 __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS,
		    NULL, 0) < 0) {
		printf("error: io_uring_enter errno %d\n", errno);
		return 0;
	}
	cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
	res = cqes[*(unsigned int *)(cq + params.cq_off.head) &
		   *(unsigned int *)(cq + params.cq_off.ring_mask)].res;
	if (res < 0) {
		printf("error: openat errno %d\n", -res);
		return 0;
	}
	got = pread(res, sink, length, offset);
	printf("read: %.*s\n", got > 0 ? (int)got : 0, sink);
	printf("done\n");
	return 0;
}
