/*
 * uring_file OP ARGS: file changes through io_uring requests only (no
 * open, write, unlink or rename syscall), for tests/file_system_uring_test.ts.
 *
 *   open-write PATH DATA     OPENAT(O_WRONLY), then WRITE DATA on its fd:
 *                            two submissions
 *   open-write-linked PATH DATA
 *                            OPENAT(O_WRONLY) linked (IOSQE_IO_LINK) to a
 *                            WRITE on the fd the open will get: one
 *                            submission
 *   open-write-slot PATH DATA
 *                            OPENAT(O_WRONLY) into direct descriptor 0 of
 *                            the ring (no fd), then WRITE DATA on it with
 *                            IOSQE_FIXED_FILE: two submissions
 *   write FD DATA            WRITE DATA on FD, an fd it was given
 *   write-fixed FD DATA      FD registered as fixed file 0, then WRITE
 *                            with IOSQE_FIXED_FILE
 *   write-direct FD          FD set O_DIRECT (fcntl), then WRITE of one
 *                            4096-byte block of "E" at offset 0
 *   ftruncate FD             FTRUNCATE FD to 0 bytes
 *   fallocate FD             FALLOCATE 4096 bytes at offset 0, punching a
 *                            hole (FALLOC_FL_PUNCH_HOLE|KEEP_SIZE)
 *   splice FD DATA           DATA into a pipe, then SPLICE it into FD
 *   open-trunc PATH          OPENAT(O_WRONLY|O_TRUNC)
 *   unlink PATH              UNLINKAT
 *   rename OLD NEW           RENAMEAT
 *   link OLD NEW             LINKAT (a hard link NEW to OLD)
 *   symlink TARGET PATH      SYMLINKAT (PATH, a symbolic link to TARGET)
 *   mkdir PATH               MKDIRAT
 *   read PATH                OPENAT(O_RDONLY), then READ: prints it
 *
 * Options before OP: --warm first runs a NOP through io-wq
 * (IOSQE_ASYNC), so that the ring has an idle io-wq worker when OP is
 * submitted; --async submits OP's requests with IOSQE_ASYNC (punted to
 * io-wq); --sqpoll makes the ring IORING_SETUP_SQPOLL (its iou-sqp
 * thread submits); --skip gives open-write-linked's open
 * IOSQE_CQE_SKIP_SUCCESS (no completion for it when it succeeds).
 *
 * Prints "submitted" before each io_uring_enter and "res N" after it,
 * "unsupported" where the kernel has no io_uring; a process killed at a
 * submission prints nothing after its "submitted".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>

#include "uring_one.h"

struct ring {
	int fd;
	unsigned char *sq, *cq;
	struct io_uring_sqe *sqes;
	unsigned int queued;	/* SQEs filled, not yet in the SQ ring's tail */
	struct io_uring_params params;
};

static int sqpoll, async, skip;

static int ring_setup(struct ring *r)
{
	memset(r, 0, sizeof(*r));
	if (sqpoll) {
		r->params.flags = IORING_SETUP_SQPOLL;
		r->params.sq_thread_idle = 1000;
	}
	r->fd = syscall(__NR_io_uring_setup, 8, &r->params);
	if (r->fd < 0)
		return URING_UNSUPPORTED;
	r->sq = mmap(NULL, r->params.sq_off.array + r->params.sq_entries * sizeof(__u32),
		     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		     IORING_OFF_SQ_RING);
	r->cq = mmap(NULL, r->params.cq_off.cqes +
		     r->params.cq_entries * sizeof(struct io_uring_cqe),
		     PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		     IORING_OFF_CQ_RING);
	r->sqes = mmap(NULL, r->params.sq_entries * sizeof(struct io_uring_sqe),
		       PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, r->fd,
		       IORING_OFF_SQES);
	if (r->sq == MAP_FAILED || r->cq == MAP_FAILED || r->sqes == MAP_FAILED)
		return URING_MAP_FAILED;
	return 0;
}

/*
 * The next SQE, zeroed; ring_submit() makes it visible (an SQPOLL ring's
 * thread takes it as soon as the tail moves).
 */
static struct io_uring_sqe *ring_sqe(struct ring *r)
{
	unsigned int *tailp = (unsigned int *)(r->sq + r->params.sq_off.tail);
	unsigned int tail = *tailp + r->queued++;
	unsigned int index = tail & *(unsigned int *)(r->sq + r->params.sq_off.ring_mask);
	unsigned int *array = (unsigned int *)(r->sq + r->params.sq_off.array);
	struct io_uring_sqe *sqe = &r->sqes[index];

	memset(sqe, 0, sizeof(*sqe));
	if (async)
		sqe->flags = IOSQE_ASYNC;
	array[index] = index;
	return sqe;
}

/* Submits the queued SQEs, waits for n CQEs and prints their results. */
static int ring_submit(struct ring *r, unsigned int n, int *results)
{
	struct io_uring_cqe *cqes = (struct io_uring_cqe *)(r->cq + r->params.cq_off.cqes);
	unsigned int *headp = (unsigned int *)(r->cq + r->params.cq_off.head);
	unsigned int mask = *(unsigned int *)(r->cq + r->params.cq_off.ring_mask);
	unsigned int *tailp = (unsigned int *)(r->sq + r->params.sq_off.tail);
	unsigned int i, queued = r->queued;

	printf("submitted\n");
	fflush(stdout);
	__atomic_store_n(tailp, *tailp + queued, __ATOMIC_RELEASE);
	r->queued = 0;
	if (syscall(__NR_io_uring_enter, r->fd, queued, n,
		    IORING_ENTER_GETEVENTS | (sqpoll ? IORING_ENTER_SQ_WAKEUP : 0),
		    NULL, 0) < 0) {
		printf("error: io_uring_enter errno %d\n", errno);
		exit(1);
	}
	for (i = 0; i < n; i++) {
		unsigned int head = *headp;

		results[i] = cqes[head & mask].res;
		__atomic_store_n(headp, head + 1, __ATOMIC_RELEASE);
		printf("res %d\n", results[i]);
	}
	fflush(stdout);
	return results[0];
}

static void prep_open(struct io_uring_sqe *sqe, const char *path, int flags)
{
	sqe->opcode = IORING_OP_OPENAT;
	sqe->fd = AT_FDCWD;
	sqe->addr = (unsigned long)path;
	sqe->open_flags = flags;
}

static void prep_rw(struct io_uring_sqe *sqe, int opcode, int fd, void *buf,
		    unsigned int len)
{
	sqe->opcode = opcode;
	sqe->fd = fd;
	sqe->addr = (unsigned long)buf;
	sqe->len = len;
	sqe->off = (__u64)-1;	/* the file position */
}

int main(int argc, char **argv)
{
	struct io_uring_sqe *sqe;
	int results[2], res, fd, rc, warm = 0;
	const char *op;
	char buf[256];
	struct ring r;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (; argc > 1 && !strncmp(argv[1], "--", 2); argc--, argv++) {
		if (!strcmp(argv[1], "--warm"))
			warm = 1;
		else if (!strcmp(argv[1], "--async"))
			async = 1;
		else if (!strcmp(argv[1], "--sqpoll"))
			sqpoll = 1;
		else if (!strcmp(argv[1], "--skip"))
			skip = 1;
	}
	op = argc > 1 ? argv[1] : "";
	rc = ring_setup(&r);
	if (rc == URING_UNSUPPORTED) {
		printf("unsupported\n");
		return 0;
	}
	if (rc)
		return 2;
	if (warm) {
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_NOP;
		sqe->flags = IOSQE_ASYNC;
		ring_submit(&r, 1, results);
	}
	if (!strcmp(op, "open-write") && argc == 4) {
		prep_open(ring_sqe(&r), argv[2], O_WRONLY | O_APPEND);
		fd = ring_submit(&r, 1, results);
		if (fd < 0)
			return 1;
		prep_rw(ring_sqe(&r), IORING_OP_WRITE, fd, argv[3], strlen(argv[3]));
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "open-write-linked") && argc == 4) {
		/* the open gets the lowest free fd */
		fd = dup(0);
		close(fd);
		sqe = ring_sqe(&r);
		prep_open(sqe, argv[2], O_WRONLY | O_APPEND);
		sqe->flags |= IOSQE_IO_LINK | (skip ? IOSQE_CQE_SKIP_SUCCESS : 0);
		prep_rw(ring_sqe(&r), IORING_OP_WRITE, fd, argv[3], strlen(argv[3]));
		ring_submit(&r, skip ? 1 : 2, results);
	} else if (!strcmp(op, "open-write-slot") && argc == 4) {
		int empty = -1;

		if (syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_FILES, &empty, 1) < 0) {
			printf("error: register errno %d\n", errno);
			return 1;
		}
		sqe = ring_sqe(&r);
		prep_open(sqe, argv[2], O_WRONLY | O_APPEND);
		sqe->file_index = 1;	/* slot 0 */
		if (ring_submit(&r, 1, results) < 0)
			return 1;
		sqe = ring_sqe(&r);
		prep_rw(sqe, IORING_OP_WRITE, 0, argv[3], strlen(argv[3]));
		sqe->flags |= IOSQE_FIXED_FILE;
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "write") && argc == 4) {
		prep_rw(ring_sqe(&r), IORING_OP_WRITE, atoi(argv[2]), argv[3],
			strlen(argv[3]));
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "write-fixed") && argc == 4) {
		fd = atoi(argv[2]);
		if (syscall(__NR_io_uring_register, r.fd, IORING_REGISTER_FILES, &fd, 1) < 0) {
			printf("error: register errno %d\n", errno);
			return 1;
		}
		sqe = ring_sqe(&r);
		prep_rw(sqe, IORING_OP_WRITE, 0, argv[3], strlen(argv[3]));
		sqe->flags |= IOSQE_FIXED_FILE;
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "write-direct") && argc == 3) {
		char *block = aligned_alloc(4096, 4096);

		fd = atoi(argv[2]);
		if (!block || fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_DIRECT) < 0) {
			printf("error: O_DIRECT errno %d\n", errno);
			return 1;
		}
		memset(block, 'E', 4096);
		sqe = ring_sqe(&r);
		prep_rw(sqe, IORING_OP_WRITE, fd, block, 4096);
		sqe->off = 0;
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "ftruncate") && argc == 3) {
		sqe = ring_sqe(&r);
		/* IORING_OP_FTRUNCATE (Linux 6.9): newer than some headers */
		sqe->opcode = 55;
		sqe->fd = atoi(argv[2]);
		sqe->off = 0;
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "fallocate") && argc == 3) {
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_FALLOCATE;
		sqe->fd = atoi(argv[2]);
		sqe->off = 0;
		sqe->addr = 4096;	/* the length */
		sqe->len = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;	/* the mode */
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "splice") && argc == 4) {
		int pipefd[2];

		if (pipe(pipefd) < 0 || write(pipefd[1], argv[3], strlen(argv[3])) < 0)
			return 2;
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_SPLICE;
		sqe->splice_fd_in = pipefd[0];
		sqe->splice_off_in = (__u64)-1;
		sqe->fd = atoi(argv[2]);
		sqe->off = (__u64)-1;
		sqe->len = strlen(argv[3]);
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "open-trunc") && argc == 3) {
		prep_open(ring_sqe(&r), argv[2], O_WRONLY | O_TRUNC);
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "unlink") && argc == 3) {
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_UNLINKAT;
		sqe->fd = AT_FDCWD;
		sqe->addr = (unsigned long)argv[2];
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "rename") && argc == 4) {
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_RENAMEAT;
		sqe->fd = AT_FDCWD;
		sqe->addr = (unsigned long)argv[2];
		sqe->len = AT_FDCWD;
		sqe->addr2 = (unsigned long)argv[3];
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "link") && argc == 4) {
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_LINKAT;
		sqe->fd = AT_FDCWD;
		sqe->addr = (unsigned long)argv[2];
		sqe->len = AT_FDCWD;
		sqe->addr2 = (unsigned long)argv[3];
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "symlink") && argc == 4) {
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_SYMLINKAT;
		sqe->fd = AT_FDCWD;
		sqe->addr = (unsigned long)argv[2];
		sqe->addr2 = (unsigned long)argv[3];
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "mkdir") && argc == 3) {
		sqe = ring_sqe(&r);
		sqe->opcode = IORING_OP_MKDIRAT;
		sqe->fd = AT_FDCWD;
		sqe->addr = (unsigned long)argv[2];
		sqe->len = 0755;
		ring_submit(&r, 1, results);
	} else if (!strcmp(op, "read") && argc == 3) {
		prep_open(ring_sqe(&r), argv[2], O_RDONLY);
		fd = ring_submit(&r, 1, results);
		if (fd < 0)
			return 1;
		prep_rw(ring_sqe(&r), IORING_OP_READ, fd, buf, sizeof(buf) - 1);
		res = ring_submit(&r, 1, results);
		printf("read: %.*s\n", res > 0 ? res : 0, buf);
	} else {
		fprintf(stderr, "usage: uring_file OP ARGS (see the source)\n");
		return 2;
	}
	printf("done\n");
	return 0;
}
