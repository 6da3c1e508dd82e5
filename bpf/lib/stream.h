/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The first bytes of a TCP stream, gathered across segments, and the
 * server name they carry: the server_name of a TLS ClientHello (RFC 8446
 * §4.1.2, RFC 6066 §3) or the Host header and request target of an HTTP/1
 * request (RFC 9112 §3.2, RFC 9110 §7.2).
 *
 * A flow to an address only a DNS answer admitted carries no byte until
 * its first bytes name an allowed server: egress buffers each segment at
 * its place by TCP sequence number (relative to the first data byte) and
 * drops it until a verdict. TCP retransmits what was dropped, so a
 * ClientHello split over segments arrives whole once verified. The buffer
 * holds STREAM_MAX bytes: a stream that names no server in them is
 * refused, as is one that is not TLS or HTTP.
 *
 * Parsing runs on a per-CPU copy of the buffer (the verifier knows nothing
 * of map contents, so each bpf_loop step verifies once, as in dns.h).
 */
#ifndef RINGFENCE_STREAM_H
#define RINGFENCE_STREAM_H

#include "bounds.h"
#include "dns.h"
#include "header_words.h"
#include "tls_http.h"

/* bytes of a stream read for its server name; a power of two */
#define STREAM_MAX 4096

/* what the first bytes of a stream say (stream_scratch.result) */
enum stream_result {
	STREAM_MORE = 0,	/* not enough bytes yet */
	STREAM_NAMED = 1,	/* a server name, in dns scratch name */
	STREAM_UNNAMED = 2,	/* TLS or HTTP without a name, or neither */
};

/* The bytes gathered so far, kept with the socket while it is judged. */
struct stream_buf {
	__u8 data[STREAM_MAX];
	/* slack so that masked copies into data stay in the value */
	__u8 slack[STREAM_MAX];
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct stream_buf);
} stream_bufs SEC(".maps");

struct stream_scratch {
	__u8 data[STREAM_MAX];
	__u8 slack[STREAM_MAX];
	__u32 len;
	__u32 result;		/* enum stream_result */
	/* TLS: the extension walk */
	__u32 pos;
	__u32 end;
	/* HTTP: where the head ends, its headers, the request target */
	__u32 head_end;
	__u32 host_off;
	__u32 hosts;
	__u32 length_off;
	__u32 lengths;
	__u32 unframed;		/* Transfer-Encoding: a body we cannot frame */
	__u32 target_off;
	__u32 target_len;
	__u32 name_off;		/* the name found, for stream_name() */
	__u32 name_len;
	__u64 content_length;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct stream_scratch);
} stream_scratch SEC(".maps");

static __always_inline struct stream_scratch *get_stream_scratch(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&stream_scratch, &zero);
}

static __always_inline __u8 at(struct stream_scratch *t, __u32 pos)
{
	return t->data[MASKED(pos, STREAM_MAX - 1)];
}

static __always_inline __u32 be16_at(struct stream_scratch *t, __u32 pos)
{
	return (at(t, pos) << 8) | at(t, pos + 1);
}

static __always_inline __u8 lower(__u8 ch)
{
	return ch >= 'A' && ch <= 'Z' ? ch | 0x20 : ch;
}

/* ---- TLS ---- */

/* RFC 8446 §5.1 handshake(22), §4 client_hello(1); RFC 6066 §3 */
#define STREAM_TLS_HANDSHAKE 0x16
#define STREAM_TLS_CLIENT_HELLO 1
#define STREAM_TLS_SERVER_NAME 0
/* extensions looked at; padding (RFC 7685) is one of them */
#define STREAM_TLS_MAX_EXTENSIONS 64

/* One extension (type, length, data) per call; stops at server_name. */
static long stream_extension_step(__u32 index, void *unused)
{
	struct stream_scratch *t = get_stream_scratch();
	__u32 pos, type, length, name_length;

	if (!t)
		return 1;
	pos = t->pos;
	if (pos + 4 > t->end)
		return 1;
	type = be16_at(t, pos);
	length = be16_at(t, pos + 2);
	if (type != STREAM_TLS_SERVER_NAME) {
		t->pos = pos + 4 + length;
		return 0;
	}
	/* list length (2), name type (1, host_name = 0), name length (2) */
	if (pos + 9 > t->end || at(t, pos + 6) != 0)
		return 1;
	name_length = be16_at(t, pos + 7);
	if (pos + 9 + name_length > t->end)
		return 1;
	t->name_off = pos + 9;
	t->name_len = name_length;
	return 1;
}

/*
 * A ClientHello in the first record (record 5 bytes, handshake header 4):
 * its server_name, or STREAM_UNNAMED when it has none or spans records.
 */
static __always_inline __u32 stream_tls(struct stream_scratch *t)
{
	__u32 record, hello, pos;

	if (t->len < 9)
		return STREAM_MORE;
	if (at(t, 1) != 3 || at(t, 5) != STREAM_TLS_CLIENT_HELLO)
		return STREAM_UNNAMED;
	record = 5 + be16_at(t, 3);
	hello = 9 + ((__u32)at(t, 6) << 16 | be16_at(t, 7));
	if (hello > record || record > STREAM_MAX)
		return STREAM_UNNAMED;
	if (t->len < record)
		return STREAM_MORE;
	t->end = hello;
	/* version (2), random (32), then session id, suites, compression */
	pos = 9 + 2 + 32;
	if (pos + 1 > hello)
		return STREAM_UNNAMED;
	pos += 1 + at(t, pos);
	if (pos + 2 > hello)
		return STREAM_UNNAMED;
	pos += 2 + be16_at(t, pos);
	if (pos + 1 > hello)
		return STREAM_UNNAMED;
	pos += 1 + at(t, pos);
	if (pos + 2 > hello)
		return STREAM_UNNAMED;
	if (pos + 2 + be16_at(t, pos) < hello)
		t->end = pos + 2 + be16_at(t, pos);
	t->pos = pos + 2;
	t->name_len = 0;
	bpf_loop(STREAM_TLS_MAX_EXTENSIONS, stream_extension_step, NULL, 0);
	return t->name_len ? STREAM_NAMED : STREAM_UNNAMED;
}

/* ---- HTTP ---- */

/* The eight bytes at pos (the slack after data keeps it in bounds). */
static __always_inline __u64 word_at(struct stream_scratch *t, __u32 pos)
{
	return *(__u64 *)&t->data[MASKED(pos, STREAM_MAX - 1)];
}

/* Whether the header line at pos starts with s (lowercase, with ':'). */
#define header_is(t, pos, s) HDR_IS(word_at, t, pos, s)

/*
 * One byte per call: finds the end of the request head, and the Host,
 * Content-Length and Transfer-Encoding header lines in it.
 */
static long stream_head_step(__u32 index, void *unused)
{
	struct stream_scratch *t = get_stream_scratch();
	__u32 line;

	if (!t || index + 1 >= t->len)
		return 1;
	if (at(t, index) != '\n')
		return 0;
	line = index + 1;
	if (at(t, line) == '\n' ||
	    (at(t, line) == '\r' && line + 1 < t->len && at(t, line + 1) == '\n')) {
		t->head_end = at(t, line) == '\n' ? line + 1 : line + 2;
		return 1;
	}
	if (line + 5 <= t->len && header_is(t, line, "host:")) {
		t->host_off = line + 5;
		t->hosts++;
	} else if (line + 15 <= t->len &&
		   header_is(t, line, "content-length:")) {
		t->length_off = line + 15;
		t->lengths++;
	} else if (line + 18 <= t->len &&
		   header_is(t, line, "transfer-encoding:")) {
		t->unframed = 1;
	}
	return 0;
}

/*
 * One byte per call from name_off: measures a host (after blanks) up to
 * a port, a path, the line's end or a blank into name_off and name_len.
 */
static long stream_host_step(__u32 index, void *unused)
{
	struct stream_scratch *t = get_stream_scratch();
	__u32 pos;
	__u8 ch;

	if (!t)
		return 1;
	pos = t->name_off + t->name_len;
	if (pos >= t->len)
		return 1;
	ch = at(t, pos);
	if (t->name_len == 0 && (ch == ' ' || ch == '\t')) {
		t->name_off = pos + 1;
		return 0;
	}
	if (ch == ':' || ch == '/' || ch == '\r' || ch == '\n' || ch == ' ' ||
	    ch == '\t' || ch == '[' || ch == '?' || ch == '#' || ch == '@')
		return 1;
	t->name_len++;
	return 0;
}

/* One digit per call from pos into content_length; end marks an error. */
static long stream_digit_step(__u32 index, void *unused)
{
	struct stream_scratch *t = get_stream_scratch();
	__u8 ch;

	if (!t || t->pos >= t->len)
		return 1;
	ch = at(t, t->pos);
	if ((ch == ' ' || ch == '\t') && t->end == 0) {
		t->pos++;
		return 0;
	}
	if (ch < '0' || ch > '9')
		return 1;
	t->content_length = t->content_length * 10 + (ch - '0');
	t->end++;
	t->pos++;
	return 0;
}

/* One byte per call: the request target, after the method's space. */
static long stream_target_step(__u32 index, void *unused)
{
	struct stream_scratch *t = get_stream_scratch();
	__u32 pos;
	__u8 ch;

	if (!t)
		return 1;
	pos = index;
	if (pos >= t->len || pos >= t->head_end)
		return 1;
	ch = at(t, pos);
	if (t->target_off == 0) {
		if (ch == ' ')
			t->target_off = pos + 1;
		else if (ch < 'A' || ch > 'Z')
			return 1;
		return 0;
	}
	if (ch == ' ' || ch == '\r' || ch == '\n')
		return 1;
	t->target_len++;
	return 0;
}

/*
 * An HTTP/1 request head: STREAM_NAMED with its Host in name_off and
 * name_len, the request's length (head and Content-Length body) in
 * content_length and, when the target names a host (absolute or authority
 * form), the target in target_off and target_len. One Host header, no
 * Transfer-Encoding (a body this cannot frame), at most one Content-Length.
 */
static __always_inline __u32 stream_http(struct stream_scratch *t)
{
	t->head_end = 0;
	t->hosts = 0;
	t->lengths = 0;
	t->unframed = 0;
	bpf_loop(STREAM_MAX, stream_head_step, NULL, 0);
	if (!t->head_end)
		return t->len >= STREAM_MAX ? STREAM_UNNAMED : STREAM_MORE;
	if (t->hosts != 1 || t->lengths > 1 || t->unframed)
		return STREAM_UNNAMED;
	t->target_off = 0;
	t->target_len = 0;
	bpf_loop(STREAM_MAX, stream_target_step, NULL, 0);
	if (!t->target_off || !t->target_len)
		return STREAM_UNNAMED;
	t->content_length = 0;
	if (t->lengths) {
		t->pos = t->length_off;
		t->end = 0;
		bpf_loop(24, stream_digit_step, NULL, 0);
		/* no digits, or more than TCP sequence arithmetic spans */
		if (t->end == 0 || t->end > 9)
			return STREAM_UNNAMED;
	}
	t->content_length += t->head_end;
	t->name_off = t->host_off;
	t->name_len = 0;
	bpf_loop(DNS_NAME_MAX, stream_host_step, NULL, 0);
	return t->name_len ? STREAM_NAMED : STREAM_UNNAMED;
}

/*
 * What the gathered bytes say: a TLS hello or an HTTP request naming a
 * server, not enough yet, or neither. Global: the verifier checks the
 * parse once rather than along each path of its caller after it.
 */
__noinline int stream_parse(struct stream_scratch *t)
{
	__u8 first;

	if (!t || t->len == 0)
		return STREAM_MORE;
	first = at(t, 0);
	if (first == STREAM_TLS_HANDSHAKE)
		return stream_tls(t);
	/* a method is uppercase letters (RFC 9110 §9.1) */
	if (first >= 'A' && first <= 'Z') {
		t->target_off = 0;
		return stream_http(t);
	}
	return STREAM_UNNAMED;
}

/*
 * Copies the host name at off (n bytes, dotted) into dns scratch name in
 * wire format, as read_name() leaves a DNS name. 0, or -1.
 */
static __always_inline int stream_name(struct stream_scratch *t,
				       struct dns_scratch *s, __u32 off, __u32 n)
{
	if (n == 0 || n >= DNS_NAME_MAX || off >= STREAM_MAX)
		return -1;
	bpf_probe_read_kernel(s->msg, MASKED(n, DNS_NAME_MAX - 1),
			      &t->data[MASKED(off, STREAM_MAX - 1)]);
	s->len = n;
	s->cur.pos = 0;
	s->cur.jumps = n;
	return dotted_to_name(s);
}

#endif /* RINGFENCE_STREAM_H */
