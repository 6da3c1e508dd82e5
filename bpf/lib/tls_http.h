/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The server name a TCP client asks for in its first payload: the
 * server_name of a TLS ClientHello (RFC 8446 §4.1.2, RFC 6066 §3) or the
 * Host header of an HTTP/1 request (RFC 9112 §3, RFC 9110 §7.2). Either
 * is read into scratch name in DNS wire format, as read_name() leaves a
 * DNS name (dns.h), so that one lookup judges names from all three.
 *
 * Only the bytes load_payload() copies are looked at: a name past them is
 * not found, and the payload goes on unjudged.
 */
#ifndef RINGFENCE_TLS_HTTP_H
#define RINGFENCE_TLS_HTTP_H

#include "bounds.h"
#include "dns.h"

/* RFC 8446 §5.1 ContentType handshake(22), §4 HandshakeType client_hello(1) */
#define TLS_CONTENT_HANDSHAKE 0x16
#define TLS_CLIENT_HELLO 1
/* RFC 6066 §3: ExtensionType server_name(0), NameType host_name(0) */
#define TLS_EXT_SERVER_NAME 0
#define TLS_NAME_HOST 0
/* extensions looked at before server_name is given up on */
#define TLS_MAX_EXTENSIONS 32

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

/* ---- TLS ---- */

/*
 * One extension (RFC 8446 §4.2: type, length, data) per call, from
 * walk_pos up to walk_count; stops at server_name with cur.pos and
 * cur.jumps the first host_name's place and length (bpf_loop).
 */
static long extension_step(__u32 index, void *unused)
{
	struct dns_scratch *s = get_scratch();
	__u32 pos, type, length, name_length;

	if (!s)
		return 1;
	pos = s->walk_pos;
	if (pos + 4 > s->walk_count || pos + 4 > s->len)
		return 1;
	type = msg_u16(s, pos);
	length = msg_u16(s, pos + 2);
	if (type != TLS_EXT_SERVER_NAME) {
		s->walk_pos = pos + 4 + length;
		return 0;
	}
	/* list length (2), name type (1, host_name = 0), name length (2) */
	if (pos + 9 > s->len ||
	    s->msg[MASKED(pos + 6, DNS_MSG_MAX - 1)] != TLS_NAME_HOST)
		return 1;
	name_length = msg_u16(s, pos + 7);
	if (pos + 9 + name_length > s->len)
		return 1;
	s->matched = 1;
	s->cur.pos = pos + 9;
	s->cur.jumps = name_length;	/* bytes of name, for sni_step */
	return 1;
}

/*
 * Reads the server_name of a ClientHello at the start of a TCP payload
 * into scratch name, as read_name() would leave a DNS name. 0, or -1 when
 * there is none in the bytes read.
 */
static __always_inline int read_sni(struct __sk_buff *skb, int offset,
				    struct dns_scratch *s)
{
	__u32 pos;

	if (load_payload(skb, offset, s) < 0)
		return -1;
	/* a handshake record (legacy version 3.x) holding a ClientHello */
	if (s->msg[0] != TLS_CONTENT_HANDSHAKE || s->msg[1] != 3 ||
	    s->msg[5] != TLS_CLIENT_HELLO)
		return -1;
	/* record (5), handshake header (4), version (2), random (32) */
	pos = 43;
	if (pos + 1 > s->len)
		return -1;
	pos += 1 + s->msg[MASKED(pos, DNS_MSG_MAX - 1)];	/* session id */
	if (pos + 2 > s->len)
		return -1;
	pos += 2 + msg_u16(s, pos);				/* cipher suites */
	if (pos + 1 > s->len)
		return -1;
	pos += 1 + s->msg[MASKED(pos, DNS_MSG_MAX - 1)];	/* compression */
	if (pos + 2 > s->len)
		return -1;
	s->walk_count = pos + 2 + msg_u16(s, pos);		/* extensions end */
	s->walk_pos = pos + 2;
	s->matched = 0;
	__builtin_memset(&s->cur, 0, sizeof(s->cur));
	bpf_loop(TLS_MAX_EXTENSIONS, extension_step, NULL, 0);
	if (!s->matched || s->cur.jumps == 0)
		return -1;
	return dotted_to_name(s);
}

/* ---- HTTP ---- */

/*
 * One byte per call: finds the start of a "\nHost:" header line, its name
 * in any case (RFC 9110 §5.1), and leaves walk_pos after the colon
 * (bpf_loop).
 */
static long host_header_step(__u32 index, void *unused)
{
	struct dns_scratch *s = get_scratch();
	__u32 pos;

	if (!s)
		return 1;
	pos = index;
	if (pos + 7 > s->len)
		return 1;
	if (s->msg[MASKED(pos, DNS_MSG_MAX - 1)] != '\n' ||
	    (s->msg[MASKED(pos + 1, DNS_MSG_MAX - 1)] | 0x20) != 'h' ||
	    (s->msg[MASKED(pos + 2, DNS_MSG_MAX - 1)] | 0x20) != 'o' ||
	    (s->msg[MASKED(pos + 3, DNS_MSG_MAX - 1)] | 0x20) != 's' ||
	    (s->msg[MASKED(pos + 4, DNS_MSG_MAX - 1)] | 0x20) != 't' ||
	    s->msg[MASKED(pos + 5, DNS_MSG_MAX - 1)] != ':')
		return 0;
	s->matched = 1;
	s->walk_pos = pos + 6;
	return 1;
}

/*
 * One byte per call: measures the host after "Host:" into cur.pos and
 * cur.jumps, skipping the blanks before it (RFC 9112 §5.1) (bpf_loop).
 */
static long host_value_step(__u32 index, void *unused)
{
	struct dns_scratch *s = get_scratch();
	__u32 pos;
	__u8 ch;

	if (!s)
		return 1;
	pos = s->walk_pos + index;
	if (pos >= s->len)
		return 1;
	ch = s->msg[MASKED(pos, DNS_MSG_MAX - 1)];
	if (s->cur.jumps == 0 && (ch == ' ' || ch == '\t')) {
		s->cur.pos = pos + 1;
		return 0;
	}
	/* the name ends at the port, the line end, or an IPv6 literal */
	if (ch == ':' || ch == '\r' || ch == '\n' || ch == '[' || ch == ' ')
		return 1;
	s->cur.jumps++;
	return 0;
}

/*
 * Reads the Host header of an HTTP/1 request at the start of a TCP payload
 * into scratch name. 0, or -1 when the payload is not a request or has no
 * Host header in the bytes read.
 */
static __always_inline int read_http_host(struct __sk_buff *skb, int offset,
					  struct dns_scratch *s)
{
	__u32 method;

	if (load_payload(skb, offset, s) < 0)
		return -1;
	/* the first four bytes of the request line's method (RFC 9110 §9) */
	method = (s->msg[0] << 24) | (s->msg[1] << 16) | (s->msg[2] << 8) |
		 s->msg[3];
	switch (method) {
	case 0x47455420:	/* "GET " */
	case 0x504f5354:	/* "POST" */
	case 0x50555420:	/* "PUT " */
	case 0x48454144:	/* "HEAD" */
	case 0x44454c45:	/* "DELE" */
	case 0x50415443:	/* "PATC" */
	case 0x4f505449:	/* "OPTI" */
	case 0x434f4e4e:	/* "CONN" */
		break;
	default:
		return -1;
	}
	s->matched = 0;
	bpf_loop(DNS_MSG_MAX, host_header_step, NULL, 0);
	if (!s->matched)
		return -1;
	__builtin_memset(&s->cur, 0, sizeof(s->cur));
	s->cur.pos = s->walk_pos;
	bpf_loop(DNS_NAME_MAX, host_value_step, NULL, 0);
	if (s->cur.jumps == 0)
		return -1;
	return dotted_to_name(s);
}

#endif /* RINGFENCE_TLS_HTTP_H */
