/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * The syscall numbers that may make one of sensor.network's privileged
 * primitives (lib/privileged.h), in every x86 ABI, apart from what they
 * make: the sys_enter chain's dispatcher (lib/syscall_chain.h) asks them
 * too, to leave the machine's other syscalls out of the chain.
 */
#ifndef RINGFENCE_PRIVILEGED_NUMBERS_H
#define RINGFENCE_PRIVILEGED_NUMBERS_H

#if !defined(__TARGET_ARCH_x86)
#error "sensor.network: syscall numbers are known for x86-64 only"
#endif

/* arch/x86/entry/syscalls/syscall_64.tbl */
#define NR64_ioctl 16
#define NR64_socket 41
/* the x32 ABI: 64-bit numbers with this bit, its ioctl at 514 */
#define X32_SYSCALL_BIT 0x40000000
#define NRX32_ioctl (X32_SYSCALL_BIT | 514)
/* arch/x86/entry/syscalls/syscall_32.tbl */
#define NR32_ioctl 54
#define NR32_socketcall 102
#define NR32_socket 359

/* Whether id means socket(), socketcall() or ioctl() in some ABI. */
static __always_inline bool privileged_number(long id)
{
	switch (id) {
	case NR64_ioctl: case NR64_socket: case NR32_ioctl:
	case NR32_socketcall: case NR32_socket:
	case X32_SYSCALL_BIT | NR64_socket: case NRX32_ioctl:
		return true;
	}
	return false;
}

#endif /* RINGFENCE_PRIVILEGED_NUMBERS_H */
