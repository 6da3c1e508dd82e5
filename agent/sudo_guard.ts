/**
 * `runner.sudo` while an agent runs: takes the rights away at start in
 * block mode (agent/sudo.ts), marks every exec of a privilege tool (sudo,
 * su, pkexec, doas, ...) by a policed process with whether sudo was
 * disabled at the time, and gives the rights back at stop.
 *
 * The GitHub Action's post step needs sudo to stop the agent. With
 * `releaseAt` the rights come back when that step's own process starts:
 * an exec of `releaseAt` as a direct child of a scope root that was
 * running when the rights were taken (Runner.Worker). A step cannot
 * make a process a child of that root, nor pass a later impostor root
 * for it (its pid and start time are recorded).
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import { privilegeTool } from "./sudoers.ts";
import { processStart } from "./procfs.ts";
import type { ProcessTree } from "./process_tree.ts";
import {
  giveBackSudo,
  isRunning,
  type ProcessIdentity,
  resolveSudoUser,
  restoredLine,
  runningRoots,
  type SudoPaths,
  type SudoTaken,
  takeSudo,
} from "./sudo.ts";

/** How a {@linkcode SudoGuard} starts. */
export interface SudoGuardOptions {
  /**
   * Path of the program (as exec'd) whose start as a direct child of a
   * scope root gives the rights back early (the Action's post step).
   */
  releaseAt?: string;
  /** Where sudo's configuration and the backups are (tests). */
  paths?: SudoPaths;
  /**
   * Take the rights away in audit mode too (`--disable-sudo`, the Action's
   * `disable-sudo`: an instruction, which a policy in audit mode does not
   * turn into a report).
   */
  enforce?: boolean;
}

/** The agent's hold on the runner user's sudo rights. */
export class SudoGuard {
  /**
   * What the exec events of privilege tools are marked with: `disabled`
   * while the rights are taken away, `audit` when block mode would have
   * taken them, undefined when sudo is allowed.
   */
  #mark: "disabled" | "audit" | undefined;
  readonly #user: string | undefined;
  readonly #paths: SudoPaths | undefined;
  readonly #releaseAt: string | undefined;
  readonly #roots: ProcessIdentity[];
  /** What starting said (the agent prints it before its armed line). */
  readonly line: string | undefined;
  /** What giving back said, once done. */
  released: string | undefined;

  private constructor(
    mark: "disabled" | "audit" | undefined,
    line: string | undefined,
    user?: string,
    options: SudoGuardOptions = {},
    roots: ProcessIdentity[] = [],
  ) {
    this.#mark = mark;
    this.line = line;
    this.#user = user;
    this.#paths = options.paths;
    this.#releaseAt = options.releaseAt;
    this.#roots = roots;
  }

  /**
   * Applies `policy.runner.sudo`: in block mode with `deny` (or with
   * `enforce`), takes the rights of the runner user away (throws, with
   * nothing changed, when that cannot be done); in audit mode, only marks.
   */
  static start(policy: Policy, options: SudoGuardOptions = {}): SudoGuard {
    if (policy.runner.sudo !== "deny") {
      return new SudoGuard(undefined, undefined);
    }
    const roots = policy.scope.processes;
    if (policy.mode !== "block" && !options.enforce) {
      let user: string;
      try {
        user = resolveSudoUser(policy.runner.user, roots);
      } catch {
        user = "the runner user";
      }
      return new SudoGuard(
        "audit",
        `sudo: deny in audit mode: ${user} keeps sudo; its uses are reported as block mode would refuse them`,
      );
    }
    const user = resolveSudoUser(policy.runner.user, roots);
    const taken = takeSudo(user, undefined, options.paths);
    return new SudoGuard(
      "disabled",
      takenLine(taken),
      user,
      options,
      runningRoots(roots),
    );
  }

  /** Whether the rights are taken away now. */
  get disabled(): boolean {
    return this.#mark === "disabled";
  }

  /**
   * Marks an exec of a privilege tool; gives the rights back when the
   * release program starts under a recorded scope root.
   */
  annotate(event: RingfenceEvent, tree: ProcessTree): void {
    if (event.type !== "process_event" || event.kind !== "exec") return;
    if (this.#mark && privilegeTool(event)) event.sudo = this.#mark;
    if (this.#mark === "disabled" && this.#isRelease(event, tree)) {
      this.release("the Action's post step has started");
    }
  }

  #isRelease(event: ProcessEvent, tree: ProcessTree): boolean {
    if (!this.#releaseAt || !event.argv?.includes(this.#releaseAt)) {
      return false;
    }
    const ppid = tree.get(event.pid)?.ppid;
    return this.#roots.some((root) =>
      root.pid === ppid && isRunning(root) &&
      processStart(root.pid) === root.start
    );
  }

  /** Gives the rights back (once); `why` ends the line it logs. */
  release(why?: string): string | undefined {
    if (this.#mark !== "disabled" || !this.#user) return undefined;
    this.#mark = undefined;
    const result = giveBackSudo(this.#user, this.#paths);
    this.released = result
      ? `${restoredLine(result, false)}${why ? `: ${why}` : ""}`
      : `sudo rights of ${this.#user}: nothing to give back`;
    console.error(`ringfence: ${this.released}`);
    return this.released;
  }
}

function takenLine(taken: SudoTaken): string {
  const moved = taken.moved.length
    ? `${taken.moved.join(", ")} moved to ${taken.backup}, `
    : "";
  const adopted = taken.adopted
    ? ` (adopted from the agent with pid ${taken.adopted.pid}, which had died)`
    : "";
  return `sudo disabled for user ${taken.user}: ${moved}${taken.dropIn} denies every command${adopted}`;
}
