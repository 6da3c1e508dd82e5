/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The destination a policed TCP or UDP socket was last judged for, and the
 * verdict, kept with the socket. connect and sendmsg judge the address the
 * caller names; cgroup_skb/egress sees the packet after netfilter's OUTPUT
 * chain (net/ipv4/ip_output.c: NF_INET_LOCAL_OUT runs before
 * ip_finish_output, where the cgroup egress program runs), so it holds the
 * destination a DNAT rule made. egress compares the two: the common case
 * (the packet goes where the caller said) costs one compare, and any other
 * destination is judged again before a byte leaves.
 */
#ifndef RINGFENCE_FLOW_H
#define RINGFENCE_FLOW_H

#include "packet.h"

/* Whether a TCP flow's first bytes named an allowed server (stream.h). */
enum flow_name {
	FLOW_NAME_UNCHECKED = 0,
	FLOW_NAME_PENDING = 1,	/* its data is held until they do */
	FLOW_NAME_VERIFIED = 2,
	FLOW_NAME_REFUSED = 3,	/* every packet gets name_verdict */
};

struct flow_state {
	struct addr16 daddr;
	__u16 dport;
	__u8 family;
	__u8 verdict;		/* enum network_verdict; 0 while none was given */
	__u8 reason;		/* enum network_reason */
	__u8 name;		/* enum flow_name */
	__u8 name_verdict;	/* enum network_verdict, once refused */
	__u8 synced;		/* base is known */
	/* the source port of the flow's first packet: a raw socket's next
	 * flow to the same place is another flow, judged and named anew */
	__u16 sport;
	/* sequence number of the first byte checked (the stream's first, or
	 * the next HTTP request's) */
	__u32 base;
	__u32 have;		/* bytes from base gathered in stream_bufs */
	__u32 until;		/* bytes from base verified; 0: the whole stream */
};

/* Whether the packet goes where the flow was judged for. */
static __always_inline bool flow_same_destination(const struct flow_state *f,
						  __u8 family,
						  const struct addr16 *a,
						  __u16 port)
{
	return f->verdict && f->family == family && f->dport == port &&
	       f->daddr.w[0] == a->w[0] && f->daddr.w[1] == a->w[1] &&
	       f->daddr.w[2] == a->w[2] && f->daddr.w[3] == a->w[3];
}

static __always_inline void flow_record(struct flow_state *f, __u8 family,
					const struct addr16 *a, __u16 port,
					__u8 verdict, __u8 reason)
{
	f->daddr = *a;
	f->dport = port;
	f->family = family;
	f->verdict = verdict;
	f->reason = reason;
	f->name = FLOW_NAME_UNCHECKED;
	f->synced = 0;
	f->sport = 0;
	f->have = 0;
	f->until = 0;
}

#endif /* RINGFENCE_FLOW_H */
