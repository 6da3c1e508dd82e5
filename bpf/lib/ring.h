/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How the sensors hand records to the agent through their ring buffers.
 */
#ifndef RINGFENCE_RING_H
#define RINGFENCE_RING_H

/*
 * The flags to submit a record with: the agent is woken only once a batch
 * has gathered (a sixteenth of the ring). A wakeup per record, which the
 * kernel sends by default whenever the agent has caught up
 * (kernel/bpf/ringbuf.c), costs the traced process an interrupt to the
 * CPU where the agent sleeps, and on a VM that is most of the price of
 * being watched. What stays below a batch is read when the agent's poll
 * times out (RING_POLL_MS in sensors/ringbuf.ts), so a record reaches
 * user space within that time either way.
 */
static __always_inline __u64 ring_wakeup(void *ring)
{
	__u64 size = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE);

	return bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA) >= size / 16 ?
		BPF_RB_FORCE_WAKEUP : BPF_RB_NO_WAKEUP;
}

#endif /* RINGFENCE_RING_H */
