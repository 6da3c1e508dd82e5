// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * sensor.network: outbound connections of the processes in scope, judged
 * in the kernel against an allow-list the loader writes into maps.
 *
 * connect4/6 and sendmsg4/6 see every TCP connect and UDP destination
 * (connected UDP through connect) in the context of the calling process,
 * so the decision and the EPERM happen before anything leaves the host.
 * cgroup_skb/egress judges every packet again by the owner recorded with
 * the socket and the destination it really leaves for (after NAT, from
 * sockets those hooks never see: raw, ICMP). DNS queries are judged by
 * their name at egress. Answers from trusted resolvers in the trusted
 * network namespace to the queries monitored sockets sent are read in
 * cgroup_skb/ingress, before the socket gets them, and admit the
 * addresses they carry for allowed names; the first bytes of a flow to
 * such an address must then name an allowed domain.
 *
 * Privileged primitives are refused to policed processes unless the
 * policy allows them: raw inet sockets at cgroup/sock_create (EPERM);
 * packet sockets, netfilter netlink sockets and TUN attach at
 * raw_tp/sys_enter, by killing the caller (lib/privileged.h).
 *
 * This file holds the hooks and their decisions. The formats they read
 * are parsed in lib/packet.h (IP, TCP, UDP), lib/dns.h (DNS messages) and
 * lib/tls_http.h (TLS ClientHello, HTTP Host); lib/flow.h keeps what each
 * socket's packets were judged for.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>

#include "lib/scope.h"
#include "lib/ring.h"
#include "lib/bounds.h"
#include "lib/packet.h"
#include "lib/dns.h"
#include "lib/dns_query.h"
#include "lib/tls_http.h"
#include "lib/privileged.h"
#include "lib/syscall_chain.h"
#include "lib/flow.h"
#include "lib/stream.h"
#include "network.h"
#include "lib/install_scripts.h"

char LICENSE[] SEC("license") = "Dual BSD/GPL";

#define AF_INET 2
#define AF_INET6 10
#define TCP_LISTEN 10
#define SIGKILL 9

/* a UDP stream to one destination is reported once a minute, not per packet */
#define SEND_REPORT_INTERVAL_NS (60ULL * 1000000000ULL)

/* 1 MiB: about 2,900 records of 360 bytes, for a burst of connects */
struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1024 * 1024);
} events SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct network_config);
} net_config SEC(".maps");

/*
 * The policy maps exist twice; config.generation names the live copy.
 * The loader rewrites the other copy and then flips the generation with
 * one write, so a program sees the old policy or the new one, never half
 * of each. Two fixed copies rather than map-in-map: the loader needs no
 * map creation of its own, and the maps keep their names for bpftool.
 */
#define ALLOW_MAX_ENTRIES 16384

#define DEFINE_LPM(name, key_type)					\
	struct {							\
		__uint(type, BPF_MAP_TYPE_LPM_TRIE);			\
		__uint(max_entries, ALLOW_MAX_ENTRIES);			\
		__uint(map_flags, BPF_F_NO_PREALLOC);			\
		__type(key, key_type);					\
		__type(value, struct allow_ports);			\
	} name SEC(".maps")

DEFINE_LPM(allow_v4, struct allow_key_v4);
DEFINE_LPM(allow_v4_gen1, struct allow_key_v4);
DEFINE_LPM(allow_v6, struct allow_key_v6);
DEFINE_LPM(allow_v6_gen1, struct allow_key_v6);

/*
 * scope.runner.allow's ranges: a runner root (SCOPE_RUNNER) may reach
 * them besides network.allow's; nobody else consults them. Apart from
 * the main tries, so that a runner's prefix never shadows a shorter
 * prefix of network.allow in a longest-prefix lookup.
 */
DEFINE_LPM(runner_v4, struct allow_key_v4);
DEFINE_LPM(runner_v4_gen1, struct allow_key_v4);
DEFINE_LPM(runner_v6, struct allow_key_v6);
DEFINE_LPM(runner_v6_gen1, struct allow_key_v6);

#define DEFINE_HASH(name, key_type, value_type, entries)		\
	struct {							\
		__uint(type, BPF_MAP_TYPE_HASH);			\
		__uint(max_entries, entries);				\
		__type(key, key_type);					\
		__type(value, value_type);				\
	} name SEC(".maps")

DEFINE_HASH(resolvers, struct resolver_key, __u32, 64);
DEFINE_HASH(resolvers_gen1, struct resolver_key, __u32, 64);
DEFINE_HASH(domains, struct domain_key, struct allow_ports, 4096);
DEFINE_HASH(domains_gen1, struct domain_key, struct allow_ports, 4096);

/* LRU: an address nobody resolved lately may be forgotten first */
struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, __u32);
	__type(value, struct dns_allow);
} dns_allow_v4 SEC(".maps");

struct dns_key_v6 {
	__u8 addr[16];
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 65536);
	__type(key, struct dns_key_v6);
	__type(value, struct dns_allow);
} dns_allow_v6 SEC(".maps");

/*
 * Addresses that answers to a runner root admitted for names only
 * scope.runner.allow covers: for runner roots only. The runner talks to
 * a few services, so the maps are small; an address forgotten is refused
 * (the runner resolves it again), never opened to others.
 */
#define DNS_RUNNER_ENTRIES 4096

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DNS_RUNNER_ENTRIES);
	__type(key, __u32);
	__type(value, struct dns_allow);
} dns_runner_v4 SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, DNS_RUNNER_ENTRIES);
	__type(key, struct dns_key_v6);
	__type(value, struct dns_allow);
} dns_runner_v6 SEC(".maps");

/*
 * What is kept with a socket a monitored process made or used: its owner,
 * stored with the socket itself, so that it goes away when the socket
 * does and cgroup_skb (which may run in softirq, where the current task is
 * whoever was interrupted) can find who made a packet; and the flow it was
 * last judged for (lib/flow.h). One storage for both: each costs the
 * socket an allocation, which every connect would otherwise pay twice.
 */
struct sock_state {
	struct sock_owner owner;
	struct flow_state flow;
};

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct sock_state);
} socks SEC(".maps");

/* The owner of sk, made (zeroed) with flags BPF_SK_STORAGE_GET_F_CREATE. */
static __always_inline struct sock_owner *sock_owner_of(void *sk, __u64 flags)
{
	struct sock_state *state = bpf_sk_storage_get(&socks, sk, 0, flags);

	return state ? &state->owner : NULL;
}

/* (socket, destination, verdict) of UDP sends already reported */
struct send_key {
	__u64 cookie;
	__u32 daddr[4];
	__u16 dport;
	__u8 family;
	__u8 verdict;
	__u32 pad;		/* named, so that initializers zero it */
};

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, 16384);
	__type(key, struct send_key);
	__type(value, __u64);
} send_reported SEC(".maps");

/* keep the event type in BTF for the layout test */
const struct network_event *unused_network_event __attribute__((unused));

/* ---- policy ---- */

static __always_inline struct network_config *get_config(void)
{
	__u32 zero = 0;

	return bpf_map_lookup_elem(&net_config, &zero);
}

/* 127.0.0.0/8 (RFC 1122 §3.2.1.3) and ::1 (RFC 4291 §2.5.3) */
static __always_inline bool is_loopback(__u8 family, const struct addr16 *a)
{
	if (family == 4)
		return (a->w[0] & bpf_htonl(0xff000000)) == bpf_htonl(0x7f000000);
	return !a->w[0] && !a->w[1] && !a->w[2] && a->w[3] == bpf_htonl(1);
}

/* Where port is in allowed's list, or -1 (count 0 lists none). */
static __always_inline int port_slot(const struct allow_ports *allowed,
				     __u16 port)
{
	for (int i = 0; i < ALLOW_MAX_PORTS; i++) {
		if (i >= allowed->count)
			break;
		if (allowed->ports[i] == port)
			return i;
	}
	return -1;
}

/* Whether port is one of allowed's; a count of 0 allows any port. */
static __always_inline bool port_listed(const struct allow_ports *allowed,
					__u16 port)
{
	if (allowed->count == 0)
		return true;
	for (int i = 0; i < ALLOW_MAX_PORTS; i++) {
		if (i >= allowed->count)
			break;
		if (allowed->ports[i] == port)
			return true;
	}
	return false;
}

/* Whether a domain rule's ports allow UDP to port (struct allow_ports). */
static __always_inline bool udp_listed(const struct allow_ports *allowed,
				       __u16 port)
{
	if (allowed->count == 0)
		return allowed->udp & 1;
	for (int i = 0; i < ALLOW_MAX_PORTS; i++) {
		if (i >= allowed->count)
			break;
		if (allowed->ports[i] == port)
			return (allowed->udp >> i) & 1;
	}
	return false;
}

/* Whether (a, port) is a trusted resolver in the live policy. */
static __always_inline bool is_resolver(struct network_config *cfg,
					__u8 family, const struct addr16 *a,
					__u16 port)
{
	struct resolver_key key = { .family = family, .port = port };

	if (cfg->resolver_port && port != cfg->resolver_port)
		return false;
	__builtin_memcpy(key.addr, a->w, sizeof(key.addr));
	if (cfg->generation)
		return bpf_map_lookup_elem(&resolvers_gen1, &key) != NULL;
	return bpf_map_lookup_elem(&resolvers, &key) != NULL;
}

/* The ports of the longest allowed prefix holding a in the live policy. */
static __always_inline struct allow_ports *lookup_rule(struct network_config *cfg,
						       __u8 family,
						       const struct addr16 *a)
{
	if (family == 4) {
		struct allow_key_v4 key = { .prefixlen = 32 };

		__builtin_memcpy(key.addr, a->w, 4);
		if (cfg->generation)
			return bpf_map_lookup_elem(&allow_v4_gen1, &key);
		return bpf_map_lookup_elem(&allow_v4, &key);
	} else {
		struct allow_key_v6 key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, a->w, 16);
		if (cfg->generation)
			return bpf_map_lookup_elem(&allow_v6_gen1, &key);
		return bpf_map_lookup_elem(&allow_v6, &key);
	}
}

/* What DNS answers admitted for a, live or expired. */
static __always_inline struct dns_allow *lookup_dns(__u8 family,
						    const struct addr16 *a)
{
	if (family == 4)
		return bpf_map_lookup_elem(&dns_allow_v4, &a->w[0]);
	return bpf_map_lookup_elem(&dns_allow_v6, a->w);
}

/*
 * Why a destination is allowed, or why not (enum network_reason).
 * Global, so the verifier checks it once, not at each of its callers.
 */
__noinline int judge(struct network_config *cfg, __u8 family,
		     const struct addr16 *a, __u16 port, __u8 protocol)
{
	struct allow_ports *rule;
	struct dns_allow *learned;
	bool port_refused = false;

	if (!cfg || !a)
		return REASON_NOT_IN_ALLOW_LIST;
	if (cfg->allow_loopback && is_loopback(family, a))
		return REASON_LOOPBACK;
	if (is_resolver(cfg, family, a, port))
		return REASON_RESOLVER;
	rule = lookup_rule(cfg, family, a);
	if (rule) {
		if (port_listed(rule, port))
			return REASON_ALLOWED_BY_RULE;
		port_refused = true;
	}
	learned = lookup_dns(family, a);
	if (learned && learned->expires_ns > bpf_ktime_get_boot_ns()) {
		if (port_listed(&learned->ports, port)) {
			if (protocol != IPPROTO_UDP ||
			    udp_listed(&learned->ports, port))
				return REASON_ALLOWED_BY_DNS;
			if (port != DNS_PORT)
				return REASON_UDP_NOT_ALLOWED;
		}
		port_refused = true;
	}
	if (port == DNS_PORT &&
	    (protocol == IPPROTO_UDP || protocol == IPPROTO_TCP))
		return REASON_DNS_RESOLVER_NOT_ALLOWED;
	return port_refused ? REASON_PORT_NOT_ALLOWED : REASON_NOT_IN_ALLOW_LIST;
}

static __always_inline bool reason_allows(__u8 reason)
{
	return reason == REASON_LOOPBACK || reason == REASON_RESOLVER ||
	       reason == REASON_ALLOWED_BY_RULE || reason == REASON_ALLOWED_BY_DNS ||
	       reason == REASON_EXEMPT_ROOT;
}

/*
 * Whether scope.runner.allow admits (a, port) for a runner root: by a
 * range (REASON_ALLOWED_BY_RULE) or by an answer to the runner for one of
 * its names (REASON_ALLOWED_BY_DNS); REASON_NONE otherwise. Global, as
 * judge() is.
 */
__noinline int judge_runner(struct network_config *cfg, __u8 family,
			    const struct addr16 *a, __u16 port, __u8 protocol)
{
	struct allow_ports *rule;
	struct dns_allow *learned;

	if (!cfg || !a)
		return REASON_NONE;
	if (family == 4) {
		struct allow_key_v4 key = { .prefixlen = 32 };

		__builtin_memcpy(key.addr, a->w, 4);
		rule = cfg->generation ? bpf_map_lookup_elem(&runner_v4_gen1, &key) :
					 bpf_map_lookup_elem(&runner_v4, &key);
		learned = bpf_map_lookup_elem(&dns_runner_v4, &a->w[0]);
	} else {
		struct allow_key_v6 key = { .prefixlen = 128 };

		__builtin_memcpy(key.addr, a->w, 16);
		rule = cfg->generation ? bpf_map_lookup_elem(&runner_v6_gen1, &key) :
					 bpf_map_lookup_elem(&runner_v6, &key);
		learned = bpf_map_lookup_elem(&dns_runner_v6, a->w);
	}
	if (rule && port_listed(rule, port))
		return REASON_ALLOWED_BY_RULE;
	if (learned && learned->expires_ns > bpf_ktime_get_boot_ns() &&
	    port_listed(&learned->ports, port) &&
	    (protocol != IPPROTO_UDP || udp_listed(&learned->ports, port)))
		return REASON_ALLOWED_BY_DNS;
	return REASON_NONE;
}

/*
 * judge() for a socket whose owner has scope_flags: a runner root may
 * also reach what scope.runner.allow lists, reported as
 * REASON_EXEMPT_ROOT. *flow_reason gets what the flow is held to: for an
 * address a runner's answer admitted, REASON_ALLOWED_BY_DNS, so that its
 * first bytes must name an allowed server as any such flow's must.
 */
static __always_inline __u8 judge_owner(struct network_config *cfg,
					__u32 scope_flags, __u8 family,
					const struct addr16 *a, __u16 port,
					__u8 protocol, __u8 *flow_reason)
{
	__u8 reason = judge(cfg, family, a, port, protocol);
	__u8 runner;

	*flow_reason = reason;
	if (reason_allows(reason) || !(scope_flags & SCOPE_RUNNER))
		return reason;
	runner = judge_runner(cfg, family, a, port, protocol);
	if (runner == REASON_NONE)
		return reason;
	*flow_reason = runner;
	return REASON_EXEMPT_ROOT;
}

/*
 * The verdict for a reason. Scope roots are judged as steps are; a
 * runner root's refusal for its destination says it left its lists.
 */
static __always_inline __u8 verdict_of(struct network_config *cfg,
				       __u32 scope_flags, __u8 *reason)
{
	if (reason_allows(*reason))
		return VERDICT_ALLOW;
	if ((scope_flags & SCOPE_RUNNER) &&
	    (*reason == REASON_NOT_IN_ALLOW_LIST ||
	     *reason == REASON_PORT_NOT_ALLOWED ||
	     *reason == REASON_UDP_NOT_ALLOWED ||
	     *reason == REASON_DNS_RESOLVER_NOT_ALLOWED))
		*reason = REASON_EXEMPT_ROOT_OUTSIDE_LIST;
	if (cfg->mode != NETWORK_MODE_BLOCK)
		return VERDICT_AUDIT;
	/* counted in the kernel: the count outlives the agent (pinned) */
	stat_inc(STAT_REFUSED);
	return VERDICT_DENY;
}

/* Kills the current process, counted; true when the signal is pending. */
static __always_inline bool kill_current(void)
{
	if (bpf_send_signal(SIGKILL))
		return false;
	stat_inc(STAT_KILLED);
	return true;
}

/*
 * Kills the current process when the policy says so; true when it did.
 * A scope root is refused, never killed: killing the runner or the
 * container runtime would end the job, and a step could make it happen.
 */
static __always_inline bool maybe_kill(struct network_config *cfg,
				       __u32 scope_flags, __u8 verdict)
{
	if (verdict != VERDICT_DENY || cfg->action != NETWORK_ACTION_KILL ||
	    (scope_flags & SCOPE_EXEMPT))
		return false;
	/* delivered on the way back to user space, after the EPERM */
	if (bpf_send_signal(SIGKILL))
		return false;
	stat_inc(STAT_KILLED);
	return true;
}

/* ---- socket owners and events ---- */

/*
 * The owner's pid, scope and network namespace: the namespace tells at
 * ingress whether an answer reached a socket where the trusted resolvers
 * live. bpf_get_netns_cookie(NULL) is the initial namespace's cookie.
 */
#define SET_OWNER(owner, ctx, scope) do {				\
	__u64 __netns = bpf_get_netns_cookie(ctx);			\
									\
	(owner)->pid = bpf_get_current_pid_tgid() >> 32;		\
	(owner)->flags = (scope)->flags;				\
	(owner)->netns = __netns;					\
	if (__netns == bpf_get_netns_cookie(NULL))			\
		(owner)->flags |= OWNER_INIT_NETNS;			\
} while (0)

/* Records who made a socket the first time a monitored process uses it. */
static __always_inline void tag_owner(struct bpf_sock_addr *ctx, struct scope_entry *scope)
{
	struct sock_state *state;

	if (!ctx->sk)
		return;
	state = bpf_sk_storage_get(&socks, ctx->sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (state && !state->owner.pid)
		SET_OWNER(&state->owner, ctx, scope);
}

/* false when this (socket, destination, verdict) was reported lately */
static __always_inline bool first_report(__u64 cookie, __u8 family,
					 const struct addr16 *a, __u16 port,
					 __u8 verdict)
{
	struct send_key key = {
		.cookie = cookie,
		.dport = port,
		.family = family,
		.verdict = verdict,
	};
	__u64 now = bpf_ktime_get_boot_ns();
	__u64 *last;

	__builtin_memcpy(key.daddr, a->w, sizeof(key.daddr));
	last = bpf_map_lookup_elem(&send_reported, &key);
	if (last && now - *last < SEND_REPORT_INTERVAL_NS)
		return false;
	bpf_map_update_elem(&send_reported, &key, &now, BPF_ANY);
	return true;
}

static __always_inline struct network_event *reserve_event(void)
{
	struct network_event *event;

	event = bpf_ringbuf_reserve(&events, sizeof(*event), 0);
	if (!event)
		stat_inc(STAT_DROPS);
	return event;
}

static __always_inline void submit_event(struct network_event *event)
{
	bpf_ringbuf_submit(event, ring_wakeup(&events, sizeof(*event), true));
	stat_inc(STAT_EVENTS);
}

/*
 * The header for a packet's event: from the current task when it is the
 * socket's owner, else (softirq, another task) only the owner's pid.
 */
static __always_inline void fill_owner_header(struct network_event *event,
					      __u8 kind,
					      const struct sock_owner *owner)
{
	fill_header(&event->header, EVENT_TYPE_NETWORK, kind);
	if (event->header.pid != owner->pid) {
		event->header.pid = owner->pid;
		event->header.tid = 0;
		event->header.ppid = 0;
		__builtin_memset(event->header.comm, 0, sizeof(event->header.comm));
	}
}

static __always_inline void fill_addresses(struct network_event *event,
					   __u8 family, __u8 protocol,
					   const struct addr16 *daddr,
					   __u16 dport,
					   const struct addr16 *saddr,
					   __u16 sport)
{
	event->protocol = protocol;
	event->family = family;
	event->dport = dport;
	event->sport = sport;
	__builtin_memcpy(event->daddr, daddr->w, 16);
	__builtin_memcpy(event->saddr, saddr->w, 16);
	event->qtype = 0;
	event->query_size = 0;
}

/*
 * A reserved event of `kind` about packet `p` of `owner`'s socket, with
 * its verdict, reason and kill flag; NULL when the ring is full.
 */
static __always_inline struct network_event *
packet_event(__u8 kind, const struct sock_owner *owner,
	     const struct packet *p, __u16 dport, __u16 sport, __u8 verdict,
	     __u8 reason, bool killed)
{
	struct network_event *event = reserve_event();

	if (!event)
		return NULL;
	fill_owner_header(event, kind, owner);
	if (killed)
		event->header.flags |= NETWORK_FLAG_KILLED;
	fill_addresses(event, p->family, p->protocol, &p->daddr, dport,
		       &p->saddr, sport);
	event->verdict = verdict;
	event->reason = reason;
	return event;
}

/* ---- connect, sendmsg, bind, listen: the caller is current ---- */

/* The address a connect, sendmsg or bind names, IPv4-mapped folded. */
#define USER_ADDRESS(ctx, family, a) do {				\
	if ((family) == 4) {						\
		(a).w[0] = (ctx)->user_ip4;				\
	} else {							\
		(a).w[0] = (ctx)->user_ip6[0];				\
		(a).w[1] = (ctx)->user_ip6[1];				\
		(a).w[2] = (ctx)->user_ip6[2];				\
		(a).w[3] = (ctx)->user_ip6[3];				\
		fold_v4_mapped(&(family), &(a));			\
	}								\
} while (0)

/* The local address and port of the socket (zero while it is unbound). */
static __always_inline void sock_source(struct bpf_sock *sk, __u8 family,
					struct addr16 *saddr, __u16 *sport)
{
	if (!sk)
		return;
	*sport = sk->src_port;
	if (family == 4 && sk->family == AF_INET) {
		saddr->w[0] = sk->src_ip4;
	} else if (sk->family == AF_INET6) {
		saddr->w[0] = sk->src_ip6[0];
		saddr->w[1] = sk->src_ip6[1];
		saddr->w[2] = sk->src_ip6[2];
		saddr->w[3] = sk->src_ip6[3];
		fold_v4_mapped(&family, saddr);
	}
}

/*
 * Judges the destination of a connect or sendmsg and reports it; a 0
 * return makes the syscall fail with EPERM.
 */
static __always_inline int sock_addr_hook(struct bpf_sock_addr *ctx, __u8 kind,
					  __u8 family)
{
	struct addr16 daddr = {}, saddr = {};
	struct scope_entry *scope = current_scope();
	struct network_config *cfg;
	struct network_event *event;
	struct sock_state *state;
	__u16 dport, sport = 0;
	__u8 protocol, reason, verdict, flow_reason;
	bool killed;

	if (!scope)
		return 1;
	cfg = get_config();
	if (!cfg)
		return 1;
	USER_ADDRESS(ctx, family, daddr);
	dport = bpf_ntohs((__u16)ctx->user_port);
	protocol = ctx->protocol;
	tag_owner(ctx, scope);

	reason = judge_owner(cfg, scope->flags, family, &daddr, dport, protocol,
			     &flow_reason);
	if (install_network_refused(cfg->install_scripts, scope->flags,
				    cfg->allow_loopback && is_loopback(family, &daddr)))
		reason = REASON_INSTALL_SCRIPT;
	verdict = verdict_of(cfg, scope->flags, &reason);
	killed = maybe_kill(cfg, scope->flags, verdict) ||
		 (verdict == VERDICT_DENY &&
		  install_script_kill(cfg->install_scripts, scope->flags));
	/* looked up again rather than kept from tag_owner(): a pointer that
	 * may be NULL, alive across the judging, has the verifier check all
	 * of it twice */
	state = ctx->sk ? bpf_sk_storage_get(&socks, ctx->sk, 0, 0) : NULL;
	if (state)
		flow_record(&state->flow, family, &daddr, dport, verdict, flow_reason);

	if (kind == NETWORK_SEND && !killed &&
	    !first_report(bpf_get_socket_cookie(ctx), family, &daddr, dport, verdict))
		goto out;
	event = reserve_event();
	if (!event)
		goto out;
	sock_source(ctx->sk, family, &saddr, &sport);
	fill_header(&event->header, EVENT_TYPE_NETWORK, kind);
	if (killed)
		event->header.flags |= NETWORK_FLAG_KILLED;
	fill_addresses(event, family, protocol, &daddr, dport, &saddr, sport);
	event->verdict = verdict;
	event->reason = reason;
	submit_event(event);
out:
	return verdict == VERDICT_DENY ? 0 : 1;
}

SEC("cgroup/connect4")
int connect4(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, NETWORK_CONNECT, 4);
}

SEC("cgroup/connect6")
int connect6(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, NETWORK_CONNECT, 6);
}

SEC("cgroup/sendmsg4")
int sendmsg4(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, NETWORK_SEND, 4);
}

SEC("cgroup/sendmsg6")
int sendmsg6(struct bpf_sock_addr *ctx)
{
	return sock_addr_hook(ctx, NETWORK_SEND, 6);
}

/* Reports a bind: binds are never refused. */
static __always_inline int bind_hook(struct bpf_sock_addr *ctx, __u8 family)
{
	struct addr16 saddr = {}, none = {};
	struct scope_entry *scope = current_scope();
	struct network_event *event;

	if (!scope)
		return 1;
	tag_owner(ctx, scope);
	USER_ADDRESS(ctx, family, saddr);
	event = reserve_event();
	if (!event)
		return 1;
	fill_header(&event->header, EVENT_TYPE_NETWORK, NETWORK_BIND);
	fill_addresses(event, family, ctx->protocol, &none, 0, &saddr,
		       bpf_ntohs((__u16)ctx->user_port));
	event->verdict = VERDICT_ALLOW;
	event->reason = REASON_NOT_ENFORCED;
	submit_event(event);
	return 1;
}

SEC("cgroup/bind4")
int bind4(struct bpf_sock_addr *ctx)
{
	return bind_hook(ctx, 4);
}

SEC("cgroup/bind6")
int bind6(struct bpf_sock_addr *ctx)
{
	return bind_hook(ctx, 6);
}

/* ---- privileged primitives: raw and packet sockets, netfilter, TUN ---- */

/* The network.privileged bit that allows what reason names. */
static __always_inline __u32 privileged_bit(__u8 reason)
{
	switch (reason) {
	case REASON_RAW_SOCKET:
		return PRIVILEGED_RAW;
	case REASON_PACKET_SOCKET:
		return PRIVILEGED_PACKET;
	case REASON_NETFILTER:
		return PRIVILEGED_NETFILTER;
	default:
		return PRIVILEGED_TUN;
	}
}

/*
 * Judges a privileged primitive the current process asks for (reason)
 * and reports it; returns the verdict. With must_kill, the call is one no
 * hook can refuse, so a denial kills the caller whatever network.action
 * says. Global, so the verifier checks it once.
 */
__noinline int judge_privileged(struct scope_entry *scope, __u8 reason,
				__u8 family, __u8 protocol, bool must_kill)
{
	struct network_config *cfg = get_config();
	struct addr16 none = {};
	struct network_event *event;
	__u8 verdict;
	bool killed = false;

	if (!scope)
		return VERDICT_ALLOW;
	/* the config is an array map: it is there once the sensor is */
	if (!cfg)
		return VERDICT_DENY;
	if (cfg->privileged & privileged_bit(reason)) {
		verdict = VERDICT_ALLOW;
	} else if (scope->flags & SCOPE_EXEMPT) {
		/* the runtime's own netfilter and packet work, never a step's */
		verdict = VERDICT_ALLOW;
		reason = REASON_EXEMPT_ROOT;
	} else {
		verdict = verdict_of(cfg, scope->flags, &reason);
	}
	if (verdict == VERDICT_DENY)
		killed = must_kill ? kill_current() :
				     maybe_kill(cfg, scope->flags, verdict);
	event = reserve_event();
	if (!event)
		return verdict;
	fill_header(&event->header, EVENT_TYPE_NETWORK, NETWORK_SOCKET);
	if (killed)
		event->header.flags |= NETWORK_FLAG_KILLED;
	fill_addresses(event, family, protocol, &none, 0, &none, 0);
	event->verdict = verdict;
	event->reason = reason;
	submit_event(event);
	return verdict;
}

/*
 * Judges a primitive no hook can refuse (a denial kills the caller). The
 * event's family is the socket's (AF_PACKET, AF_NETLINK), 0 for a TUN
 * device.
 */
static __always_inline void judge_unrefusable(struct scope_entry *scope,
					      __u8 reason)
{
	if (reason == REASON_PACKET_SOCKET)
		judge_privileged(scope, reason, AF_PACKET, 0, true);
	else if (reason == REASON_NETFILTER)
		judge_privileged(scope, reason, AF_NETLINK, NETLINK_NETFILTER, true);
	else
		judge_privileged(scope, reason, 0, 0, true);
}

/*
 * Packet sockets, netfilter netlink sockets and TUN attach, which no
 * cgroup hook sees (lib/privileged.h). Every syscall of the machine
 * passes here: the number is tested first, the scope after.
 */
static __always_inline void privileged_enter(struct pt_regs *regs, long id)
{
	bool compat = false;
	int call = privileged_call(id, &compat);
	struct scope_entry *scope;
	__u8 reason;

	if (call == PRIV_CALL_NONE)
		return;
	reason = privileged_syscall(regs, call, compat);
	if (reason == REASON_NONE)
		return;
	scope = current_scope();
	if (scope)
		judge_unrefusable(scope, reason);
}

/* A member of the sys_enter chain (lib/syscall_chain.h), never attached. */
SEC("raw_tp/sys_enter")
int BPF_PROG(sys_enter, struct pt_regs *regs, long id)
{
	privileged_enter(regs, id);
	chain_enter_next(ctx, CHAIN_ENTER_NETWORK);
	return 0;
}

/*
 * io_uring's IORING_OP_SOCKET (Linux 5.19+) makes a socket without the
 * socket() syscall. The request is prepared (its arguments read from the
 * submission) before this tracepoint and issued after it, so the
 * submitter is killed before it can use the socket. Submissions of an
 * SQPOLL ring come from the ring's thread, which is part of the process.
 */
SEC("raw_tp/io_uring_submit_req")
int BPF_PROG(io_uring_submit_req, struct io_kiocb *req)
{
	struct scope_entry *scope;
	struct io_socket *sock;
	__u8 reason;

	if (!bpf_core_type_exists(struct io_socket) ||
	    !bpf_core_enum_value_exists(enum io_uring_op, IORING_OP_SOCKET))
		return 0;
	if (BPF_CORE_READ(req, opcode) !=
	    bpf_core_enum_value(enum io_uring_op, IORING_OP_SOCKET))
		return 0;
	scope = current_scope();
	if (!scope)
		return 0;
	/* the request's command data opens struct io_kiocb */
	sock = (struct io_socket *)req;
	reason = privileged_socket(BPF_CORE_READ(sock, domain),
				   BPF_CORE_READ(sock, type),
				   BPF_CORE_READ(sock, protocol));
	if (reason != REASON_NONE)
		judge_unrefusable(scope, reason);
	return 0;
}

/*
 * Every socket a monitored process creates gets its owner at birth. A
 * raw inet socket is a privileged primitive: it writes any header
 * (IP_HDRINCL) and is the socket legacy iptables talks through.
 */
SEC("cgroup/sock_create")
int sock_create(struct bpf_sock *ctx)
{
	struct scope_entry *scope = current_scope();
	struct sock_owner *owner;

	if (!scope)
		return 1;
	if (ctx->type == SOCK_RAW &&
	    judge_privileged(scope, REASON_RAW_SOCKET,
			     ctx->family == AF_INET6 ? 6 : 4, ctx->protocol,
			     false) == VERDICT_DENY)
		return 0;
	owner = sock_owner_of(ctx, BPF_SK_STORAGE_GET_F_CREATE);
	if (owner)
		SET_OWNER(owner, ctx, scope);
	return 1;
}

/*
 * A raw tracepoint, not tp/sock/inet_sock_set_state: detaching a
 * perf-event tracepoint waits for RCU grace periods, which would hold up
 * every agent exit.
 */
SEC("raw_tp/inet_sock_set_state")
int BPF_PROG(inet_sock_set_state, const struct sock *sk, int oldstate, int newstate)
{
	struct addr16 saddr = {}, none = {};
	struct network_event *event;
	__u16 sk_family;
	__u8 family;

	/* listen() runs in the caller's context, so current is the owner */
	if (newstate != TCP_LISTEN || !current_scope())
		return 0;
	sk_family = BPF_CORE_READ(sk, __sk_common.skc_family);
	if (sk_family == AF_INET) {
		family = 4;
		saddr.w[0] = BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);
	} else if (sk_family == AF_INET6) {
		family = 6;
		BPF_CORE_READ_INTO(&saddr.w, sk, __sk_common.skc_v6_rcv_saddr);
		fold_v4_mapped(&family, &saddr);
	} else {
		return 0;
	}
	event = reserve_event();
	if (!event)
		return 0;
	fill_header(&event->header, EVENT_TYPE_NETWORK, NETWORK_LISTEN);
	/* skc_num: the local port, in host order as the tracepoint gave it */
	fill_addresses(event, family, BPF_CORE_READ(sk, sk_protocol), &none, 0,
		       &saddr, BPF_CORE_READ(sk, __sk_common.skc_num));
	event->verdict = VERDICT_ALLOW;
	event->reason = REASON_NOT_ENFORCED;
	submit_event(event);
	return 0;
}

/* ---- allowed domains and DNS answers ---- */

/*
 * Tries the allowed-domain keys for the scratch name's suffix at one
 * label; on a match, chain_ports[0] gets the rule's ports (bpf_loop).
 */
static long domain_step(__u32 index, void *unused)
{
	struct network_config *cfg = get_config();
	struct dns_scratch *s = get_scratch();
	struct allow_ports *rule;
	__u32 off, n;

	if (!s || !cfg || index >= s->cur.labels || index >= DNS_MAX_LABELS)
		return 1;
	off = s->cur.label_off[MASKED(index, DNS_MAX_LABELS - 1)];
	if (off >= s->cur.out)
		return 1;
	n = s->cur.out - off;
	if (n == 0)
		return 1;
	/* longer than any rule: a shorter suffix may still match */
	if (n > DOMAIN_NAME_MAX)
		return 0;
	__builtin_memset(&s->key, 0, sizeof(s->key));
	/* the name itself matches exact rules, its parents wildcards */
	s->key.wildcard = index > 0 ? DOMAIN_WILDCARD : 0;
	bpf_probe_read_kernel(s->key.name, MASKED(n, 2 * DOMAIN_NAME_MAX - 1),
			      &s->name[off & (DNS_NAME_MAX - 1)]);
	rule = NULL;
	if (s->lists & 1)
		rule = cfg->generation ? bpf_map_lookup_elem(&domains_gen1, &s->key) :
					 bpf_map_lookup_elem(&domains, &s->key);
	s->matched = 1;
	if (!rule && (s->lists & 2)) {
		/* scope.runner.allow's rules: the same map, flagged keys */
		s->key.wildcard |= DOMAIN_RUNNER;
		rule = cfg->generation ? bpf_map_lookup_elem(&domains_gen1, &s->key) :
					 bpf_map_lookup_elem(&domains, &s->key);
		s->matched = 2;
	}
	if (!rule) {
		s->matched = 0;
		return 0;
	}
	/* nearest first: the most specific rule gives the ports */
	__builtin_memcpy(&s->chain_ports[0], rule, sizeof(*rule));
	return 1;
}

/*
 * Whether the name in scratch is one a process with scope_flags may name:
 * network.allow's domains for everyone, scope.runner.allow's too for a
 * runner root. Leaves the rule's ports in chain_ports[0].
 */
static __always_inline bool domain_allowed(struct dns_scratch *s,
					   __u32 scope_flags)
{
	s->lists = (scope_flags & SCOPE_RUNNER) ? 3 : 1;
	s->matched = 0;
	bpf_loop(DNS_MAX_LABELS, domain_step, NULL, 0);
	return s->matched != 0;
}

/*
 * One port of merge_from per call (bpf_loop), added to entry's ports; a
 * port already there gets merge_from's UDP bit too. More ports than a
 * value holds: entry's own set, the newer, is kept whole (merge_keep).
 */
static long merge_step(__u32 index, void *unused)
{
	struct dns_scratch *s = get_scratch();
	struct allow_ports *into, *from;
	__u16 count, udp, port;
	int at;

	if (!s || index >= ALLOW_MAX_PORTS)
		return 1;
	into = &s->entry.ports;
	from = &s->merge_from;
	if (index >= from->count)
		return 1;
	count = into->count;
	udp = (from->udp >> index) & 1;
	port = from->ports[MASKED(index, ALLOW_MAX_PORTS - 1)];
	at = port_slot(into, port);
	if (at >= 0) {
		into->udp |= udp << MASKED(at, ALLOW_MAX_PORTS - 1);
		return 0;
	}
	if (count >= ALLOW_MAX_PORTS) {
		__builtin_memcpy(into, &s->merge_keep, sizeof(*into));
		return 1;
	}
	into->count = count + 1;
	into->ports[MASKED(count, ALLOW_MAX_PORTS - 1)] = port;
	into->udp |= udp << MASKED(count, ALLOW_MAX_PORTS - 1);
	return 0;
}

/*
 * Adds the ports of from (an address's older entry) to the scratch
 * entry's (what the answer just read admits); either one allowing any
 * port (count 0) makes the union any port, and a union that does not fit
 * leaves the newer set. A port at a time by bpf_loop, so the verifier
 * checks one step rather than every port of both lists.
 */
__noinline int merge_ports(const struct allow_ports *from)
{
	struct dns_scratch *s = get_scratch();
	struct allow_ports *into;

	if (!s || !from)
		return 0;
	into = &s->entry.ports;
	if (into->count == 0 || from->count == 0) {
		/* UDP to any port only from a side that allows it to any port;
		 * UDP to some ports of the other side is given up (refused) */
		into->udp = (into->count == 0 && (into->udp & 1)) ||
			    (from->count == 0 && (from->udp & 1));
		into->count = 0;
		return 0;
	}
	__builtin_memcpy(&s->merge_from, from, sizeof(*from));
	__builtin_memcpy(&s->merge_keep, into, sizeof(*into));
	bpf_loop(ALLOW_MAX_PORTS, merge_step, NULL, 0);
	return 0;
}

/*
 * Admits an address (key of map) for the answer's TTL, held between the
 * policy's dns_min_ttl and dns_max_ttl, with the ports of its name.
 */
static __always_inline void admit(struct network_config *cfg,
				  struct dns_scratch *s, void *map, void *key,
				  __u32 ttl, const struct allow_ports *ports)
{
	/* built in scratch: merging writes ports at a variable index */
	struct dns_allow *entry = &s->entry, *old;
	__u64 now = bpf_ktime_get_boot_ns();

	if (ttl < cfg->dns_min_ttl)
		ttl = cfg->dns_min_ttl;
	if (ttl > cfg->dns_max_ttl)
		ttl = cfg->dns_max_ttl;
	entry->expires_ns = now + (__u64)ttl * 1000000000ULL;
	__builtin_memcpy(&entry->ports, ports, sizeof(entry->ports));
	/* two allowed names may share an address: keep both port sets */
	old = bpf_map_lookup_elem(map, key);
	if (old && old->expires_ns > now) {
		merge_ports(&old->ports);
		if (old->expires_ns > entry->expires_ns)
			entry->expires_ns = old->expires_ns;
	}
	bpf_map_update_elem(map, key, entry, BPF_ANY);
}

/*
 * Finds which allowed name of this message (the question, a CNAME target)
 * the scratch hash is: its index in *found, left at -1 when none (bpf_loop).
 */
static long chain_step(__u32 index, void *found)
{
	struct dns_scratch *s = get_scratch();

	if (!s || index >= s->chain_count || index >= DNS_MAX_CHAIN)
		return 1;
	if (s->chain_hash[MASKED(index, DNS_MAX_CHAIN - 1)] != s->hash)
		return 0;
	*(int *)found = index;
	return 1;
}

/* One answer record per call (bpf_loop). */
static long record_step(__u32 index, void *unused)
{
	struct network_config *cfg = get_config();
	struct dns_scratch *s = get_scratch();
	__u32 pos, type, class, ttl, rdlen, rdata, next;
	__u64 which;
	int slot = -1;

	if (!s || !cfg || index >= s->walk_count)
		return 1;
	if (read_name(s->walk_pos))
		return 1;
	/* TYPE, CLASS, TTL, RDLENGTH, then RDATA (RFC 1035 §4.1.3) */
	pos = s->cur.end;
	if (pos + 10 > s->len)
		return 1;
	type = msg_u16(s, pos);
	class = msg_u16(s, pos + 2);
	ttl = ((__u32)msg_u16(s, pos + 4) << 16) | msg_u16(s, pos + 6);
	rdlen = msg_u16(s, pos + 8);
	rdata = pos + 10;
	if (rdata + rdlen > s->len)
		return 1;
	s->walk_pos = rdata + rdlen;

	bpf_loop(DNS_MAX_CHAIN, chain_step, &slot, 0);
	if (slot < 0 || class != DNS_CLASS_IN)
		return 0;
	which = MASKED(slot, DNS_MAX_CHAIN - 1);
	if (type == DNS_TYPE_CNAME) {
		/* the target of an allowed name is allowed, with its ports */
		if (read_name(rdata))
			return 0;
		next = s->chain_count;
		if (next >= DNS_MAX_CHAIN)
			return 0;
		s->chain_hash[MASKED(next, DNS_MAX_CHAIN - 1)] = s->hash;
		__builtin_memcpy(&s->chain_ports[MASKED(next, DNS_MAX_CHAIN - 1)],
				 &s->chain_ports[which], sizeof(struct allow_ports));
		s->chain_count = next + 1;
	} else if (type == DNS_TYPE_A && rdlen == 4) {
		__u32 addr;

		bpf_probe_read_kernel(&addr, 4, &s->msg[rdata & (DNS_MSG_MAX - 1)]);
		if (s->matched == 2)
			admit(cfg, s, &dns_runner_v4, &addr, ttl, &s->chain_ports[which]);
		else
			admit(cfg, s, &dns_allow_v4, &addr, ttl, &s->chain_ports[which]);
	} else if (type == DNS_TYPE_AAAA && rdlen == 16) {
		struct dns_key_v6 addr;

		bpf_probe_read_kernel(&addr, 16, &s->msg[rdata & (DNS_MSG_MAX - 1)]);
		if (s->matched == 2)
			admit(cfg, s, &dns_runner_v6, &addr, ttl, &s->chain_ports[which]);
		else
			admit(cfg, s, &dns_allow_v6, &addr, ttl, &s->chain_ports[which]);
	}
	return 0;
}

/*
 * Admits the A and AAAA addresses of an answer to a recorded query whose
 * question (or a CNAME target along its chain) is an allowed name. Runs
 * before the socket queues the packet, so the reader cannot connect
 * earlier. Global, so the verifier checks it once.
 */
__noinline int learn_answer(struct __sk_buff *skb, const struct packet *p,
			    __u32 scope_flags)
{
	struct dns_scratch *s = get_scratch();

	if (!s || !p || load_payload(skb, dns_payload_offset(skb, p), s) < 0)
		return 0;
	if (!dns_is_answer(s) || read_name(DNS_HEADER_SIZE))
		return 0;
	if (s->cur.end + 4 > s->len ||
	    !answers_query(s, p, msg_u16(s, s->cur.end)))
		return 0;
	/* network.allow's names first: what they admit, everyone may reach */
	s->lists = 1;
	s->matched = 0;
	bpf_loop(DNS_MAX_LABELS, domain_step, NULL, 0);
	if (!s->matched && (scope_flags & SCOPE_RUNNER)) {
		s->lists = 2;
		bpf_loop(DNS_MAX_LABELS, domain_step, NULL, 0);
	}
	if (!s->matched)
		return 0;
	s->chain_count = 1;
	s->chain_hash[0] = s->hash;
	/* the answers follow the question's QTYPE and QCLASS (RFC 1035 §4.1.2) */
	s->walk_pos = s->cur.end + 4;
	s->walk_count = msg_u16(s, DNS_ANCOUNT);
	bpf_loop(DNS_MAX_RECORDS, record_step, NULL, 0);
	return 0;
}

/*
 * Judges a DNS query a monitored socket sends: its name must be one the
 * allowed domains cover (network.dns.queries allowed-only), as the
 * resolver passes any name on to whoever serves it, and the name is data
 * (DNS tunnelling). A query the sensor cannot read whole is refused like
 * an unallowed one. A query that leaves is recorded for its answer.
 * Reports it and returns the verdict. Global, so the verifier checks it
 * once.
 */
__noinline int judge_query(struct __sk_buff *skb, struct network_config *cfg,
			   const struct packet *p,
			   const struct sock_owner *owner)
{
	struct dns_scratch *s = get_scratch();
	struct network_event *event;
	int offset, err = -1;
	__u16 qtype = 0;
	__u8 reason, verdict, flow_reason;
	bool killed = false;

	if (!s || !cfg || !p || !owner)
		return VERDICT_ALLOW;
	offset = dns_payload_offset(skb, p);
	/* a TCP segment without data (handshake, ack, fin) asks nothing */
	if (p->protocol == IPPROTO_TCP && offset - 2 >= (int)skb->len)
		return VERDICT_ALLOW;
	if (load_payload(skb, offset, s) >= 0 && one_query(skb, p, offset, s))
		err = read_name(DNS_HEADER_SIZE);
	if (!err && s->cur.end + 4 > s->len)
		err = -1;
	s->matched = 0;
	if (!err) {
		qtype = msg_u16(s, s->cur.end);
		domain_allowed(s, owner->flags);
	}
	reason = judge_owner(cfg, owner->flags, p->family, &p->daddr, p->dport,
			     p->protocol, &flow_reason);
	if (reason_allows(reason) && !s->matched &&
	    (cfg->dns_queries == DNS_QUERIES_ALLOWED_ONLY ||
	     install_queries_held(cfg->install_scripts, owner->pid)))
		reason = REASON_DNS_QUERY_NOT_ALLOWED;
	verdict = verdict_of(cfg, owner->flags, &reason);
	if (verdict != VERDICT_DENY && !err)
		remember_query(s, p, qtype);
	if (owner->pid == bpf_get_current_pid_tgid() >> 32)
		killed = maybe_kill(cfg, owner->flags, verdict);
	/* a refused query is retried (TCP retransmits it): report it once */
	if (verdict != VERDICT_ALLOW && !killed &&
	    !first_report(bpf_get_socket_cookie(skb) ^ (err ? 0 : s->hash),
			  p->family, &p->daddr, p->dport, verdict))
		return verdict;
	event = packet_event(NETWORK_DNS, owner, p, p->dport, p->sport, verdict,
			     reason, killed);
	if (!event)
		return verdict;
	if (err == -2) {
		event->header.flags |= NETWORK_FLAG_QUERY_TRUNCATED;
	} else if (err) {
		event->header.flags |= NETWORK_FLAG_QUERY_MALFORMED;
	} else {
		event->query_size = s->cur.out;
		event->qtype = qtype;
		__builtin_memcpy(event->query, s->name, DNS_NAME_MAX);
	}
	submit_event(event);
	return verdict;
}

/* ---- packets: the owner is in socket storage ---- */

/*
 * network: deny at the way out, in block mode, for what connect and
 * sendmsg did not refuse (ICMP, a socket connected before its owner became
 * an install script): refused when the owner is one now, by its live
 * scope entry; reported once per socket and destination. Global, so the
 * verifier checks it once.
 */
__noinline int install_egress_refused(struct __sk_buff *skb,
				      struct network_config *cfg,
				      const struct packet *p,
				      const struct sock_owner *owner)
{
	struct network_event *event;

	if (!skb || !cfg || !p || !owner || cfg->mode != NETWORK_MODE_BLOCK ||
	    !(cfg->install_scripts & INSTALL_NETWORK_DENY) ||
	    (cfg->allow_loopback && is_loopback(p->family, &p->daddr)) ||
	    !install_script_pid(cfg->install_scripts, owner->pid))
		return 0;
	if (!first_report(bpf_get_socket_cookie(skb), p->family, &p->daddr,
			  p->dport, VERDICT_DENY))
		return 1;
	stat_inc(STAT_REFUSED);
	event = packet_event(NETWORK_SEND, owner, p, p->dport, p->sport,
			     VERDICT_DENY, REASON_INSTALL_SCRIPT, false);
	if (event)
		submit_event(event);
	return 1;
}

/*
 * Whether the dotted name the stream scratch points at (name_off,
 * name_len) is an allowed domain for port; the name is left in dns
 * scratch for a report. Global: checked once, not at each caller.
 */
__noinline int name_allowed(struct stream_scratch *t, struct dns_scratch *s,
			    __u16 port, __u32 scope_flags)
{
	if (!t || !s || stream_name(t, s, t->name_off, t->name_len))
		return false;
	return domain_allowed(s, scope_flags) &&
	       port_listed(&s->chain_ports[0], port);
}

/*
 * Whether an HTTP request target names a host (absolute form, RFC 9112
 * §3.2.2, or authority form, §3.2.3) that is not allowed. Origin form
 * ("/...") and "*" name none.
 */
static __always_inline bool target_refused(struct stream_scratch *t,
					   struct dns_scratch *s, __u16 port,
					   __u32 scope_flags)
{
	__u32 off = t->target_off;
	__u8 first = at(t, off);

	if (first == '/' || first == '*')
		return false;
	if (lower(first) == 'h' && lower(at(t, off + 1)) == 't' &&
	    lower(at(t, off + 2)) == 't' && lower(at(t, off + 3)) == 'p') {
		if (at(t, off + 4) == ':')
			off += 7;	/* http:// */
		else if (lower(at(t, off + 4)) == 's' && at(t, off + 5) == ':')
			off += 8;	/* https:// */
	}
	t->name_off = off;
	t->name_len = 0;
	bpf_loop(DNS_NAME_MAX, stream_host_step, NULL, 0);
	return !name_allowed(t, s, port, scope_flags);
}

/*
 * Refuses a flow whose first bytes name no allowed server: all its
 * packets get the verdict from now on; reported once, the owner killed
 * when the policy says so and it is current. Global, as name_allowed().
 */
__noinline int refuse_stream(const struct packet *p,
			     const struct sock_owner *owner,
			     struct flow_state *flow, __u8 reason)
{
	struct network_config *cfg = get_config();
	struct dns_scratch *s = get_scratch();
	struct network_event *event;
	__u8 verdict;
	bool killed = false;

	if (!cfg || !s || !p || !owner || !flow)
		return VERDICT_DENY;
	verdict = verdict_of(cfg, owner->flags, &reason);
	flow->name = FLOW_NAME_REFUSED;
	flow->name_verdict = verdict;
	if (owner->pid == bpf_get_current_pid_tgid() >> 32)
		killed = maybe_kill(cfg, owner->flags, verdict);
	event = packet_event(NETWORK_SEND, owner, p, p->dport, p->sport, verdict,
			     reason, killed);
	if (!event)
		return verdict;
	if (reason == REASON_SNI_NOT_ALLOWED) {
		event->query_size = s->cur.out;
		__builtin_memcpy(event->query, s->name, DNS_NAME_MAX);
	}
	submit_event(event);
	return verdict;
}

/*
 * A TCP flow to an address only DNS admitted carries data only once its
 * first bytes name an allowed domain, in a TLS ClientHello's server_name
 * or an HTTP request's Host (and request target): otherwise the address
 * was reached under a name that was allowed and is used for another
 * (domain fronting), or for data no server name covers. Until then its
 * data segments are gathered (lib/stream.h) and dropped in block mode;
 * each HTTP request of a kept-alive connection is checked in turn.
 * Destinations allowed by an address rule are not held to names.
 * A global function, so the verifier checks it once and not along every
 * path of egress that reaches it.
 */
__noinline int check_stream(struct __sk_buff *skb, const struct packet *p,
			    const struct sock_owner *owner,
			    struct flow_state *flow)
{
	struct bpf_sock *sk = skb->sk;
	struct network_config *cfg = get_config();
	struct dns_scratch *s = get_scratch();
	struct stream_scratch *t = get_stream_scratch();
	struct stream_buf *buf;
	struct tcphdr th;
	__u32 seq, off, len, have, n, result;
	__u8 hold;
	int rel;

	if (!cfg || !p || !owner || !flow || !s || !t || !sk)
		return VERDICT_DENY;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return VERDICT_DENY;
	if (flow->name == FLOW_NAME_REFUSED)
		return flow->name_verdict;
	/* a verified TLS stream: the rest of it passes */
	if (flow->name == FLOW_NAME_VERIFIED && !flow->until)
		return VERDICT_ALLOW;
	/* what an unverified segment gets: held in block mode, else passed */
	hold = cfg->mode == NETWORK_MODE_BLOCK ? VERDICT_DENY : VERDICT_ALLOW;
	if (bpf_skb_load_bytes(skb, p->l4_offset, &th, sizeof(th)))
		return hold;
	seq = bpf_ntohl(th.seq);
	off = p->l4_offset + th.doff * 4;
	len = skb->len > off ? skb->len - off : 0;
	if (th.syn) {
		/* data, with TCP Fast Open, starts after the SYN's number */
		seq += 1;
		flow->base = seq;
		flow->synced = 1;
		flow->have = 0;
	}
	if (len == 0)
		return VERDICT_ALLOW;
	if (flow->name == FLOW_NAME_UNCHECKED) {
		flow->name = FLOW_NAME_PENDING;
		if (!flow->synced) {
			flow->base = seq;
			flow->synced = 1;
		}
		flow->have = 0;
	}
	rel = (int)(seq - flow->base);
	if (flow->name == FLOW_NAME_VERIFIED) {
		if (!flow->until || rel + (int)len <= (int)flow->until)
			return VERDICT_ALLOW;
		/* the segment reaches into the next request: check that */
		flow->base += flow->until;
		flow->until = 0;
		flow->have = 0;
		flow->name = FLOW_NAME_PENDING;
		rel = (int)(seq - flow->base);
	}
	/* bytes of a request verified before, sent again */
	if (rel + (int)len <= 0)
		return VERDICT_ALLOW;
	have = flow->have;
	/* a gap before this segment: it comes again after what precedes it */
	if (rel > (int)have)
		return hold;
	buf = bpf_sk_storage_get(&stream_bufs, sk, 0, BPF_SK_STORAGE_GET_F_CREATE);
	if (!buf)
		return refuse_stream(p, owner, flow,
				     REASON_NAME_NOT_VERIFIED);
	if (rel + len > have && have < STREAM_MAX) {
		n = rel + len - have;
		if (n > STREAM_MAX - have)
			n = STREAM_MAX - have;
		if (bpf_skb_load_bytes(skb, off + (have - rel),
				       &buf->data[MASKED(have, STREAM_MAX - 1)],
				       MASKED(n - 1, STREAM_MAX - 1) + 1))
			return hold;
		have += n;
		flow->have = have;
	}
	if (have == 0 || have > STREAM_MAX)
		return hold;
	bpf_probe_read_kernel(t->data, MASKED(have - 1, STREAM_MAX - 1) + 1,
			      buf->data);
	t->len = have;
	result = stream_parse(t);
	if (result == STREAM_MORE && have < STREAM_MAX)
		return hold;
	if (result != STREAM_NAMED) {
		bpf_sk_storage_delete(&stream_bufs, sk);
		return refuse_stream(p, owner, flow,
				     REASON_NAME_NOT_VERIFIED);
	}
	if (!name_allowed(t, s, p->dport, owner->flags) ||
	    (at(t, 0) != STREAM_TLS_HANDSHAKE &&
	     target_refused(t, s, p->dport, owner->flags))) {
		bpf_sk_storage_delete(&stream_bufs, sk);
		return refuse_stream(p, owner, flow,
				     REASON_SNI_NOT_ALLOWED);
	}
	bpf_sk_storage_delete(&stream_bufs, sk);
	flow->name = FLOW_NAME_VERIFIED;
	flow->until = at(t, 0) == STREAM_TLS_HANDSHAKE ? 0 : t->content_length;
	/* the segment also holds the start of the next request: check that */
	if (flow->until && rel + (int)len > (int)flow->until) {
		flow->base += flow->until;
		flow->until = 0;
		flow->have = 0;
		flow->name = FLOW_NAME_PENDING;
		return hold;
	}
	return VERDICT_ALLOW;
}

/*
 * The verdict on a TCP or UDP packet of a policed socket, by where it
 * really goes: what connect or sendmsg judged when the destination is the
 * same, else a fresh judgement (NAT rewrote it, or no hook saw the socket),
 * kept in flow for the packets after it and reported once per socket and
 * destination. flow is NULL when the socket has no storage: then every
 * packet is judged. Global, as check_stream() is.
 */
__noinline int judge_flow(struct network_config *cfg, const struct packet *p,
			  const struct sock_owner *owner,
			  struct flow_state *flow, __u64 cookie)
{
	struct network_event *event;
	__u8 reason, verdict, flow_reason;
	bool killed = false;

	if (!cfg || !p || !owner)
		return VERDICT_DENY;
	if (flow && flow_same_destination(flow, p->family, &p->daddr, p->dport)) {
		/* connect and sendmsg run before the socket has its port */
		if (!flow->sport)
			flow->sport = p->sport;
		if (flow->sport == p->sport)
			return flow->verdict;
	}
	/* a fragment past the first has no ports: it follows the first */
	if (flow && !p->sport && !p->dport &&
	    flow_same_destination(flow, p->family, &p->daddr, flow->dport))
		return flow->verdict;
	reason = judge_owner(cfg, owner->flags, p->family, &p->daddr, p->dport,
			     p->protocol, &flow_reason);
	if (!reason_allows(reason) && flow && flow->verdict)
		reason = flow_reason = REASON_DESTINATION_CHANGED;
	verdict = verdict_of(cfg, owner->flags, &reason);
	if (flow) {
		flow_record(flow, p->family, &p->daddr, p->dport, verdict,
			    flow_reason);
		flow->sport = p->sport;
	}
	if (verdict == VERDICT_ALLOW)
		return verdict;
	if (owner->pid == bpf_get_current_pid_tgid() >> 32)
		killed = maybe_kill(cfg, owner->flags, verdict);
	if (!killed && !first_report(cookie, p->family, &p->daddr, p->dport, verdict))
		return verdict;
	event = packet_event(NETWORK_SEND, owner, p, p->dport, p->sport, verdict,
			     reason, killed);
	if (!event)
		return verdict;
	submit_event(event);
	return verdict;
}

static __always_inline bool to_resolver(struct network_config *cfg,
					const struct packet *p)
{
	return p->dport == DNS_PORT ||
	       is_resolver(cfg, p->family, &p->daddr, p->dport);
}

/*
 * The way out, after netfilter's OUTPUT chain: every packet of a policed
 * socket is judged here by its owner and its real destination. Sockets
 * connect/sendmsg never see (raw, ICMP) are judged per destination; TCP
 * and UDP keep the verdict of connect/sendmsg while their packets go
 * where those judged (judge_flow), and are judged again when they do not.
 * DNS queries are judged by their name (judge_query()), and the first
 * bytes of a TCP flow to an address only DNS admitted are held to the
 * allowed domains by check_stream().
 */
SEC("cgroup_skb/egress")
int egress(struct __sk_buff *skb)
{
	struct packet p = {};
	struct bpf_sock *sk = skb->sk;
	struct network_config *cfg;
	struct sock_owner *owner;
	struct network_event *event;
	struct sock_state *state;
	struct flow_state *flow;
	__u8 reason, verdict, flow_reason;
	bool killed = false;

	if (!sk)
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	state = bpf_sk_storage_get(&socks, sk, 0, 0);
	if (!state || !(state->owner.flags & SCOPE_MONITORED))
		return 1;
	owner = &state->owner;
	cfg = get_config();
	if (!cfg || parse_packet(skb, &p) < 0)
		return 1;
	if (install_egress_refused(skb, cfg, &p, owner))
		return 0;
	if (p.protocol == IPPROTO_TCP || p.protocol == IPPROTO_UDP) {
		/* what a resolver would send: never taken for its answer */
		if (p.sport == DNS_PORT ||
		    is_resolver(cfg, p.family, &p.saddr, p.sport))
			skb->mark |= DNS_SOURCE_MARK;
		/* a listener's packets (SYN-ACK, RST) answer inbound
		 * connections, which are not policed */
		if (sk->state == BPF_TCP_LISTEN)
			return 1;
		flow = &state->flow;
		if (judge_flow(cfg, &p, owner, flow, bpf_get_socket_cookie(skb)) ==
		    VERDICT_DENY)
			return 0;
		if (to_resolver(cfg, &p)) {
			if (judge_query(skb, cfg, &p, owner) == VERDICT_DENY)
				return 0;
		} else if (p.protocol == IPPROTO_TCP && flow &&
			   flow->reason == REASON_ALLOWED_BY_DNS &&
			   check_stream(skb, &p, owner, flow) == VERDICT_DENY) {
			return 0;
		}
		return 1;
	}
	reason = judge_owner(cfg, owner->flags, p.family, &p.daddr, 0, p.protocol,
			     &flow_reason);
	verdict = verdict_of(cfg, owner->flags, &reason);
	if (owner->pid == bpf_get_current_pid_tgid() >> 32)
		killed = maybe_kill(cfg, owner->flags, verdict);
	if (!killed && !first_report(bpf_get_socket_cookie(skb), p.family,
				     &p.daddr, 0, verdict))
		goto out;
	event = packet_event(NETWORK_SEND, owner, &p, 0, 0, verdict,
			     reason, killed);
	if (!event)
		goto out;
	submit_event(event);
out:
	return verdict == VERDICT_DENY ? 0 : 1;
}

/* Whether a socket lives where the trusted resolvers answer from. */
static __always_inline bool in_resolver_netns(struct network_config *cfg,
					      const struct sock_owner *owner)
{
	if (cfg->resolver_netns)
		return owner->netns == cfg->resolver_netns;
	return owner->flags & OWNER_INIT_NETNS;
}

/*
 * DNS answers from a trusted resolver to a monitored socket in the trusted
 * network namespace: a namespace of the step's own making (unshare -rn)
 * can put a resolver's address on its loopback and answer from there, and
 * cgroup hooks see the packets of every namespace. An answer a monitored
 * socket sent (DNS_SOURCE_MARK) is forged, whatever its source address.
 */
SEC("cgroup_skb/ingress")
int ingress(struct __sk_buff *skb)
{
	struct packet p = {};
	struct network_config *cfg = get_config();
	struct bpf_sock *sk = skb->sk;
	struct sock_owner *owner;

	if (!cfg || !sk || (skb->mark & DNS_SOURCE_MARK))
		return 1;
	sk = bpf_sk_fullsock(sk);
	if (!sk)
		return 1;
	/* a connected socket takes packets from its peer's port alone: one
	 * no resolver answers on is no resolver's, without a lookup (most of
	 * the machine's packets; an unconnected socket's dst_port is 0) */
	if (cfg->resolver_port && sk->dst_port &&
	    sk->dst_port != bpf_htons(cfg->resolver_port))
		return 1;
	owner = sock_owner_of(sk, 0);
	if (!owner || !in_resolver_netns(cfg, owner))
		return 1;
	if (parse_packet(skb, &p) < 0)
		return 1;
	if (p.protocol != IPPROTO_TCP && p.protocol != IPPROTO_UDP)
		return 1;
	if (!is_resolver(cfg, p.family, &p.saddr, p.sport))
		return 1;
	learn_answer(skb, &p, owner->flags);
	return 1;
}
