/**
 * The report's list of privileged network primitives (raw and packet
 * sockets, netfilter netlink sockets, TUN/TAP attach) that monitored
 * processes asked for: `network_event`s of kind `socket`.
 *
 * @module
 */

import type { PrivilegedEntry } from "./types.ts";

/** What a socket event's reason names, in words. */
const PRIMITIVES: Readonly<Record<string, string>> = {
  raw_socket: "raw socket",
  packet_socket: "packet socket",
  netfilter: "netfilter socket",
  tun: "TUN/TAP attach",
};

/** The fields of a socket event the list reads. */
export interface SocketEvent {
  reason: string;
  protocol: string;
  verdict: string;
  killed?: boolean;
}

/** Words for the primitive a socket event asked for, e.g. "raw socket (udp)". */
export function describePrimitive(event: SocketEvent): string {
  const words = PRIMITIVES[event.reason];
  if (words === undefined) {
    // exempt_root: the reason is the verdict's, the protocol says what
    return `${event.protocol} socket`;
  }
  return event.reason === "raw_socket" ? `${words} (${event.protocol})` : words;
}

/** Aggregates socket events by primitive, process, step and verdict. */
export class PrivilegedList {
  readonly #entries = new Map<string, PrivilegedEntry>();
  readonly #max: number;

  /** At most `max` entries are kept. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Adds one socket event of `process` in `step`. */
  add(event: SocketEvent, process: string, step?: string): void {
    const primitive = describePrimitive(event);
    const key = [primitive, process, step, event.verdict, event.reason].join(
      "\0",
    );
    const entry = this.#entries.get(key);
    if (entry) {
      entry.count++;
      if (event.killed) entry.killed = true;
      return;
    }
    if (this.#entries.size >= this.#max) return;
    const fresh: PrivilegedEntry = {
      primitive,
      process,
      verdict: event.verdict,
      reason: event.reason,
      count: 1,
    };
    if (step) fresh.step = step;
    if (event.killed) fresh.killed = true;
    this.#entries.set(key, fresh);
  }

  /** The entries: denied first, then would-be-denied, then allowed. */
  entries(): PrivilegedEntry[] {
    const order: Record<string, number> = { deny: 0, audit: 1, allow: 2 };
    return [...this.#entries.values()].sort((a, b) =>
      (order[a.verdict] ?? 3) - (order[b.verdict] ?? 3) ||
      a.primitive.localeCompare(b.primitive) ||
      a.process.localeCompare(b.process)
    );
  }
}
