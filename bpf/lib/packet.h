/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * IP addresses and the headers of a packet as cgroup_skb programs see it,
 * for sensor.network. One address type serves IPv4 and IPv6, so a policy
 * lookup or an event takes either without a branch per family.
 */
#ifndef RINGFENCE_PACKET_H
#define RINGFENCE_PACKET_H

#include <bpf/bpf_endian.h>

/* four network-order words; IPv4 in the first, the rest zero */
struct addr16 {
	__u32 w[4];
};

struct packet {
	__u8 family;		/* 4 or 6 */
	__u8 protocol;		/* IPPROTO_* */
	__u16 sport;		/* host order; 0 when the protocol has none */
	__u16 dport;
	__u32 l4_offset;	/* where the TCP or UDP header starts */
	struct addr16 saddr;
	struct addr16 daddr;
};

/*
 * ::ffff:a.b.c.d (RFC 4291 §2.5.5.2) is IPv4 for reporting and matching
 * alike: an allow rule for a.b.c.d holds whichever socket API reaches it.
 */
static __always_inline void fold_v4_mapped(__u8 *family, struct addr16 *a)
{
	if (*family == 6 && !a->w[0] && !a->w[1] &&
	    a->w[2] == bpf_htonl(0xffff)) {
		*family = 4;
		a->w[0] = a->w[3];
		a->w[2] = 0;
		a->w[3] = 0;
	}
}

/*
 * Reads addresses, protocol and ports of the packet in skb, whose data
 * starts at the IP header in cgroup_skb. 0, or -1 when it is neither IPv4
 * nor IPv6 or is shorter than its headers.
 */
static __always_inline int parse_packet(struct __sk_buff *skb, struct packet *p)
{
	/*
	 * The IP header and the ports behind an option-less one, in one load
	 * (every packet of a policed socket passes here, twice on loopback):
	 * the other layouts read their ports on their own.
	 */
	union {
		__u8 bytes[44];
		struct iphdr ip4;
		struct ipv6hdr ip6;
	} h;
	__u32 len = skb->len, at = 0;
	__u16 ports[2];

	if (len > sizeof(h))
		len = sizeof(h);
	if (len < sizeof(struct iphdr) || bpf_skb_load_bytes(skb, 0, &h, len))
		return -1;
	if (h.bytes[0] >> 4 == 4) {
		p->family = 4;
		p->protocol = h.ip4.protocol;
		p->saddr.w[0] = h.ip4.saddr;
		p->daddr.w[0] = h.ip4.daddr;
		p->l4_offset = h.ip4.ihl * 4;
		/* a fragment past the first carries no ports (RFC 791) */
		if (h.ip4.frag_off & bpf_htons(0x1fff))
			return 0;
		if (p->l4_offset == sizeof(struct iphdr))
			at = sizeof(struct iphdr);
	} else if (h.bytes[0] >> 4 == 6) {
		if (len < sizeof(struct ipv6hdr))
			return -1;
		p->family = 6;
		p->protocol = h.ip6.nexthdr;
		__builtin_memcpy(p->saddr.w, &h.ip6.saddr, 16);
		__builtin_memcpy(p->daddr.w, &h.ip6.daddr, 16);
		p->l4_offset = sizeof(struct ipv6hdr);
		fold_v4_mapped(&p->family, &p->saddr);
		fold_v4_mapped(&p->family, &p->daddr);
		at = sizeof(struct ipv6hdr);
	} else {
		return -1;
	}
	if (p->protocol != IPPROTO_TCP && p->protocol != IPPROTO_UDP)
		return 0;
	if (at && at + sizeof(ports) <= len) {
		/* at is 20 or 40: constant offsets into the copy */
		if (at == sizeof(struct iphdr))
			__builtin_memcpy(ports, &h.bytes[sizeof(struct iphdr)], sizeof(ports));
		else
			__builtin_memcpy(ports, &h.bytes[sizeof(struct ipv6hdr)], sizeof(ports));
	} else if (bpf_skb_load_bytes(skb, p->l4_offset, ports, sizeof(ports))) {
		return -1;
	}
	p->sport = bpf_ntohs(ports[0]);
	p->dport = bpf_ntohs(ports[1]);
	return 0;
}

#endif /* RINGFENCE_PACKET_H */
