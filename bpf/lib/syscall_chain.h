/* SPDX-License-Identifier: (LGPL-2.1 OR BSD-2-Clause) */
/*
 * One program on raw_tp/sys_enter and one on raw_tp/sys_exit for all the
 * sensors: every raw tracepoint program costs every syscall of the machine
 * its dispatch, whatever it does. sensor.process, always loaded first,
 * attaches its two per-syscall programs; they end by tail-calling the
 * other sensors' per-syscall programs, which sit in these prog arrays and
 * are never attached. Each member of a chain ends with tail calls to the
 * slots after its own, in order: a failed bpf_tail_call (an empty slot: a
 * sensor not loaded) falls through to the next slot.
 *
 * The loader creates the maps once (in sensor.process) and hands the same
 * fds to the other sensors before they load (bpf_map__reuse_fd), like the
 * scope maps; it fills the slots after load. A program's own work must not
 * return early past its tail calls: it runs in a function of its own, and
 * the program tail-calls after it.
 *
 * The dispatcher tail-calls only for a number some member follows
 * (chain_enter_follows(), chain_exit_follows()): a member's first test of
 * the number belongs there, or the member never sees that syscall.
 */
#ifndef RINGFENCE_SYSCALL_CHAIN_H
#define RINGFENCE_SYSCALL_CHAIN_H

#include "event.h"
#include "fs_syscalls.h"
#include "privileged_numbers.h"

/* Slots of syscall_enter_chain, in the order the programs run. */
enum syscall_enter_slot {
	CHAIN_ENTER_NETWORK = 0,
	CHAIN_ENTER_FILE_SYSTEM = 1,
	CHAIN_ENTER_SLOTS = 2,
};
BTF_KEEP_ENUM(syscall_enter_slot);

/* Slots of syscall_exit_chain. */
enum syscall_exit_slot {
	CHAIN_EXIT_FILE_SYSTEM = 0,
	CHAIN_EXIT_SLOTS = 1,
};
BTF_KEEP_ENUM(syscall_exit_slot);

/* Where the dispatcher (sensor.process) stands: before every slot. */
#define CHAIN_DISPATCHER -1

/* Whether sensor.file-system's sys_exit has anything to do for a call. */
static __always_inline bool fs_exit_call(int call)
{
	/* the writes are judged at sys_enter alone */
	return call != FS_CALL_NONE && call != FS_CALL_WRITE && call != FS_CALL_WRITE_ARG2;
}

/*
 * Whether a member of the sys_exit chain follows syscall number id, in
 * either ABI: sensor.file-system's own tests of the number
 * (lib/fs_syscalls.h), which its sys_exit makes first and returns on. The
 * dispatcher asks it before the tail call, so that the machine's other
 * syscalls (most of them: futex, epoll, read, stat, and the writes) end
 * the chain there.
 */
static __always_inline bool chain_exit_follows(long id)
{
	return fs_exit_call(fs_call64(id)) || fs_exit_call(fs_call32(id));
}

/*
 * The same for the sys_enter chain: sensor.file-system's numbers and
 * sensor.network's (lib/privileged_numbers.h), each the test its
 * sys_enter makes first.
 */
static __always_inline bool chain_enter_follows(long id)
{
	return fs_call64(id) != FS_CALL_NONE || fs_call32(id) != FS_CALL_NONE ||
	       privileged_number(id);
}

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, CHAIN_ENTER_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} syscall_enter_chain SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, CHAIN_EXIT_SLOTS);
	__type(key, __u32);
	__type(value, __u32);
} syscall_exit_chain SEC(".maps");

/*
 * The dispatcher's answer to chain_*_follows(), taken before its own
 * checks: they test the number against constants, and a number the
 * verifier knows is one of them, still needed at the end, keeps each such
 * path apart from the others through the rest of the program. Asked
 * first, only the answer lives on, and the paths meet again.
 */
static __always_inline bool chain_decided(bool follows)
{
	asm volatile("" : "+r"(follows));
	return follows;
}

/*
 * Runs the first member of the sys_enter chain after slot `self` (a
 * constant): a tail call that succeeds does not return. Constant slots let
 * the JIT patch each call into a direct jump.
 */
static __always_inline void chain_enter_next(void *ctx, const int self)
{
	if (self < CHAIN_ENTER_NETWORK)
		bpf_tail_call_static(ctx, &syscall_enter_chain, CHAIN_ENTER_NETWORK);
	if (self < CHAIN_ENTER_FILE_SYSTEM)
		bpf_tail_call_static(ctx, &syscall_enter_chain, CHAIN_ENTER_FILE_SYSTEM);
}

/* The same for the sys_exit chain. */
static __always_inline void chain_exit_next(void *ctx, const int self)
{
	if (self < CHAIN_EXIT_FILE_SYSTEM)
		bpf_tail_call_static(ctx, &syscall_exit_chain, CHAIN_EXIT_FILE_SYSTEM);
}

#endif
