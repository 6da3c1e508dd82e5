/**
 * The report's list of privilege tools run by policed processes (sudo,
 * su, pkexec, doas, ...): each exec with its step, command line, whether
 * the runner user's sudo rights were taken away at the time
 * (`runner.sudo: deny`), and how it exited.
 *
 * @module
 */

import { privilegeTool } from "../agent/sudoers.ts";
import type { SudoAttemptEntry } from "./types.ts";

/** The fields of a process event the list reads. */
interface ExecOrExit {
  kind: string;
  pid: number;
  time: string;
  path?: string;
  argv?: string[];
  sudo?: string;
  exit_code?: number;
  signal?: number;
}

/** Collects privilege tool execs in the order they happened. */
export class SudoAttempts {
  readonly #entries: SudoAttemptEntry[] = [];
  /** pid → its attempt, until it exits. */
  readonly #running = new Map<number, SudoAttemptEntry>();
  readonly #max: number;
  #omitted = 0;

  /** At most `max` attempts are listed; the rest are counted. */
  constructor(max: number) {
    this.#max = max;
  }

  /** Adds a process event of `step`: an exec of a tool, or its exit. */
  add(event: ExecOrExit, step?: string): void {
    if (event.kind === "exit") {
      const entry = this.#running.get(event.pid);
      if (!entry) return;
      this.#running.delete(event.pid);
      if (event.signal) entry.signal = event.signal;
      else entry.exit = event.exit_code ?? 0;
      return;
    }
    if (event.kind !== "exec") return;
    this.#running.delete(event.pid); // the attempt has exec'd something else
    const tool = privilegeTool(event);
    if (!tool) return;
    if (this.#entries.length >= this.#max) {
      this.#omitted++;
      return;
    }
    const entry: SudoAttemptEntry = {
      tool,
      command: (event.argv?.length ? event.argv : [event.path ?? tool]).join(
        " ",
      ),
      sudo: event.sudo === "disabled" || event.sudo === "audit"
        ? event.sudo
        : "allowed",
      pid: event.pid,
      time: event.time,
    };
    if (step) entry.step = step;
    this.#entries.push(entry);
    this.#running.set(event.pid, entry);
  }

  /** The attempts, in order. */
  entries(): SudoAttemptEntry[] {
    return this.#entries;
  }

  /** Attempts not listed beyond the limit. */
  get omitted(): number {
    return this.#omitted;
  }
}

/**
 * One line on the attempts, e.g. "2 attempts to switch user: 2 while sudo
 * was disabled (2 failed)".
 */
export function sudoSummary(
  entries: readonly SudoAttemptEntry[],
  omitted = 0,
): string {
  const total = entries.length + omitted;
  const count = (state: string) =>
    entries.filter((entry) => entry.sudo === state);
  const parts: string[] = [];
  const disabled = count("disabled");
  if (disabled.length) {
    const failed = disabled.filter((entry) =>
      entry.signal || (entry.exit ?? 0) !== 0
    ).length;
    parts.push(
      `${disabled.length} while sudo was disabled (${failed} failed)`,
    );
  }
  const audit = count("audit").length;
  if (audit) parts.push(`${audit} that block mode would have refused`);
  const allowed = count("allowed").length;
  if (allowed) parts.push(`${allowed} with sudo allowed`);
  return `${total} ${total === 1 ? "attempt" : "attempts"} to switch user: ${
    parts.join(", ")
  }${omitted ? ` (${omitted} not listed)` : ""}`;
}
