/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * DNS messages (RFC 1035 §4.1) as sensor.network reads them: the scratch
 * a message is copied into, its header and its names. What a name is
 * worth (an allowed domain, an answer whose addresses to admit) is the
 * sensor's decision, not this header's.
 *
 * Names are read into wire format (RFC 1035 §3.1: length-prefixed labels
 * ending in a zero byte), lowercased, which is also the form of the
 * allowed-domain keys (struct domain_key) and of the names tls_http.h
 * reads out of TLS and HTTP.
 *
 * The parse state lives in the scratch map, not on the stack: the verifier
 * knows nothing of map contents, so every bpf_loop step looks the same to
 * it and each loop verifies in one pass, not once per iteration.
 */
#ifndef RINGFENCE_DNS_H
#define RINGFENCE_DNS_H

#include "../network.h"
#include "bounds.h"
#include "packet.h"

#define DNS_PORT 53

/*
 * Bytes of a DNS message read; answers past them are not seen. This and
 * the bounds below that index arrays are powers of two: offsets are
 * masked with them minus one, which the verifier takes as a bound.
 */
#define DNS_MSG_MAX 1024
/* answer records looked at per message */
#define DNS_MAX_RECORDS 32
/* names one answer may allow: the question and its CNAME chain */
#define DNS_MAX_CHAIN 8
/* label boundaries tried against wildcard rules */
#define DNS_MAX_LABELS 16
/* compression pointers followed in one name */
#define DNS_MAX_JUMPS 16

/* RFC 1035 §3.2.2, §3.2.4; AAAA: RFC 3596 §2.1 */
#define DNS_TYPE_A 1
#define DNS_TYPE_CNAME 5
#define DNS_TYPE_AAAA 28
#define DNS_CLASS_IN 1

/* The header (RFC 1035 §4.1.1): 12 bytes, then the question. */
#define DNS_HEADER_SIZE 12
#define DNS_FLAGS 2		/* offset of QR, OPCODE, ..., RCODE */
#define DNS_QDCOUNT 4		/* offset of the number of questions */
#define DNS_ANCOUNT 6		/* offset of the number of answers */
#define DNS_FLAG_QR 0x8000	/* a response */
#define DNS_OPCODE 0x7800	/* 0: a standard query */
#define DNS_RCODE 0x000f	/* 0: no error */

/*
 * Where a name is being read from, and what came of it. The TLS and HTTP
 * readers (tls_http.h) reuse it for a dotted name: there jumps counts the
 * name's bytes and end is where the current label's length byte goes.
 */
struct name_cursor {
	__u32 pos;		/* next label in msg */
	__u32 out;		/* bytes written to name */
	__u32 end;		/* offset just past the name in its record */
	__u32 jumps;		/* compression pointers followed */
	__u32 labels;
	__u32 error;		/* 1 malformed, 2 longer than DNS_NAME_MAX */
	__u32 done;
	__u8 label_off[DNS_MAX_LABELS];	/* where each label starts in name */
};

/*
 * A payload (a DNS message, a TLS ClientHello, an HTTP request) and the
 * names read from it, with the sensor's state while it judges them: too
 * large for the 512-byte stack, and in a map for the verifier's sake (see
 * above). One per CPU, as a program runs on one.
 */
struct dns_scratch {
	__u8 msg[DNS_MSG_MAX];
	/* slack so that masked label copies out of msg stay in the value */
	__u8 msg_slack[64];
	__u8 name[DNS_NAME_MAX];
	struct domain_key key;
	/* slack for masked copies into key and out of name */
	__u8 name_slack[2 * DOMAIN_NAME_MAX];
	__u32 len;
	struct name_cursor cur;
	__u64 hash;		/* of name, as read_name() left it */
	/* domain_step(): 1 when a rule of network.allow matched the name, 2
	 * when one of scope.runner.allow did; lists: which it tries (bit 0
	 * network.allow, bit 1 scope.runner.allow) */
	__u32 matched;
	__u32 lists;
	/* a walk: through answer records (where, how many), through TLS
	 * extensions (where, where they end), or to an HTTP Host value */
	__u32 walk_pos;
	__u32 walk_count;
	/* names this answer allows: the question and its CNAME targets */
	__u32 chain_count;
	__u64 chain_hash[DNS_MAX_CHAIN];
	struct allow_ports chain_ports[DNS_MAX_CHAIN];
	struct dns_allow entry;
	/* merge_ports(): the ports merged into entry's, and entry's own,
	 * kept whole when the union does not fit */
	struct allow_ports merge_from;
	struct allow_ports merge_keep;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct dns_scratch);
} dns_scratch SEC(".maps");

static __always_inline struct dns_scratch *get_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&dns_scratch, &zero);
}

/*
 * Where a UDP or TCP payload starts, past the two-byte length that
 * prefixes a DNS message over TCP (RFC 1035 §4.2.2); -1 when the TCP
 * header cannot be read.
 */
static __always_inline int dns_payload_offset(struct __sk_buff *skb,
					      const struct packet *p)
{
	__u8 doff;

	if (p->protocol == IPPROTO_UDP)
		return p->l4_offset + 8;
	if (bpf_skb_load_bytes(skb, p->l4_offset + 12, &doff, 1))
		return -1;
	return p->l4_offset + (doff >> 4) * 4 + 2;
}

/*
 * Copies the payload at offset (a DNS message, a TLS hello, an HTTP
 * request) into scratch msg, at most DNS_MSG_MAX bytes; its length, or -1
 * when it is shorter than a DNS header.
 */
static __always_inline int load_payload(struct __sk_buff *skb, int offset,
				    struct dns_scratch *s)
{
	__u32 len = skb->len;
	__u64 n;

	if (offset < 0 || offset >= len)
		return -1;
	n = len - (__u32)offset;
	if (n > DNS_MSG_MAX)
		n = DNS_MSG_MAX;
	/* keep clang from folding the bounds into one the verifier cannot use */
	asm volatile("" : "+r"(n));
	if (n < DNS_HEADER_SIZE || n > DNS_MSG_MAX)
		return -1;
	if (bpf_skb_load_bytes(skb, offset, s->msg, n))
		return -1;
	s->len = n;
	return n;
}

/* The big-endian 16-bit field at pos of scratch msg. */
static __always_inline __u16 msg_u16(struct dns_scratch *s, __u32 pos)
{
	return (s->msg[pos & (DNS_MSG_MAX - 1)] << 8) |
	       s->msg[(pos + 1) & (DNS_MSG_MAX - 1)];
}

/* Whether scratch msg is a query (QR clear) that asks something. */
static __always_inline bool dns_is_query(struct dns_scratch *s)
{
	return !(msg_u16(s, DNS_FLAGS) & DNS_FLAG_QR) &&
	       msg_u16(s, DNS_QDCOUNT) != 0;
}

/* Whether scratch msg answers one standard query without error. */
static __always_inline bool dns_is_answer(struct dns_scratch *s)
{
	__u16 flags = msg_u16(s, DNS_FLAGS);

	return (flags & DNS_FLAG_QR) && !(flags & DNS_OPCODE) &&
	       !(flags & DNS_RCODE) && msg_u16(s, DNS_QDCOUNT) == 1;
}

/*
 * One label or one compression pointer per call (bpf_loop). A pointer
 * (RFC 1035 §4.1.4) may only point backwards, so a name cannot loop.
 */
static long name_step(__u32 index, void *unused)
{
	struct dns_scratch *s = get_scratch();
	struct name_cursor *c;
	__u32 pos, out, len, target;

	if (!s)
		return 1;
	c = &s->cur;
	pos = c->pos;
	out = c->out;
	if (pos + 1 > s->len || pos >= DNS_MSG_MAX) {
		c->error = 1;
		return 1;
	}
	len = s->msg[pos & (DNS_MSG_MAX - 1)];
	if ((len & 0xc0) == 0xc0) {
		if (pos + 2 > s->len) {
			c->error = 1;
			return 1;
		}
		target = ((len & 0x3f) << 8) | s->msg[(pos + 1) & (DNS_MSG_MAX - 1)];
		if (!c->end)
			c->end = pos + 2;
		/* only backwards: a pointer to itself or ahead could loop */
		if (target >= pos || ++c->jumps > DNS_MAX_JUMPS) {
			c->error = 1;
			return 1;
		}
		c->pos = target;
		return 0;
	}
	/* 0x40 and 0x80 are reserved (RFC 1035 §4.1.4) */
	if (len & 0xc0) {
		c->error = 1;
		return 1;
	}
	if (len == 0) {
		if (out >= DNS_NAME_MAX) {
			c->error = 2;
			return 1;
		}
		s->name[out & (DNS_NAME_MAX - 1)] = 0;
		c->out = out + 1;
		if (!c->end)
			c->end = pos + 1;
		c->done = 1;
		return 1;
	}
	if (pos + 1 + len > s->len) {
		c->error = 1;
		return 1;
	}
	if (out + len + 2 > DNS_NAME_MAX) {
		c->error = 2;
		return 1;
	}
	if (c->labels < DNS_MAX_LABELS)
		c->label_off[MASKED(c->labels, DNS_MAX_LABELS - 1)] = out;
	c->labels++;
	s->name[out & (DNS_NAME_MAX - 1)] = len;
	bpf_probe_read_kernel(&s->name[(out + 1) & (DNS_NAME_MAX - 1)], len & 63,
			      &s->msg[(pos + 1) & (DNS_MSG_MAX - 1)]);
	c->out = out + 1 + len;
	c->pos = pos + 1 + len;
	return 0;
}

/*
 * Lowercases one byte of the name (DNS names compare case-insensitively,
 * RFC 4343) and folds it into the FNV-1a hash (bpf_loop).
 */
static long lower_step(__u32 index, void *unused)
{
	struct dns_scratch *s = get_scratch();
	__u8 ch;

	if (!s || index >= s->cur.out)
		return 1;
	ch = s->name[index & (DNS_NAME_MAX - 1)];
	/* label lengths are at most 63, below 'A' */
	if (ch >= 'A' && ch <= 'Z') {
		ch |= 0x20;
		s->name[index & (DNS_NAME_MAX - 1)] = ch;
	}
	s->hash = (s->hash ^ ch) * 0x100000001b3ULL;
	return 0;
}

/*
 * Reads the name at `pos` of scratch msg into scratch name (lowercased),
 * with s->cur describing it and s->hash a hash of it for comparing names
 * within one message. 0, or -1 malformed, -2 longer than DNS_NAME_MAX.
 * Global, so the verifier checks it once, not at every call.
 */
__noinline int read_name(__u32 pos)
{
	struct dns_scratch *s = get_scratch();

	if (!s)
		return -1;
	__builtin_memset(&s->cur, 0, sizeof(s->cur));
	s->cur.pos = pos;
	/* a name of DNS_NAME_MAX bytes holds at most half as many labels */
	bpf_loop(DNS_NAME_MAX / 2 + DNS_MAX_JUMPS, name_step, NULL, 0);
	if (s->cur.error == 2)
		return -2;
	if (s->cur.error || !s->cur.done)
		return -1;
	s->hash = 0xcbf29ce484222325ULL;
	bpf_loop(DNS_NAME_MAX, lower_step, NULL, 0);
	return 0;
}

#endif /* RINGFENCE_DNS_H */
