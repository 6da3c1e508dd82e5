/**
 * The report's list of tampering by policed processes: reaching for
 * another process's memory, bpf() calls and signals to the agent (the
 * guard's `process_event`s of kind `memory_access`, `bpf`, `signal`).
 *
 * @module
 */

import type { GuardEvent } from "../sensors/guard_event.ts";
import type { GuardEntry } from "./types.ts";

/** What a guard event did, in words, e.g. "read /proc/PID/mem". */
export function describeGuard(event: GuardEvent): string {
  switch (event.kind) {
    case "bpf":
      return `bpf(${event.command ?? "?"})`;
    case "signal":
      return `sent ${event.signal ?? "a signal"}`;
    default:
      return VIA_TEXT[event.via ?? ""] ?? event.via ?? "memory access";
  }
}

const VIA_TEXT: Readonly<Record<string, string>> = {
  process_vm_readv: "process_vm_readv",
  process_vm_writev: "process_vm_writev",
  ptrace_attach: "ptrace attach",
  ptrace_seize: "ptrace seize",
  ptrace_traceme: "PTRACE_TRACEME under it",
  proc_mem: "opened /proc/PID/mem",
  proc_environ: "opened /proc/PID/environ",
};

/** Words for a guard event's target, e.g. "Runner.Worker (pid 12, root)". */
function describeTarget(event: GuardEvent): string | undefined {
  const target = event.target;
  if (!target) return undefined;
  const role = target.outside_scope ? "outside the scope" : target.role;
  return `${target.comm || "?"} (pid ${target.pid}, ${role})`;
}

/**
 * Whether a guard event is a SIGTERM to the agent: `ringfence stop`'s
 * request, which the guard reports but never kills for in either mode (a
 * step that stops the agent early is found by the agent's absence at the
 * job's end).
 */
export function isStopRequest(
  event: { type: string; kind: string; signal?: unknown; killed?: unknown },
): boolean {
  return event.type === "process_event" && event.kind === "signal" &&
    event.signal === "SIGTERM" && event.killed !== true;
}

/** Aggregates guard events by caller, what, target, step and action. */
export class GuardList {
  readonly #entries = new Map<string, GuardEntry>();
  readonly #max: number;
  #killed = 0;

  /** At most `max` entries are kept. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Callers killed so far. */
  get killed(): number {
    return this.#killed;
  }

  /** Adds one guard event of `process` in `step`. */
  add(event: GuardEvent, process: string, step?: string): void {
    if (event.killed) this.#killed++;
    const what = describeGuard(event);
    const target = describeTarget(event);
    const key = [event.kind, what, target, process, step, event.action].join(
      "\0",
    );
    const entry = this.#entries.get(key);
    if (entry) {
      entry.count++;
      return;
    }
    if (this.#entries.size >= this.#max) return;
    const fresh: GuardEntry = {
      kind: event.kind,
      what,
      process,
      pid: event.pid,
      action: event.action,
      count: 1,
    };
    if (target) fresh.target = target;
    if (step) fresh.step = step;
    this.#entries.set(key, fresh);
  }

  /** The entries: killed first, then in the order they came. */
  entries(): GuardEntry[] {
    return [...this.#entries.values()].sort((a, b) =>
      Number(b.action === "killed") - Number(a.action === "killed")
    );
  }
}

/**
 * The section's opening line, e.g. "2 memory accesses, 1 bpf() call:
 * 3 callers killed."
 */
export function guardSummary(entries: readonly GuardEntry[]): string {
  const counts = { memory_access: 0, bpf: 0, signal: 0 };
  let killed = 0;
  for (const entry of entries) {
    counts[entry.kind] += entry.count;
    if (entry.action === "killed") killed += entry.count;
  }
  const plural = (count: number, one: string, many: string) =>
    `${count} ${count === 1 ? one : many}`;
  const parts = [
    counts.memory_access &&
    plural(counts.memory_access, "memory access", "memory accesses"),
    counts.bpf && plural(counts.bpf, "bpf() call", "bpf() calls"),
    counts.signal &&
    plural(counts.signal, "signal to the agent", "signals to the agent"),
  ].filter(Boolean);
  return `${parts.join(", ")} by policed processes: ${
    killed ? `${plural(killed, "caller", "callers")} killed` : "none killed"
  }.`;
}
