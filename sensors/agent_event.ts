/**
 * Events the agent makes itself, not read from a sensor's ring: what it
 * found changed behind its back (`kind: "tamper"`) and whether it put it
 * back, what it adopted from a dead agent's pins, and what it recovered
 * from them. The process fields are the agent's own.
 *
 * @module
 */

import type { BaseEvent } from "./event.ts";

/**
 * What was found changed: a link of the agent detached, a slot of a
 * syscall chain emptied or given another program, a config map
 * rewritten, a scope entry removed (the integrity check), or a guarded
 * sysctl rewritten (`core_pattern`, `modprobe`).
 */
export type TamperWhat =
  | "link_detached"
  | "chain_changed"
  | "map_changed"
  | "scope_removed"
  | "core_pattern"
  | "modprobe";

/**
 * What was found wrong with a protected file (agent/file_findings.ts):
 * the `finding` of a `{"type":"agent","kind":"file"}` event.
 */
export interface ProtectedFileFinding {
  /** The protected path, as the policy names it. */
  path: string;
  /** `changed`, `removed`, `mounted_over`, `bind_mounted`, `hard_linked`
   * or `held_open`. */
  kind: string;
  /** When the agent found it (ISO 8601). */
  time: string;
  /** The process that did it, when known. */
  pid?: number;
  /** Its executable or command name, when known. */
  exe?: string;
  /** Its step, when known. */
  step?: string;
  /** The other path: mount point, new link name, source. */
  other_path?: string;
  /** Whether the agent put it right. */
  repaired: boolean;
  /** A phrase for the report. */
  detail?: string;
}

/**
 * `{"type":"agent"}`: an event of the agent about itself. The header
 * fields (`pid`, `comm`, ...) are the agent's own process.
 */
export interface AgentEvent extends BaseEvent {
  /** Always "agent". */
  type: "agent";
  /**
   * `tamper`: something the agent guards was changed (`what`, `name`,
   * `before`, `after`, `repaired`); `adopted`: this agent took over the
   * pins of a dead one (`instance`, `previous_pid`, `pending_records`);
   * `recovered`: records, counters and signals read from a dead agent's
   * pins (`instance`, `previous_pid`, `drained_records`, `refused`,
   * `killed`); `file`: something wrong with a protected file
   * (`finding`); `source`: a checked-out file found gone or replaced when
   * the agent stopped, which no event had named as changed (`path`,
   * `change`, `checked_out_by`).
   */
  kind: "tamper" | "adopted" | "recovered" | "file" | "source";
  /**
   * Never set: an agent event is no verdict of the policy. Declared so
   * that code reading `verdict` of any event needs no narrowing.
   */
  verdict?: undefined;
  /** tamper: what was found. */
  what?: TamperWhat;
  /** tamper: which link (`<sensor>/<program>`), map or scope pid. */
  name?: string;
  /** tamper: the value the agent kept (a sysctl's at the agent's start). */
  before?: string;
  /** tamper: the value it found. */
  after?: string;
  /** tamper: whether the agent put it back. */
  repaired?: boolean;
  /** tamper: why a repair failed, or other detail. */
  detail?: string;
  /** source: the checked-out file. */
  path?: string;
  /** source: `unlink` (gone) or `rename` (another file in its place). */
  change?: "unlink" | "rename";
  /** source: the checkout that wrote it. */
  checked_out_by?: string;
  /** file: what was found, by whom, and whether it was put right. */
  finding?: ProtectedFileFinding;
  /** adopted, recovered: the pin instance (`start-…`, `run-<pid>`). */
  instance?: string;
  /** adopted, recovered: the pid of the agent whose pins they were. */
  previous_pid?: number;
  /** adopted: records the dead agent's rings held, delivered next. */
  pending_records?: number;
  /** recovered: records drained from the pinned rings. */
  drained_records?: number;
  /** recovered, adopted: actions the kernel refused while no agent ran. */
  refused?: number;
  /** recovered, adopted: processes the kernel killed while no agent ran. */
  killed?: number;
}

/**
 * How reports name the process behind a `source` event's change: none
 * is known.
 */
export const SOURCE_FOUND_AT_STOP = "(unknown: found when the agent stopped)";

/**
 * The header fields of an event the agent makes itself: this process's,
 * with no cgroup, at `time`.
 */
export function agentHeader(
  time: string,
): Omit<BaseEvent, "type" | "kind"> {
  return {
    time,
    pid: Deno.pid,
    tid: Deno.pid,
    ppid: Deno.ppid,
    uid: Deno.uid() ?? 0,
    gid: Deno.gid() ?? 0,
    comm: "ringfence",
    cgroup_id: 0,
  };
}

/** An agent event from this process, at `time` (now by default). */
export function agentEvent(
  kind: AgentEvent["kind"],
  fields: Partial<AgentEvent> = {},
  time: string = new Date().toISOString(),
): AgentEvent {
  return { type: "agent", kind, ...agentHeader(time), ...fields };
}

/** A tamper event from this process, at `time`. */
export function tamperEvent(
  fields: Pick<
    AgentEvent,
    "what" | "name" | "before" | "after" | "repaired" | "detail"
  >,
  time?: string,
): AgentEvent {
  return agentEvent("tamper", fields, time);
}
