/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * How the sensors hand records to the agent through their ring buffers.
 */
#ifndef RINGFENCE_RING_H
#define RINGFENCE_RING_H

/*
 * Whether the agent sleeps for long (key 0: nonzero when it does). It
 * sets this once the rings have stayed empty for a while, before it polls
 * with a longer timeout, and clears it once a read finds records: the
 * first record then wakes it at once, and an idle agent polls less often.
 */
struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);
} ring_asleep SEC(".maps");

/*
 * The flags to submit a record of size bytes with (reserved: it is already
 * in the ring, reserved and not yet submitted; else bpf_ringbuf_output()
 * is about to add it). The agent is woken only once a batch has gathered:
 * a wakeup per record, which the kernel sends by default whenever the
 * agent has caught up (kernel/bpf/ringbuf.c), costs the traced process an
 * interrupt to the CPU where the agent sleeps, and on a VM that is most of
 * the price of being watched. A forced wakeup goes out as the unread data
 * crosses each sixteenth of the ring, not with every record above it: an
 * agent that lags (a job busy on every core) or sleeps between reads of a
 * busy ring would otherwise cost each record of the backlog an interrupt,
 * slowing the job most when the agent can least keep up, and a wakeup it
 * missed comes again at the next sixteenth. What stays below a batch is
 * read when the agent's poll times out (RING_POLL_MS in sensors/ringbuf.ts),
 * so a record reaches user space within that time either way. While the
 * agent sleeps for long (ring_asleep), the kernel's default applies: the
 * record that follows everything the agent read wakes it, and the rest of
 * a burst does not.
 */
static __always_inline __u64 ring_wakeup(void *ring, __u64 size, bool reserved)
{
	__u64 batch = bpf_ringbuf_query(ring, BPF_RB_RING_SIZE) / 16;
	__u64 after = bpf_ringbuf_query(ring, BPF_RB_AVAIL_DATA);
	__u32 zero = 0, *asleep;

	if (!reserved)
		after += size;
	if (batch && after >= batch && after >= size &&
	    (after - size) / batch != after / batch)
		return BPF_RB_FORCE_WAKEUP;
	asleep = bpf_map_lookup_elem(&ring_asleep, &zero);
	return asleep && *asleep ? 0 : BPF_RB_NO_WAKEUP;
}

#endif /* RINGFENCE_RING_H */
