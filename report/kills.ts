/**
 * The report's "Processes killed" section: every process the agent or the
 * kernel killed, and in audit mode every process block mode would have
 * killed, whatever it was killed for: a connection (`network.action:
 * kill`) or a privileged primitive, a program in `process.deny`, a
 * protected file written (`files.action: kill`), tampering (memory access,
 * bpf(), signals to the agent), a full scope map, an install script.
 *
 * Any event with `killed: true` (or `action: "killed"`) is a kill; an
 * event with verdict `audit` is a would-be kill when block mode kills for
 * it. Whether it does for a network or file event depends on the policy's
 * action (the report header's `kills`); without a header only the kinds
 * block mode always kills for count. One entry per process: block mode
 * kills it at its first offence.
 *
 * @module
 */

import type { KilledEntry, ReportHeader } from "./types.ts";
import { isStopRequest } from "./guard.ts";

/** An event as the kill list reads it. */
export interface KillableEvent {
  type: string;
  kind: string;
  pid: number;
  time: string;
  verdict?: unknown;
  killed?: unknown;
  action?: unknown;
  reason?: unknown;
  rule?: unknown;
}

/** Which policy action decides whether an audit event is a would-be kill. */
type Condition = "network" | "files" | "process" | "installScripts" | "always";

interface Candidate {
  entry: KilledEntry;
  condition: Condition;
  /** The process (its report tree node): one entry per process. */
  owner: object;
}

/** Guard kinds: tampering with the agent or other processes' memory. */
const GUARD_KINDS = new Set(["memory_access", "bpf", "signal"]);

/** Privileged primitives block mode kills for (a raw socket is refused). */
const KILLING_PRIMITIVES = new Set(["packet_socket", "netfilter", "tun"]);

/**
 * What block mode's kill hangs on for an audit event, or undefined when
 * block mode would not kill for it.
 */
/**
 * Whether an event can be a kill or would-be kill at all: killed, or
 * judged in audit. Most events are neither, and need no entry made.
 */
export function mayBeKill(event: KillableEvent): boolean {
  return event.killed === true || event.action === "killed" ||
    event.verdict === "audit" || event.action === "audit";
}

function auditCondition(event: KillableEvent): Condition | undefined {
  if (event.action === "kill") return "always";
  const reason = String(event.reason);
  // dependencies.install_scripts: a file violation always kills (a read
  // cannot be refused), a connection when its action is kill.
  if (reason.startsWith("dependencies.install_scripts")) return "always";
  if (reason === "install_script") return "installScripts";
  if (event.type === "process_event") {
    if (event.kind === "exec" && typeof event.rule === "string") {
      return "process";
    }
    if (isStopRequest(event)) return undefined;
    if (GUARD_KINDS.has(event.kind) || event.kind === "untracked") {
      return "always";
    }
    return undefined;
  }
  if (event.type === "network_event") {
    if (event.kind === "socket") {
      return KILLING_PRIMITIVES.has(reason) ? "always" : undefined;
    }
    return event.kind === "listen" || event.kind === "bind"
      ? undefined
      : "network";
  }
  if (event.type === "file_system_event") {
    return reason.startsWith("files.protect") ? "files" : undefined;
  }
  return undefined;
}

/** Kills and would-be kills, one per process, in the order they came. */
export class KillList {
  readonly #candidates: Candidate[] = [];
  readonly #owners = new WeakMap<object, Set<Condition | "killed">>();
  readonly #max: number;

  /** At most `max` entries are kept. */
  constructor(max: number) {
    this.#max = max;
  }

  /**
   * Takes one event of the process `owner` (its tree node); `why` says
   * what it was (would be) killed for. Returns whether the event is a
   * kill or a possible would-be kill.
   */
  add(
    event: KillableEvent,
    owner: object,
    fields: Omit<KilledEntry, "pid" | "action" | "time">,
  ): boolean {
    if (!mayBeKill(event)) return false;
    const killed = event.killed === true || event.action === "killed";
    const condition = killed
      ? "killed"
      : event.verdict === "audit" || event.action === "audit"
      ? auditCondition(event)
      : undefined;
    if (!condition) return false;
    let seen = this.#owners.get(owner);
    if (!seen) this.#owners.set(owner, seen = new Set());
    // Once per process: block mode's first kill ends it.
    if (seen.has("killed") || seen.has(condition)) return true;
    seen.add(condition);
    if (this.#candidates.length >= this.#max) return true;
    const entry: KilledEntry = {
      pid: event.pid,
      process: fields.process,
      ...(fields.step ? { step: fields.step } : {}),
      ...(fields.package ? { package: fields.package } : {}),
      action: killed ? "killed" : "audit",
      why: fields.why,
      ...(fields.destination ? { destination: fields.destination } : {}),
      time: event.time,
    };
    this.#candidates.push({
      entry,
      condition: condition === "killed" ? "always" : condition,
      owner,
    });
    return true;
  }

  /**
   * The kills, then the would-be kills the header's actions make so (all
   * those of kinds block mode always kills for when there is no header),
   * one per process.
   */
  list(header?: ReportHeader): KilledEntry[] {
    const kills = header?.kills;
    const applies = (condition: Condition) =>
      condition === "always" ||
      (condition === "process" ? kills?.process ?? true : !!kills?.[condition]);
    // A process killed is not also one that would be.
    const killed = new Set(
      this.#candidates.filter(({ entry }) => entry.action === "killed")
        .map(({ owner }) => owner),
    );
    const listed = new Set<object>();
    const entries: KilledEntry[] = [];
    for (const { entry, condition, owner } of this.#candidates) {
      if (
        entry.action === "audit" &&
        (!applies(condition) || killed.has(owner))
      ) continue;
      if (listed.has(owner)) continue;
      listed.add(owner);
      entries.push(entry);
    }
    return [
      ...entries.filter((entry) => entry.action === "killed"),
      ...entries.filter((entry) => entry.action !== "killed"),
    ];
  }
}
