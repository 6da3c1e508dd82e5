/**
 * Which step a container's processes belong to. A container runtime
 * (dockerd, containerd and their shims) starts a container's processes,
 * not the step that asked for them, so their ancestry leads to the
 * runtime and never to a step. The step is the one that ran the
 * container command (`docker run`, `podman exec`, `nerdctl compose`, ...):
 *
 * - a policed process's exec of `docker`, `podman` or `nerdctl` with a
 *   subcommand that makes the runtime start, build or pull something is
 *   noted with its step;
 * - a process a runtime that is a scope root starts (its parent is a
 *   runtime process) gets
 *   the step of the most recent such command still running when it is
 *   first seen, else of the most recent one; what it forks inherits that;
 * - an event of the runtime root itself (dockerd's connect for a pull) gets
 *   the step of the command running at the time when exactly one runs.
 *
 * This is a heuristic: the runtime's API does not say which client asked.
 * Steps of one job run one after the other, so one command runs at a
 * time; with commands of two steps running at once (`docker compose up
 * -d` left running, background steps, two jobs on one runner), a
 * container's processes may be given the other step, and the runtime's
 * own events get none of them.
 *
 * @module
 */

import type { ProcessNode } from "./process_tree.ts";
import type { Step } from "./steps.ts";

/** The command-line clients of container runtimes. */
const CLIENTS = new Set(["docker", "podman", "nerdctl"]);

/** Their subcommands that make the runtime start, build or fetch. */
const SUBCOMMANDS = new Set([
  "run",
  "start",
  "restart",
  "exec",
  "create",
  "compose",
  "build",
  "buildx",
  "builder",
  "pull",
  "push",
  "container",
  "image",
  "load",
  "import",
  "up",
  "kube",
  "play",
]);

/** The processes of a runtime that start containers' processes. */
const RUNTIME_NAMES = new Set([
  "dockerd",
  "containerd",
  "buildkitd",
  "podman",
  "conmon",
  "docker-proxy",
  "crun",
]);

/** How many commands are remembered: plenty for one job's steps. */
const MAX_COMMANDS = 64;

/** Whether a process is part of a container runtime. */
export function isRuntime(node: ProcessNode): boolean {
  const { comm } = node;
  // comm keeps 15 bytes: "containerd-shim-runc-v2" is "containerd-shim".
  return RUNTIME_NAMES.has(comm) || comm.startsWith("containerd-shim") ||
    comm.startsWith("runc");
}

/**
 * Whether a process is a container command: a runtime client whose first
 * word that is not an option names a subcommand that starts, builds or
 * fetches something.
 */
export function isContainerCommand(node: ProcessNode): boolean {
  const path = node.path;
  const name = path === undefined
    ? node.comm
    : path.slice(path.lastIndexOf("/") + 1);
  if (!CLIENTS.has(node.comm) && !CLIENTS.has(name)) return false;
  const argv = node.argv ?? [];
  // The client's own word: argv[0], or the script an interpreter runs.
  const client = argv.findIndex((word) =>
    CLIENTS.has(word.slice(word.lastIndexOf("/") + 1))
  );
  const verb = argv.slice(client + 1).find((word) => !word.startsWith("-"));
  return client >= 0 && verb !== undefined && SUBCOMMANDS.has(verb);
}

interface Command {
  node: ProcessNode;
  argv: string[] | undefined;
  step: Step;
}

/** The container commands seen and the step each container process was given. */
export class ContainerSteps {
  readonly #commands: Command[] = [];
  /** Symbol-keyed on the process node, as agent/steps.ts caches. */
  readonly #key = Symbol("ringfence.containerStep");
  readonly #resolve: (node: ProcessNode) => Step | undefined;

  /**
   * @param resolve the step of a process by its ancestry, asked again for
   *   a command whose CI step was not known when it was seen (its
   *   environment not read yet).
   */
  constructor(resolve: (node: ProcessNode) => Step | undefined) {
    this.#resolve = resolve;
  }

  /** Notes a policed process's exec when it is a container command. */
  noteExec(node: ProcessNode, step: Step): void {
    if (!isContainerCommand(node)) return;
    this.#commands.push({ node, argv: node.argv, step });
    if (this.#commands.length > MAX_COMMANDS) this.#commands.shift();
  }

  /**
   * The step of a process whose chain up to its scope root (the first
   * `length` of `chain`, nearest first, the root not included) passes
   * through a runtime, or of the runtime root itself (`length` 0);
   * undefined when it is not a container's or no container command is
   * known.
   */
  stepOf(
    root: ProcessNode,
    chain: readonly ProcessNode[],
    length: number = chain.length,
  ): Step | undefined {
    // A runtime that is itself a step's child keeps its step by ancestry.
    if (!isRuntime(root)) return undefined;
    if (length === 0) {
      const running = this.#commands.filter((command) => this.#live(command));
      return running.length === 1 ? this.#stepOf(running[0]) : undefined;
    }
    // The nearest process a runtime process started decides; what it
    // forked inherits its step.
    for (let index = 0; index < length; index++) {
      const node = chain[index];
      const parent = index + 1 < length ? chain[index + 1] : root;
      if (!isRuntime(parent) && !isRuntime(node)) continue;
      return this.#decide(node);
    }
    return undefined;
  }

  #decide(node: ProcessNode): Step | undefined {
    const holder = node as ProcessNode & { [key: symbol]: Step | undefined };
    const known = holder[this.#key];
    if (known !== undefined) return known;
    const commands = this.#commands;
    let chosen: Command | undefined;
    for (let index = commands.length - 1; index >= 0 && !chosen; index--) {
      if (this.#live(commands[index])) chosen = commands[index];
    }
    chosen ??= commands[commands.length - 1];
    if (!chosen) return undefined;
    return holder[this.#key] = this.#stepOf(chosen);
  }

  /** A command's step: its CI step, once its environment could be read. */
  #stepOf(command: Command): Step {
    if (command.step.ci === "command" && this.#live(command)) {
      const step = this.#resolve(command.node);
      if (step) command.step = step;
    }
    return command.step;
  }

  /** Whether the command still runs (its process has not exited or exec'd). */
  #live(command: Command): boolean {
    return !command.node.exited && command.node.argv === command.argv;
  }
}
