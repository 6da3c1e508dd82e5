/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * Keeping bounds where the verifier can see them. The verifier tracks the
 * range of each register on its own (kernel/bpf/verifier.c), so a bound
 * clang proved on one register does not help an access through another.
 */
#ifndef RINGFENCE_BOUNDS_H
#define RINGFENCE_BOUNDS_H

/*
 * v & mask, with the mask kept: clang drops masks it can prove redundant
 * from an earlier bounds check, and the verifier may not have that check
 * on the same register. mask + 1 is a power of two.
 */
#define MASKED(v, mask) ({					\
	__u64 __v = (v);					\
	asm volatile("" : "+r"(__v));				\
	__v & (mask);						\
})

#endif /* RINGFENCE_BOUNDS_H */
