/**
 * Keeps the sysctls that make the kernel run a program as root, outside
 * any scope, at the values they had when the agent started:
 * `kernel.core_pattern` (a `|/path` pattern runs that program, a child of
 * the kernel, on every crash) and `kernel.modprobe` (run to load a module).
 * A program the kernel starts is nobody's descendant, so the scope never
 * covers it: the write itself has to be stopped (sensor.file-system, when
 * loaded, kills the writer as its open returns) or undone, which is what
 * this does every second, reporting a tamper event each time.
 *
 * @module
 */

import {
  type AgentEvent,
  tamperEvent,
  type TamperWhat,
} from "../sensors/agent_event.ts";

/** The sysctls guarded, by the name events give them. */
export const GUARDED_SYSCTLS: Readonly<Record<string, string>> = {
  core_pattern: "/proc/sys/kernel/core_pattern",
  modprobe: "/proc/sys/kernel/modprobe",
};

function read(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).replace(/\n$/, "");
  } catch {
    return undefined;
  }
}

/** Watches the guarded sysctls and puts back what changed. */
export class SysctlGuard {
  readonly #files: Map<string, string>;
  readonly #atStart = new Map<string, string>();
  readonly #report: (event: AgentEvent) => void;
  readonly #repair: () => boolean;
  #timer: ReturnType<typeof setInterval> | undefined;

  /**
   * Reads the values to keep (sysctls this kernel lacks are left out).
   * @param report receives a tamper event for each change found.
   * @param repair whether to put a changed value back (block mode); asked
   *   at each change, as the policy may change.
   * @param files name → path; the guarded sysctls by default.
   */
  constructor(
    report: (event: AgentEvent) => void,
    repair: () => boolean,
    files: Readonly<Record<string, string>> = GUARDED_SYSCTLS,
  ) {
    this.#report = report;
    this.#repair = repair;
    this.#files = new Map(Object.entries(files));
    for (const [name, path] of this.#files) {
      const value = read(path);
      if (value !== undefined) this.#atStart.set(name, value);
    }
  }

  /** The values kept, by name. */
  get values(): ReadonlyMap<string, string> {
    return this.#atStart;
  }

  /** Checks every `intervalMs` until {@linkcode SysctlGuard.stop}. */
  start(intervalMs = 1000): void {
    if (this.#timer !== undefined) return;
    this.#timer = setInterval(() => this.check(), intervalMs);
    Deno.unrefTimer(this.#timer);
  }

  /** One last check, then no more. */
  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    this.check();
  }

  /** Compares each sysctl with its value at the start; returns the changes. */
  check(): number {
    let changes = 0;
    for (const [name, before] of this.#atStart) {
      const path = this.#files.get(name)!;
      const after = read(path);
      if (after === undefined || after === before) continue;
      changes++;
      let detail: string | undefined;
      if (!this.#repair()) detail = "audit mode: left as found";
      else {
        try {
          // The kernel takes the value up to the newline.
          Deno.writeTextFileSync(path, before + "\n");
        } catch (error) {
          detail = (error as Error).message;
        }
      }
      const repaired = detail === undefined && read(path) === before;
      this.#report(tamperEvent({
        what: name as TamperWhat,
        before,
        after,
        repaired,
        ...(detail ? { detail } : {}),
      }));
    }
    return changes;
  }
}
