/**
 * Events the agent makes itself rather than decodes from a sensor: what it
 * found changed behind its back (`kind: "tamper"`), and whether it put it
 * back. The process fields are the agent's own; `what` names the target.
 *
 * @module
 */

import type { BaseEvent } from "./event.ts";

/** `{"type":"agent","kind":"tamper",...}`. */
export interface AgentEvent extends BaseEvent {
  /** Always "agent". */
  type: "agent";
  /** "tamper": something the agent guards was changed. */
  kind: "tamper";
  /** What was changed, e.g. `core_pattern`, `modprobe`. */
  what: string;
  /** The value the agent kept (for a sysctl: the one at its start). */
  before?: string;
  /** The value it found. */
  after?: string;
  /** Whether the agent put `before` back. */
  repaired?: boolean;
  /** Why a repair failed, or other detail. */
  detail?: string;
  /** None: the agent judges no action of a process here. */
  verdict?: undefined;
}

/** A tamper event from this process, at `time`. */
export function tamperEvent(
  fields: Pick<AgentEvent, "what" | "before" | "after" | "repaired" | "detail">,
  time: string = new Date().toISOString(),
): AgentEvent {
  return {
    type: "agent",
    kind: "tamper",
    time,
    pid: Deno.pid,
    tid: Deno.pid,
    ppid: Deno.ppid,
    uid: Deno.uid() ?? 0,
    gid: Deno.gid() ?? 0,
    comm: "ringfence",
    cgroup_id: 0,
    ...fields,
  };
}
