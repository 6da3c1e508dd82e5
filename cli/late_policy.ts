/**
 * The policy the GitHub Action's main step hands to an agent its pre step
 * started (`ringfence start --late-policy FILE --late-policy-at PROGRAM`).
 *
 * The pre step starts the agent before the checkout, so that the checkout
 * is watched; a policy kept in the repository exists only after it. The
 * agent reads that file itself, once, when the main step's own process
 * starts: an exec of PROGRAM as a direct child of a scope root that was
 * running when the agent started (Runner.Worker), as the sudo guard's
 * release works. The main step needs no privilege for it (with
 * `disable-sudo` it has none), and the path is fixed at start, so no step
 * can point the agent elsewhere. Once taken, the hand-off is spent:
 * a later SIGHUP from a policed process stays refused.
 *
 * The agent keeps a copy of the text it read as `<state dir>/policy.yaml`
 * (a reload re-reads the copy, and the end of the job compares it with
 * its digest) and writes what happened to `<state dir>/policy-handoff.json`
 * for the main step, which fails the job when the policy was refused.
 *
 * @module
 */

import {
  isRunning,
  type ProcessIdentity,
  runningRoots,
} from "../agent/sudo.ts";
import type { ProcessTree } from "../agent/process_tree.ts";
import type { Policy } from "../policy/schema.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { log } from "./command.ts";
import { policyFrom } from "./policy_source.ts";
import { readPolicyText } from "../policy/source.ts";

/** What the agent tells the main step (`policy-handoff.json`). */
export type HandoffResult =
  | {
    status: "applied";
    /** The process whose start handed it over (the main step's). */
    pid: number;
    /** The file the main step named. */
    source: string;
    /** The copy the agent reloads from. */
    copy: string;
    sha256: string;
    mode: Policy["mode"];
  }
  | { status: "refused"; pid: number; source: string; error: string };

/** Where a late policy comes from and when it is taken. */
export interface LatePolicyOptions {
  /** The policy file (absolute). */
  path: string;
  /** The program whose start under a scope root hands it over. */
  at: string;
  /** The agent's state directory (for the copy and the result). */
  stateDir: string;
  /** The scope roots' names (`scope.processes`). */
  roots: readonly string[];
}

/** Files of a hand-off in the state directory. */
export function handoffFiles(stateDir: string): {
  copy: string;
  result: string;
} {
  return {
    copy: `${stateDir}/policy.yaml`,
    result: `${stateDir}/policy-handoff.json`,
  };
}

async function sha256Hex(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

/** A fresh file: a name a step left (a symlink) is not followed. */
function writeFresh(path: string, text: string): void {
  try {
    Deno.removeSync(path);
  } catch { /* absent */ }
  Deno.writeTextFileSync(path, text, { createNew: true, mode: 0o644 });
}

/** A one-shot hand-off of the policy (see the module's doc). */
export class LatePolicy {
  readonly #options: LatePolicyOptions;
  readonly #roots: ProcessIdentity[];
  #spent = false;
  #pid = 0;

  /** Records the scope roots running now: only their children count. */
  constructor(options: LatePolicyOptions) {
    this.#options = options;
    this.#roots = runningRoots(options.roots);
  }

  /**
   * Whether `event` is the main step's start: an exec of the program as
   * a direct child of a recorded root. True once at most.
   */
  triggeredBy(event: RingfenceEvent, tree: ProcessTree): boolean {
    if (this.#spent) return false;
    if (event.type !== "process_event" || event.kind !== "exec") return false;
    if (!event.argv?.includes(this.#options.at)) return false;
    const ppid = tree.get(event.pid)?.ppid;
    if (!this.#roots.some((root) => root.pid === ppid && isRunning(root))) {
      return false;
    }
    this.#spent = true;
    this.#pid = event.pid;
    return true;
  }

  /**
   * Reads and parses the file, puts it in force through `put` after
   * `withFlags`, keeps the copy and writes the result. Returns the copy
   * and its digest when applied.
   */
  async apply(
    withFlags: (policy: Policy) => Policy,
    put: (policy: Policy) => void,
  ): Promise<{ path: string; sha256: string } | undefined> {
    const { path, stateDir } = this.#options;
    const files = handoffFiles(stateDir);
    const refuse = (error: unknown) => {
      const message = (error as Error).message.split("\n")[0];
      log(
        `the policy handed over by the Action's main step is refused; the previous policy stays in force: ${message}`,
      );
      this.#write(files.result, {
        status: "refused",
        pid: this.#pid,
        source: path,
        error: message,
      });
      return undefined;
    };
    let text: string;
    let policy: Policy;
    try {
      text = await readPolicyText(path);
      policy = withFlags(await policyFrom(path, Promise.resolve(text)));
      put(policy);
    } catch (error) {
      return refuse(error);
    }
    const sha256 = await sha256Hex(text);
    try {
      writeFresh(files.copy, text);
    } catch (error) {
      log(
        `cannot keep a copy of the policy in ${files.copy}: ${
          (error as Error).message
        }`,
      );
    }
    this.#write(files.result, {
      status: "applied",
      pid: this.#pid,
      source: path,
      copy: files.copy,
      sha256,
      mode: policy.mode,
    });
    log(
      `policy from ${path} (sha256 ${
        sha256.slice(0, 16)
      }) put in force at the Action's main step (mode ${policy.mode})`,
    );
    return { path: files.copy, sha256 };
  }

  #write(path: string, result: HandoffResult): void {
    try {
      writeFresh(path, JSON.stringify(result) + "\n");
    } catch (error) {
      log(`cannot write ${path}: ${(error as Error).message}`);
    }
  }
}
