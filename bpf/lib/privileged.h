/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The privileged network primitives sensor.network refuses to policed
 * processes, recognised from a syscall's number and arguments at
 * raw_tp/sys_enter: packet sockets, netfilter netlink sockets and TUN/TAP
 * attach. No cgroup hook sees them (cgroup/sock_create runs for AF_INET
 * and AF_INET6 only, from inet_create()), so they cannot be refused; the
 * caller is killed instead, and the signal lands as the call returns,
 * before the process runs another instruction. Raw inet sockets do reach
 * cgroup/sock_create and are refused there with EPERM.
 *
 * Both syscall ABIs of an x86-64 kernel are decoded: a 64-bit process may
 * enter through `int $0x80` (or be an ia32 binary), and then the numbers
 * and argument registers are those of i386.
 */
#ifndef RINGFENCE_PRIVILEGED_H
#define RINGFENCE_PRIVILEGED_H

#include "../network.h"
#include "privileged_numbers.h"

#if !defined(__TARGET_ARCH_x86)
#error "sensor.network: syscall numbers are known for x86-64 only"
#endif

/* include/uapi/linux/net.h: socketcall's call number for socket() */
#define SYS_SOCKET 1

/* arch/x86/include/asm/thread_info.h: a 32-bit syscall is running */
#define TS_COMPAT 0x0002

#define AF_INET 2
#define AF_NETLINK 16
#define AF_PACKET 17
#define SOCK_RAW 3
/* obsolete: socket(AF_INET, SOCK_PACKET, ...) makes an AF_PACKET socket */
#define SOCK_PACKET 10
/* include/linux/net.h: the type without SOCK_NONBLOCK and SOCK_CLOEXEC */
#define SOCK_TYPE_MASK 0xf
#define NETLINK_NETFILTER 12
/* include/uapi/linux/if_tun.h: _IOW('T', 202, int) */
#define TUNSETIFF 0x400454caU

/* The syscalls that may make a privileged primitive, by ABI. */
enum privileged_call {
	PRIV_CALL_NONE = 0,
	PRIV_CALL_SOCKET,
	PRIV_CALL_SOCKETCALL,
	PRIV_CALL_IOCTL,
};

/*
 * Which call id is, or PRIV_CALL_NONE; *compat tells the ABI it came by.
 * The number decides alone for most syscalls of the machine; the task's
 * ABI is read only for the numbers that mean one of these calls in
 * either ABI.
 */
static __always_inline int privileged_call(long id, bool *compat)
{
	struct task_struct *task;

	if (!privileged_number(id))
		return PRIV_CALL_NONE;
	task = bpf_get_current_task_btf();
	*compat = task->thread_info.status & TS_COMPAT;
	if (*compat) {
		if (id == NR32_socket)
			return PRIV_CALL_SOCKET;
		if (id == NR32_socketcall)
			return PRIV_CALL_SOCKETCALL;
		return id == NR32_ioctl ? PRIV_CALL_IOCTL : PRIV_CALL_NONE;
	}
	if (id == NR64_socket || id == (X32_SYSCALL_BIT | NR64_socket))
		return PRIV_CALL_SOCKET;
	return id == NR64_ioctl || id == NRX32_ioctl ? PRIV_CALL_IOCTL :
						      PRIV_CALL_NONE;
}

/* Argument n (0-based) of the running syscall, in the task's ABI. */
static __always_inline __u64 syscall_arg(struct pt_regs *regs, bool compat,
					 int n)
{
	if (compat) {
		/* i386: ebx, ecx, edx, esi, edi, ebp */
		switch (n) {
		case 0: return (__u32)BPF_CORE_READ(regs, bx);
		case 1: return (__u32)BPF_CORE_READ(regs, cx);
		default: return (__u32)BPF_CORE_READ(regs, dx);
		}
	}
	switch (n) {
	case 0: return BPF_CORE_READ(regs, di);
	case 1: return BPF_CORE_READ(regs, si);
	default: return BPF_CORE_READ(regs, dx);
	}
}

/* The privileged primitive a socket(family, type, protocol) makes. */
static __always_inline __u8 privileged_socket(__u32 family, __u32 type,
					      __u32 protocol)
{
	if (family == AF_PACKET)
		return REASON_PACKET_SOCKET;
	/* net/socket.c __sock_create() turns this one into AF_PACKET */
	if (family == AF_INET && (type & SOCK_TYPE_MASK) == SOCK_PACKET)
		return REASON_PACKET_SOCKET;
	if (family == AF_NETLINK && protocol == NETLINK_NETFILTER)
		return REASON_NETFILTER;
	return REASON_NONE;
}

/*
 * The privileged primitive the running syscall (call and compat, from
 * privileged_call()) asks for: an enum network_reason, REASON_NONE when
 * it asks for none.
 */
static __always_inline __u8 privileged_syscall(struct pt_regs *regs, int call,
						bool compat)
{
	__u32 args[3];

	switch (call) {
	case PRIV_CALL_IOCTL:
		return (__u32)syscall_arg(regs, compat, 1) == TUNSETIFF ?
			REASON_TUN : REASON_NONE;
	case PRIV_CALL_SOCKET:
		return privileged_socket(syscall_arg(regs, compat, 0),
					 syscall_arg(regs, compat, 1),
					 syscall_arg(regs, compat, 2));
	case PRIV_CALL_SOCKETCALL:
		if (syscall_arg(regs, compat, 0) != SYS_SOCKET)
			return REASON_NONE;
		/* i386 socketcall: the arguments are an array in user memory;
		 * one that cannot be read is judged the worst it could be */
		if (bpf_probe_read_user(args, sizeof(args),
					(void *)syscall_arg(regs, compat, 1)))
			return REASON_PACKET_SOCKET;
		return privileged_socket(args[0], args[1], args[2]);
	default:
		return REASON_NONE;
	}
}

#endif /* RINGFENCE_PRIVILEGED_H */
