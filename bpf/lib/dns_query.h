/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * What makes a DNS answer genuine to sensor.network: it answers a query a
 * monitored socket sent (the same transaction id, ports, addresses,
 * question name and type, as RFC 5452 §9.1 asks of any resolver), and no
 * monitored socket sent the answer itself. The queries are recorded here
 * at egress and consumed by their answer at ingress; packets of monitored
 * sockets that could pass for an answer carry DNS_SOURCE_MARK.
 *
 * Also the shape a query must have to be judged by its name: one
 * question, a standard query, and over TCP one whole message per segment
 * (RFC 1035 §4.2.2), so that no second name rides along unread.
 */
#ifndef RINGFENCE_DNS_QUERY_H
#define RINGFENCE_DNS_QUERY_H

#include "dns.h"
#include "packet.h"

/*
 * The skb->mark bit on packets a monitored socket sends from a DNS port:
 * an answer carrying it was not sent by a resolver. Only such packets get
 * it, so a rule elsewhere that tests marks sees it on nothing else. Bit
 * 29 lies outside the marks kube-proxy (0x4000, 0x8000), Cilium (0x0f00),
 * the AWS VPC CNI (0x80), Tailscale (0xff0000) and wg-quick (0xca6c) use,
 * and outside small-integer marks of policy routing; it lies inside
 * Calico's default mask (0xffff0000), which Calico fills from its low end.
 */
#define DNS_SOURCE_MARK 0x20000000

/* queries awaiting their answer; LRU, as an unanswered one may go first */
#define DNS_QUERIES_MAX 16384

/* A query as its answer must echo it, seen from the client. */
struct dns_query_key {
	__u32 client[4];	/* network order; IPv4 in the first word */
	__u32 server[4];
	__u64 name_hash;	/* of the question name, as read_name() hashes */
	__u16 client_port;	/* host order */
	__u16 server_port;
	__u16 id;		/* the transaction id */
	__u16 qtype;
	__u8 family;		/* 4 or 6 */
	__u8 protocol;		/* IPPROTO_UDP or IPPROTO_TCP */
	__u8 pad[6];		/* named, so that initializers zero it */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DNS_QUERIES_MAX);
	__type(key, struct dns_query_key);
	__type(value, __u64);	/* CLOCK_BOOTTIME of the query */
} dns_queries SEC(".maps");

/*
 * The key of the message in scratch msg, whose question read_name() has
 * just read, between the two ends of packet p: a query goes from the
 * client, an answer comes to it.
 */
static __always_inline void dns_query_key(struct dns_query_key *key,
					  const struct dns_scratch *s,
					  const struct packet *p, __u16 qtype,
					  bool answer)
{
	const struct addr16 *client = answer ? &p->daddr : &p->saddr;
	const struct addr16 *server = answer ? &p->saddr : &p->daddr;

	__builtin_memset(key, 0, sizeof(*key));
	__builtin_memcpy(key->client, client->w, sizeof(key->client));
	__builtin_memcpy(key->server, server->w, sizeof(key->server));
	key->client_port = answer ? p->dport : p->sport;
	key->server_port = answer ? p->sport : p->dport;
	key->name_hash = s->hash;
	key->id = (s->msg[0] << 8) | s->msg[1];
	key->qtype = qtype;
	key->family = p->family;
	key->protocol = p->protocol;
}

/* Records a query that leaves, so that its answer may teach addresses. */
static __always_inline void remember_query(const struct dns_scratch *s,
					   const struct packet *p, __u16 qtype)
{
	struct dns_query_key key;
	__u64 now = bpf_ktime_get_boot_ns();

	dns_query_key(&key, s, p, qtype, false);
	bpf_map_update_elem(&dns_queries, &key, &now, BPF_ANY);
}

/*
 * Whether the answer in scratch msg answers a recorded query; the query
 * is consumed, so one query admits one answer.
 */
static __always_inline bool answers_query(const struct dns_scratch *s,
					  const struct packet *p, __u16 qtype)
{
	struct dns_query_key key;

	dns_query_key(&key, s, p, qtype, true);
	return bpf_map_delete_elem(&dns_queries, &key) == 0;
}

/*
 * Whether scratch msg, loaded from the payload at offset, is one standard
 * query with one question and, over TCP, the whole of a segment: its
 * length prefix covers exactly the rest of the payload.
 */
static __always_inline bool one_query(struct __sk_buff *skb,
				      const struct packet *p, int offset,
				      struct dns_scratch *s)
{
	__u16 flags = msg_u16(s, DNS_FLAGS), prefix;

	if ((flags & DNS_FLAG_QR) || (flags & DNS_OPCODE) ||
	    msg_u16(s, DNS_QDCOUNT) != 1)
		return false;
	if (p->protocol != IPPROTO_TCP)
		return true;
	if (bpf_skb_load_bytes(skb, offset - 2, &prefix, sizeof(prefix)))
		return false;
	return bpf_ntohs(prefix) == skb->len - offset;
}

#endif /* RINGFENCE_DNS_QUERY_H */
