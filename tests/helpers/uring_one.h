/*
 * One io_uring submission, waited for: what the test helpers that act
 * through io_uring instead of a syscall (uring_open.c, uring_socket.c)
 * share. Raw syscalls, no liburing: the helpers build with a bare clang.
 */
#ifndef RINGFENCE_TEST_URING_ONE_H
#define RINGFENCE_TEST_URING_ONE_H

#include <errno.h>
#include <linux/io_uring.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

/* no io_uring here */
#define URING_UNSUPPORTED (-100000)
/* io_uring_enter failed; errno says why */
#define URING_ENTER_FAILED (-100001)
/* the rings would not map */
#define URING_MAP_FAILED (-100002)

/*
 * Sets up a ring, lets `fill` write the one SQE, submits it and waits:
 * the CQE's res, or one of the URING_* failures above.
 */
static int uring_one(void (*fill)(struct io_uring_sqe *sqe, void *arg),
		     void *arg)
{
	struct io_uring_params params = { 0 };
	struct io_uring_sqe *sqes, *sqe;
	struct io_uring_cqe *cqes;
	unsigned char *sq, *cq;
	unsigned int tail, index, *array;
	int ring;

	ring = syscall(__NR_io_uring_setup, 4, &params);
	if (ring < 0)
		return URING_UNSUPPORTED;
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
		return URING_MAP_FAILED;
	tail = *(unsigned int *)(sq + params.sq_off.tail);
	index = tail & *(unsigned int *)(sq + params.sq_off.ring_mask);
	sqe = &sqes[index];
	memset(sqe, 0, sizeof(*sqe));
	fill(sqe, arg);
	array = (unsigned int *)(sq + params.sq_off.array);
	array[index] = index;
	__atomic_store_n((unsigned int *)(sq + params.sq_off.tail), tail + 1,
			 __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, ring, 1, 1, IORING_ENTER_GETEVENTS,
		    NULL, 0) < 0)
		return URING_ENTER_FAILED;
	cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
	return cqes[*(unsigned int *)(cq + params.cq_off.head) &
		    *(unsigned int *)(cq + params.cq_off.ring_mask)].res;
}

#endif /* RINGFENCE_TEST_URING_ONE_H */
