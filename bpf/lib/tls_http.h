/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * A server name as TLS (RFC 6066 §3 host_name) and HTTP (RFC 9110 §7.2
 * Host) write it, dotted, turned into DNS wire format in scratch name, as
 * read_name() leaves a DNS name (dns.h), so that one lookup judges names
 * from all three. stream.h finds the names in a stream's first bytes.
 */
#ifndef RINGFENCE_TLS_HTTP_H
#define RINGFENCE_TLS_HTTP_H

#include "bounds.h"
#include "dns.h"

/*
 * One byte of a dotted name (at msg[cur.pos], cur.jumps bytes long) per
 * call, written to scratch name in wire format, lowercased (bpf_loop).
 */
static long sni_step(__u32 index, void *unused)
{
	struct dns_scratch *s = get_scratch();
	struct name_cursor *c;
	__u32 out, start;
	__u8 ch;

	if (!s)
		return 1;
	c = &s->cur;
	if (index >= c->jumps)
		return 1;
	out = c->out;
	start = c->end;		/* where the current label's length goes */
	if (out + 2 > DNS_NAME_MAX || start >= out) {
		c->error = 2;
		return 1;
	}
	ch = s->msg[MASKED(c->pos + index, DNS_MSG_MAX - 1)];
	if (ch == '.') {
		/* a label is 1 to 63 bytes (RFC 1035 §2.3.4) */
		if (out - start - 1 == 0 || out - start - 1 > 63) {
			c->error = 1;
			return 1;
		}
		s->name[MASKED(start, DNS_NAME_MAX - 1)] = out - start - 1;
		if (c->labels < DNS_MAX_LABELS)
			c->label_off[MASKED(c->labels, DNS_MAX_LABELS - 1)] = out;
		c->labels++;
		c->end = out;
		c->out = out + 1;
		return 0;
	}
	if (ch >= 'A' && ch <= 'Z')
		ch |= 0x20;
	s->name[MASKED(out, DNS_NAME_MAX - 1)] = ch;
	c->out = out + 1;
	return 0;
}

/*
 * Turns the dotted name at msg[cur.pos], cur.jumps bytes long, into scratch
 * name in wire format, as read_name() leaves a DNS name. 0, or -1.
 */
static __always_inline int dotted_to_name(struct dns_scratch *s)
{
	/* name[0] waits for the first label's length */
	s->cur.out = 1;
	s->cur.end = 0;
	s->cur.labels = 1;
	s->cur.error = 0;
	bpf_loop(DNS_NAME_MAX, sni_step, NULL, 0);
	if (s->cur.error || s->cur.out + 1 > DNS_NAME_MAX ||
	    s->cur.out - s->cur.end - 1 == 0 || s->cur.out - s->cur.end - 1 > 63)
		return -1;
	s->name[MASKED(s->cur.end, DNS_NAME_MAX - 1)] = s->cur.out - s->cur.end - 1;
	s->name[MASKED(s->cur.out, DNS_NAME_MAX - 1)] = 0;
	s->cur.out += 1;
	return 0;
}

#endif /* RINGFENCE_TLS_HTTP_H */
