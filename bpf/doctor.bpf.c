// SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause)
/*
 * `ringfence doctor` probes: one do-nothing program per hook type the
 * sensors use (and the two this kernel kind refuses), loaded and attached
 * one at a time to show what works on a host. Every program lets
 * everything through.
 */
#include "include/vmlinux.h"
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "Dual BSD/GPL";

SEC("tp/sched/sched_process_exec")
int probe_tracepoint(void *ctx)
{
	return 0;
}

SEC("raw_tp/sched_process_fork")
int probe_raw_tp(void *ctx)
{
	return 0;
}

SEC("cgroup/connect4")
int probe_cgroup_sock_addr(struct bpf_sock_addr *ctx)
{
	return 1;
}

SEC("cgroup/sock_create")
int probe_cgroup_sock(struct bpf_sock *sk)
{
	return 1;
}

SEC("cgroup_skb/egress")
int probe_cgroup_skb(struct __sk_buff *skb)
{
	return 1;
}

SEC("kprobe/do_sys_openat2")
int probe_kprobe(void *ctx)
{
	return 0;
}

SEC("lsm/bprm_check_security")
int probe_lsm(void *ctx)
{
	return 0;
}
