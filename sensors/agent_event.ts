/**
 * Events the agent makes itself, not read from a sensor's ring: what it
 * found wrong with its own kernel state (and repaired), what it adopted
 * from a dead agent's pins, and what it recovered from them.
 *
 * @module
 */

import type { BaseEvent } from "./event.ts";

/** What an integrity check found changed in the agent's kernel state. */
export type TamperWhat = "link_detached" | "map_changed" | "scope_removed";

/**
 * `{"type":"agent"}`: an event of the agent about itself. The header
 * fields (`pid`, `comm`, ...) are the agent's own process.
 */
export interface AgentEvent extends BaseEvent {
  /** Always "agent". */
  type: "agent";
  /**
   * `tamper`: a link of the agent was detached, a config map rewritten or
   * a scope entry removed by someone else (`what`, `name`, `repaired`);
   * `adopted`: this agent took over the pins of a dead one
   * (`instance`, `previous_pid`, `pending_records`); `recovered`: records,
   * counters and signals read from a dead agent's pins (`instance`,
   * `previous_pid`, `drained_records`, `refused`, `killed`).
   */
  kind: "tamper" | "adopted" | "recovered";
  /**
   * Never set: an agent event is no verdict of the policy. Declared so
   * that code reading `verdict` of any event needs no narrowing.
   */
  verdict?: undefined;
  /** tamper: what was found. */
  what?: TamperWhat;
  /** tamper: which link (`<sensor>/<program>`), map or scope pid. */
  name?: string;
  /** tamper: whether the agent put it back. */
  repaired?: boolean;
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

/** An agent event from this process, at this moment. */
export function agentEvent(
  kind: AgentEvent["kind"],
  fields: Partial<AgentEvent> = {},
): AgentEvent {
  return {
    type: "agent",
    kind,
    time: new Date().toISOString(),
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
