/**
 * What the agent does after the guard killed a caller (bpf/lib/guard.h).
 *
 * A PTRACE_ATTACH runs to its end even with the caller's SIGKILL pending:
 * the target is attached and sent SIGSTOP, and once its tracer is gone
 * that SIGSTOP leaves it stopped. The agent sends it SIGCONT, as the
 * record is read and once more shortly after, for an attach the record
 * overtook (it is sent at syscall entry).
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";

/** How long after the record the second SIGCONT goes out. */
const RESUME_AGAIN_MS = 50;

/** Resumes the target of a PTRACE_ATTACH whose caller the guard killed. */
export function resumeAttached(event: RingfenceEvent): void {
  if (
    event.type !== "process_event" || event.kind !== "memory_access" ||
    event.via !== "ptrace_attach" || !event.killed || !event.target ||
    event.target.role === "agent"
  ) {
    return;
  }
  resume(event.target.pid);
}

/** Sends SIGCONT now and once more shortly after. A function of its own:
 * the closure's context would otherwise be made for every event. */
function resume(pid: number): void {
  const cont = () => {
    try {
      Deno.kill(pid, "SIGCONT");
    } catch { /* gone */ }
  };
  cont();
  Deno.unrefTimer(setTimeout(cont, RESUME_AGAIN_MS));
}
