/**
 * Process events for unit tests of what consumes them (the process tree,
 * the report): a running clock, so that each is later than the last.
 *
 * @module
 */

import type { ProcessEvent } from "../../sensors/process.ts";

let clock = 0;

/** A `process_event` of `kind` for `pid`, forked by `ppid`; `extra` wins. */
export function processEvent(
  kind: ProcessEvent["kind"],
  pid: number,
  ppid: number,
  extra: Partial<ProcessEvent> = {},
): ProcessEvent {
  return {
    type: "process_event",
    kind,
    time: `2026-01-01T00:00:00.${String(++clock).padStart(9, "0")}Z`,
    pid,
    tid: pid,
    ppid,
    uid: 0,
    gid: 0,
    comm: "sh",
    cgroup_id: 1,
    ...extra,
  };
}
