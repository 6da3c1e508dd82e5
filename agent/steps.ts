/**
 * Step attribution: which CI step an event belongs to.
 *
 * - GitHub Actions: the first process below the scope root, on the way down
 *   to the event's process, whose environment (`/proc/<pid>/environ`) has
 *   `GITHUB_ACTION`; the step is named by it, with
 *   `GITHUB_ACTION_REPOSITORY` when set (uses: steps).
 * - GitLab CI: likewise with `CI_JOB_NAME`.
 * - Otherwise: the top-level command under the scope root, named by its
 *   command line.
 * - A container's processes, and the container runtime's own events: the
 *   step that ran the container command (agent/container_steps.ts).
 *
 * Environments are read once per process image (cached on the process
 * tree's node, so pid reuse is harmless) and only on the path below a root.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import {
  closeFd,
  cString,
  libc,
  O_CLOEXEC,
  O_RDONLY,
} from "../sensors/libc.ts";
import { ContainerSteps } from "./container_steps.ts";
import type { ProcessNode, ProcessTree } from "./process_tree.ts";

/** The step an event belongs to, as the `step` field of events. */
export interface Step {
  /** GITHUB_ACTION, CI_JOB_NAME, or the top-level command line. */
  name: string;
  /** The step's process. */
  pid: number;
  /** GITHUB_ACTION_REPOSITORY of a `uses:` step, e.g. "actions/checkout". */
  action?: string;
  /** Which CI recognised it: "github", "gitlab", or "command". */
  ci: "github" | "gitlab" | "command";
}

/**
 * Reads the variables `names` of a process's environment (those it has);
 * undefined when it cannot.
 */
export type EnvironReader = (
  pid: number,
  names: readonly string[],
) => Map<string, string> | undefined;

/** The variables a CI step is told by (ciStep). */
const CI_VARIABLES = [
  "GITHUB_ACTION",
  "GITHUB_ACTION_REPOSITORY",
  "CI_JOB_NAME",
] as const;

/** How long a step name built from argv may be. */
const MAX_NAME = 120;
/** How deep below the root an environment is looked for. */
const MAX_DEPTH = 4;
/**
 * Environment reads allowed per second (and in a burst). A CI runner
 * starts a few step processes per job, far below it; a root that runs
 * thousands of short commands (a shell loop, `make`) would otherwise cost
 * one read per command, and each read takes the target's memory lock
 * while it execs. Beyond it a process gets its command as its step until
 * a later event finds the budget back.
 */
export const ENVIRON_READS_PER_SECOND = 50;

/** The most of an environment read: the kernel caps it near this too. */
const MAX_ENVIRON = 4 << 20;
let environBuffer = new Uint8Array(16_384);
const environDecoder = new TextDecoder();

/**
 * Reads /proc/<pid>/environ (NUL-separated NAME=value). Through libc's
 * open(2) rather than `Deno.readFileSync`: under an exec burst most
 * processes asked about are gone by the time their event is read, and the
 * NotFound error Deno builds for each costs many times the read itself.
 */
export function readEnviron(
  pid: number,
  names: readonly string[],
): Map<string, string> | undefined {
  const fd = libc().open(
    cString(`/proc/${pid}/environ`),
    O_RDONLY | O_CLOEXEC,
  );
  if (fd < 0) return undefined;
  let length = 0;
  try {
    while (length < MAX_ENVIRON) {
      if (length === environBuffer.length) {
        const bigger = new Uint8Array(environBuffer.length * 2);
        bigger.set(environBuffer);
        environBuffer = bigger;
      }
      const got = Number(
        libc().read(
          fd,
          environBuffer.subarray(length),
          BigInt(environBuffer.length - length),
        ),
      );
      if (got < 0) return undefined;
      if (got === 0) break;
      length += got;
    }
  } finally {
    closeFd(fd);
  }
  if (length === 0) return undefined; // a zombie or a kernel thread
  const env = new Map<string, string>();
  const text = environDecoder.decode(environBuffer.subarray(0, length));
  // A runner's environment holds a hundred variables or more: find the
  // few asked for rather than split them all.
  for (const name of names) {
    const value = variable(text, name);
    if (value !== undefined) env.set(name, value);
  }
  return env;
}

/**
 * The value of `name` in NUL-separated NAME=value text; the last one when
 * it is there twice.
 */
function variable(text: string, name: string): string | undefined {
  const tail = `\0${name}=`;
  const at = text.lastIndexOf(tail);
  let start: number;
  if (at >= 0) start = at + tail.length;
  else if (text.startsWith(`${name}=`)) start = name.length + 1;
  else return undefined;
  const end = text.indexOf("\0", start);
  return text.slice(start, end < 0 ? text.length : end);
}

/**
 * What is known of one process's step, for its current exec: its argv
 * (compared by identity: every exec gives the node a new array), path and
 * comm. The Step objects are made once and shared by its events, so that a
 * storm of events costs no allocation here.
 */
interface Cached {
  argv: string[] | undefined;
  path: string | undefined;
  comm: string;
  /** The CI step its environment names (null: none), once read. */
  ci?: Step | null;
  /** Its command line as a step. */
  command?: Step;
}

/** Finds and caches the step of each process. */
export class StepTracker {
  readonly #tree: ProcessTree;
  readonly #isRoot: (node: ProcessNode) => boolean;
  readonly #read: EnvironReader;
  /**
   * The key of this tracker's entry on each node: a property read, cheaper
   * than a WeakMap lookup on a path taken three times per event.
   * Symbol-keyed, so JSON and Object.keys do not see it.
   */
  readonly #key = Symbol("ringfence.step");
  readonly #chain: ProcessNode[] = [];
  readonly #inherited: Omit<Step, "pid"> | null | undefined;
  readonly #now: () => number;
  readonly #containers = new ContainerSteps((node) =>
    this.#stepOfNode(node, [])
  );
  #budget = ENVIRON_READS_PER_SECOND;
  #budgetAt = 0;

  /**
   * @param isRoot tells a scope root (the step search starts below it).
   * @param read reads a process environment (tests pass a fake).
   * @param inherited the environment every process below the roots
   *   inherits (`ringfence run`: the agent's own), so that no process's
   *   environment needs reading: under `make`, every compiler would cost a
   *   read of /proc/<pid>/environ otherwise.
   * @param now milliseconds, for the read budget (tests pass a fake clock).
   */
  constructor(
    tree: ProcessTree,
    isRoot: (node: ProcessNode) => boolean,
    read: EnvironReader = readEnviron,
    inherited?: ReadonlyMap<string, string>,
    now: () => number = () => performance.now(),
  ) {
    this.#tree = tree;
    this.#isRoot = isRoot;
    this.#read = read;
    this.#inherited = inherited && ciStep(inherited);
    this.#now = now;
    this.#budgetAt = now();
  }

  /** Takes one read from the budget, if there is one left. */
  #mayRead(): boolean {
    const now = this.#now();
    this.#budget = Math.min(
      ENVIRON_READS_PER_SECOND,
      this.#budget + (now - this.#budgetAt) * ENVIRON_READS_PER_SECOND / 1000,
    );
    this.#budgetAt = now;
    if (this.#budget < 1) return false;
    this.#budget--;
    return true;
  }

  /** Adds `step` to the event when its process is below a scope root. */
  annotate(event: RingfenceEvent): void {
    const step = this.stepOf(event.pid);
    if (step) (event as { step?: Step }).step = step;
    if (step && event.type === "process_event" && event.kind === "exec") {
      const node = this.#tree.get(event.pid);
      if (node) this.#containers.noteExec(node, step);
    }
  }

  /** The step of a process, if it can be told. */
  stepOf(pid: number): Step | undefined {
    const node = this.#tree.get(pid);
    if (!node) return undefined;
    // The chain from the process up to (not including) its root, in an
    // array reused from call to call: this runs for every event.
    return this.#stepOfNode(node, this.#chain);
  }

  #stepOfNode(node: ProcessNode, chain: ProcessNode[]): Step | undefined {
    // Its first `length` entries are the chain: the array keeps its
    // length (and memory) from call to call; emptying it would free both.
    let length = 0;
    let root: ProcessNode | undefined;
    for (
      let current: ProcessNode | undefined = node;
      current;
      current = current.parent
    ) {
      if (this.#isRoot(current)) {
        root = current;
        break;
      }
      chain[length++] = current;
      if (length > 256) return undefined;
    }
    if (!root) return undefined;
    // A container's processes and the runtime's own events: the step of
    // the container command (agent/container_steps.ts).
    const container = this.#containers.stepOf(root, chain, length);
    if (container) return container;
    if (length === 0) {
      // The root itself: a `ringfence run` command is its own step.
      return this.#ciStep(root) ?? this.#commandStep(root);
    }
    // From the top of the chain (the process the root started) down.
    const depth = Math.min(length, MAX_DEPTH);
    for (let index = 1; index <= depth; index++) {
      const step = this.#ciStep(chain[length - index]);
      if (step) return step;
    }
    return this.#commandStep(chain[length - 1]);
  }

  /** The node's cache entry for its current exec. */
  #cached(node: ProcessNode): Cached {
    const holder = node as ProcessNode & { [key: symbol]: Cached | undefined };
    let cached = holder[this.#key];
    if (
      !cached || cached.argv !== node.argv || cached.path !== node.path ||
      cached.comm !== node.comm
    ) {
      cached = {
        argv: node.argv,
        path: node.path,
        comm: node.comm,
        ci: undefined,
        command: undefined,
      };
      holder[this.#key] = cached;
    }
    return cached;
  }

  #ciStep(node: ProcessNode): Step | null {
    const cached = this.#cached(node);
    if (cached.ci !== undefined) return cached.ci;
    if (this.#inherited !== undefined) {
      return cached.ci = this.#inherited &&
        { ...this.#inherited, pid: node.pid };
    }
    // Not cached: a later event may find the budget back.
    if (!this.#mayRead()) return null;
    const env = this.#read(node.pid, CI_VARIABLES);
    if (!env) {
      // Gone: nothing more to learn. Otherwise a later event may do better.
      if (node.exited) cached.ci = null;
      return null;
    }
    const step = ciStep(env);
    cached.ci = step && { ...step, pid: node.pid };
    return cached.ci;
  }

  #commandStep(node: ProcessNode): Step {
    return this.#cached(node).command ??= commandStep(node);
  }
}

/** The CI step an environment names, if any. */
function ciStep(env: ReadonlyMap<string, string>): Omit<Step, "pid"> | null {
  const github = env.get("GITHUB_ACTION");
  const gitlab = env.get("CI_JOB_NAME");
  if (github) {
    const action = env.get("GITHUB_ACTION_REPOSITORY");
    return action
      ? { name: github, ci: "github", action }
      : { name: github, ci: "github" };
  }
  return gitlab ? { name: gitlab, ci: "gitlab" } : null;
}

function commandStep(node: ProcessNode): Step {
  const words = node.argv?.length ? node.argv : [node.path ?? node.comm];
  let name = words.join(" ");
  if (name.length > MAX_NAME) name = name.slice(0, MAX_NAME - 1) + "…";
  return { name, pid: node.pid, ci: "command" };
}

/**
 * The scope-root test of an agent: in `run` mode the processes the agent
 * spawns; otherwise the processes whose comm or executable name is listed.
 */
export function scopeRootTest(
  spawner: boolean,
  names: () => readonly string[],
  self: number = Deno.pid,
): (node: ProcessNode) => boolean {
  if (spawner) return (node) => node.ppid === self;
  // Runs for every process of every event's ancestry: no allocation.
  return (node) => {
    const list = names();
    if (list.includes(node.comm)) return true;
    const path = node.path;
    if (path === undefined) return false;
    // An index loop: for-of allocates an iterator per call.
    for (let index = 0; index < list.length; index++) {
      if (isBaseName(path, list[index])) return true;
    }
    return false;
  };
}

/** Whether `name` is the last component of `path`. */
function isBaseName(path: string, name: string): boolean {
  const start = path.length - name.length;
  return start >= 0 && path.endsWith(name) &&
    (start === 0 || path.charCodeAt(start - 1) === 0x2f);
}
