/**
 * The syscall chains (bpf/lib/syscall_chain.h): sensor.process attaches the
 * agent's one program on raw_tp/sys_enter and its one on raw_tp/sys_exit;
 * the other sensors' per-syscall programs sit in slots of two prog arrays,
 * which sensor.process owns and shares like the scope maps, and run by
 * tail call, each after the slots before its own.
 *
 * @module
 */

import type { MapLayout } from "./layout.ts";

/** The prog arrays, by map name. */
export const SYSCALL_CHAIN_MAPS = {
  syscall_enter_chain: { key: "u32", value: "u32" },
  syscall_exit_chain: { key: "u32", value: "u32" },
} as const satisfies Record<string, MapLayout>;

/** A chain's map name. */
export type SyscallChain = keyof typeof SYSCALL_CHAIN_MAPS;

/** The chains' map names. */
export const SYSCALL_CHAINS = Object.keys(
  SYSCALL_CHAIN_MAPS,
) as readonly SyscallChain[];

/** `enum syscall_enter_slot`: the slots of `syscall_enter_chain`. */
export const SyscallEnterSlot = {
  network: 0,
  fileSystem: 1,
} as const;

/** `enum syscall_exit_slot`: the slots of `syscall_exit_chain`. */
export const SyscallExitSlot = {
  fileSystem: 0,
} as const;

/** A program of a sensor in a slot of a chain. */
export interface ChainLink {
  /** The chain's map. */
  chain: SyscallChain;
  /** The slot. */
  slot: number;
  /** The program's function name. */
  program: string;
  /** The program's id: what the slot reads back while it holds it. */
  id: number;
}
