/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * network_event and the policy maps of sensor.network; decoded by
 * sensors/network_event.ts and filled by sensors/network_maps.ts, whose
 * layouts and tables tests/layout_test.ts checks against this object's BTF.
 */
#ifndef RINGFENCE_NETWORK_H
#define RINGFENCE_NETWORK_H

#include "lib/event.h"

enum network_event_kind {
	NETWORK_CONNECT = 1,
	NETWORK_SEND = 2,
	NETWORK_DNS = 3,
	NETWORK_LISTEN = 4,
	NETWORK_BIND = 5,
	/* a privileged primitive: raw or packet socket, netfilter, TUN */
	NETWORK_SOCKET = 6,
};
BTF_KEEP_ENUM(network_event_kind);

enum network_verdict {
	VERDICT_ALLOW = 1,
	VERDICT_DENY = 2,
	/* would have been denied in block mode */
	VERDICT_AUDIT = 3,
};
BTF_KEEP_ENUM(network_verdict);

enum network_reason {
	REASON_NONE = 0,
	REASON_ALLOWED_BY_RULE = 1,
	REASON_LOOPBACK = 2,
	REASON_RESOLVER = 3,
	REASON_EXEMPT_ROOT = 4,
	REASON_NOT_IN_ALLOW_LIST = 5,
	REASON_DNS_RESOLVER_NOT_ALLOWED = 6,
	REASON_SNI_NOT_ALLOWED = 7,
	/* the address came in a DNS answer for an allowed name */
	REASON_ALLOWED_BY_DNS = 8,
	/* the address is allowed, the port is not */
	REASON_PORT_NOT_ALLOWED = 9,
	/* listen and bind are reported, never judged */
	REASON_NOT_ENFORCED = 10,
	/* a DNS query for a name the allow-list does not cover */
	REASON_DNS_QUERY_NOT_ALLOWED = 11,
	/* socket(AF_INET or AF_INET6, SOCK_RAW, ...) */
	REASON_RAW_SOCKET = 12,
	/* socket(AF_PACKET, ...), or the obsolete SOCK_PACKET type */
	REASON_PACKET_SOCKET = 13,
	/* socket(AF_NETLINK, ..., NETLINK_NETFILTER): nftables, iptables-nft */
	REASON_NETFILTER = 14,
	/* ioctl(TUNSETIFF): a TUN or TAP device attached */
	REASON_TUN = 15,
	/* a packet leaves for another destination than connect or sendmsg
	 * judged (rewritten by NAT, sent by a raw socket), one not allowed */
	REASON_DESTINATION_CHANGED = 16,
	/* UDP to an address only a domain rule admits, which names no UDP */
	REASON_UDP_NOT_ALLOWED = 17,
	/* the first bytes of a TCP flow to an address only a domain rule
	 * admits name no server: no TLS SNI or HTTP Host, neither protocol,
	 * or a body that cannot be framed */
	REASON_NAME_NOT_VERIFIED = 18,
	/* a runner root (scope.runner) reached a destination neither
	 * network.allow nor scope.runner.allow lists */
	REASON_EXEMPT_ROOT_OUTSIDE_LIST = 19,
	/* a dependency's install script under
	 * dependencies.install_scripts.network: deny (lib/install_scripts.h) */
	REASON_INSTALL_SCRIPT = 20,
};
BTF_KEEP_ENUM(network_reason);

/* header.flags of a network_event */
enum network_event_flag {
	NETWORK_FLAG_KILLED = 1,
	NETWORK_FLAG_QUERY_TRUNCATED = 2,
	/* a DNS query whose name or shape the sensor could not read */
	NETWORK_FLAG_QUERY_MALFORMED = 4,
};
BTF_KEEP_ENUM(network_event_flag);

/*
 * A DNS name in wire format (length-prefixed labels, lowercased, with the
 * final zero byte): at most 255 bytes (RFC 1035 §3.1), so every name a
 * query can carry is read and reported whole.
 */
#define DNS_NAME_MAX 256
/*
 * An allowed domain in wire format: names of up to 126 characters. A
 * longer name in a packet still matches through its shorter suffixes.
 */
#define DOMAIN_NAME_MAX 128

struct network_event {
	struct event_header header;	/* header.kind: enum network_event_kind */
	__u8 protocol;		/* IPPROTO_* */
	__u8 family;		/* 4 or 6; kind socket: AF_PACKET, AF_NETLINK, 0 (TUN) */
	__u8 verdict;		/* enum network_verdict */
	__u8 reason;		/* enum network_reason */
	__u16 dport;		/* host order; 0 when the protocol has none */
	__u16 sport;		/* host order; 0 when not bound yet */
	__u8 daddr[16];		/* network order; IPv4 in the first 4 bytes */
	__u8 saddr[16];
	__u16 qtype;		/* dns: the query type (1 A, 28 AAAA, ...) */
	__u16 query_size;	/* dns: bytes of query, wire format */
	__u8 query[DNS_NAME_MAX];	/* dns: the name asked, wire format */
};

/* network_config.mode */
enum network_mode {
	NETWORK_MODE_AUDIT = 0,
	NETWORK_MODE_BLOCK = 1,
};
BTF_KEEP_ENUM(network_mode);

/* network_config.action */
enum network_action {
	NETWORK_ACTION_DENY = 0,
	NETWORK_ACTION_KILL = 1,
};
BTF_KEEP_ENUM(network_action);

/* network_config.dns_queries: which names a monitored process may ask */
enum network_dns_queries {
	/* names the allowed domains cover; others are refused in block mode */
	DNS_QUERIES_ALLOWED_ONLY = 0,
	DNS_QUERIES_ANY = 1,
};
BTF_KEEP_ENUM(network_dns_queries);

/* network_config.privileged: the primitives the policy allows */
enum network_privileged {
	PRIVILEGED_RAW = 1,
	PRIVILEGED_PACKET = 2,
	PRIVILEGED_TUN = 4,
	PRIVILEGED_NETFILTER = 8,
};
BTF_KEEP_ENUM(network_privileged);

struct network_config {
	__u32 mode;		/* enum network_mode */
	__u32 action;		/* enum network_action, in block mode */
	__u32 allow_loopback;	/* 127.0.0.0/8 and ::1 always allowed */
	__u32 generation;	/* which copy of the policy maps is live: 0 or 1 */
	__u32 dns_min_ttl;	/* seconds an answer admits its address at least */
	__u32 dns_max_ttl;	/* ... and at most */
	__u32 dns_queries;	/* enum network_dns_queries */
	__u32 privileged;	/* enum network_privileged bits */
	/*
	 * The network namespace (its cookie) whose resolvers' answers are
	 * trusted: the agent's own. 0 stands for the initial namespace.
	 */
	__u64 resolver_netns;
	/* dependencies.install_scripts: enum install_script_rule bits */
	__u32 install_scripts;
	/*
	 * The port every trusted resolver answers on, when they share one (0:
	 * they do not): a packet on another port is no resolver's without a
	 * lookup in the resolvers map, which every packet would pay.
	 */
	__u16 resolver_port;
	__u16 pad;
};

/* How many ports one allow entry lists; count 0 means any port. */
#define ALLOW_MAX_PORTS 8

struct allow_ports {
	__u16 count;
	__u16 ports[ALLOW_MAX_PORTS];	/* host order */
	/*
	 * Of a domain rule: bit i allows UDP to ports[i] (bit 0: to any port
	 * when count is 0). An address a name admits is for TCP unless its
	 * rule names UDP, so that QUIC and other datagrams cannot go where
	 * no server name is checked. Address rules ignore it.
	 */
	__u16 udp;
};

struct allow_key_v4 {
	__u32 prefixlen;
	__u8 addr[4];
};

struct allow_key_v6 {
	__u32 prefixlen;
	__u8 addr[16];
};

struct resolver_key {
	__u8 family;		/* 4 or 6 */
	__u8 pad;
	__u16 port;		/* host order */
	__u8 addr[16];		/* IPv4 in the first 4 bytes, rest zero */
};

/* domain_key.wildcard: which names the key stands for, and whose rule */
enum domain_key_flag {
	/* strict subdomains of name; without it, name itself */
	DOMAIN_WILDCARD = 1,
	/* a rule of scope.runner.allow: it admits for runner roots only */
	DOMAIN_RUNNER = 2,
};
BTF_KEEP_ENUM(domain_key_flag);

/* An allowed domain: its name in wire format, zero-padded. */
struct domain_key {
	__u32 wildcard;		/* enum domain_key_flag bits */
	__u8 name[DOMAIN_NAME_MAX];
};

/* An address a DNS answer for an allowed name carried. */
struct dns_allow {
	__u64 expires_ns;	/* CLOCK_BOOTTIME */
	struct allow_ports ports;
};

/* Who made a socket, kept with the socket (BPF_MAP_TYPE_SK_STORAGE). */
struct sock_owner {
	__u32 pid;
	__u32 flags;		/* SCOPE_* of the owner, plus OWNER_* */
	__u64 netns;		/* cookie of the socket's network namespace */
};

/* The socket lives in the initial network namespace. */
#define OWNER_INIT_NETNS 0x200

#endif /* RINGFENCE_NETWORK_H */
