/**
 * The agent: loads the sensors, fills the kernel's scope map, keeps the
 * process tree and pumps records from the ring buffers to subscribers.
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import { TimeFormatter } from "../sensors/event.ts";
import type { EventListener } from "../sensors/events.ts";
import { decodeFileSystemEvent } from "../sensors/file_system.ts";
import { decodeNetworkEvent, type NetworkEvent } from "../sensors/network.ts";
import { decodeProcessEvent } from "../sensors/process.ts";
import type { SensorStats } from "../sensors/sensor.ts";
import { cgroup2Mount, type HostFacts, preflight } from "../sensors/system.ts";
import { applyPolicy, compilePolicy } from "./compile.ts";
import { FileWatch } from "./files.ts";
import { resetRefusedFlow } from "./flow_reset.ts";
import {
  closeSensors,
  type FileEnforcement,
  type LoadedSensors,
  loadSensors,
  sensorList,
} from "./load.ts";
import { ProcessTree } from "./process_tree.ts";
import { EventPump, type SensorBinding } from "./pump.ts";
import {
  killInScope,
  prepareScope,
  replaceRootNames,
  seedScope,
} from "./scope.ts";
import { readEnviron, scopeRootTest, StepTracker } from "./steps.ts";
import type { TamperReport } from "./tamper.ts";

export type { FileEnforcement } from "./load.ts";

/** How to start an {@linkcode Agent}. */
export interface AgentOptions {
  /**
   * The policy in force. A promise lets the sensors load while the policy
   * is still being read; when it rejects, the start fails with its error
   * and nothing stays loaded.
   */
  policy: Policy | Promise<Policy>;
  /**
   * `ringfence run`: every process this agent spawns becomes a scope root
   * (watched and policed from its first instruction). Otherwise the roots
   * are the processes named in `policy.scope.processes`.
   */
  spawner?: boolean;
  /** Directory of compiled sensors instead of the built-in ones. */
  sensorsDir?: string;
  /** Ring buffer size per sensor in bytes (a power of two). */
  ringSize?: number;
  /** resolv.conf to read `resolvers: [system]` from. */
  resolvConf?: string;
}

/** Counters of a running agent. */
export interface AgentStats {
  /** Events handed to subscribers. */
  events: number;
  /** Records lost in the kernel (ring buffer full), all sensors. */
  drops: number;
  /** Processes not tracked because the scope map was full. */
  scopeFull: number;
  /** Distinct processes reported. */
  processes: number;
  /** Network actions refused in the kernel (verdict deny). */
  blocked: number;
  /** Network actions block mode would have refused (verdict audit). */
  wouldBlock: number;
  /** Per-sensor kernel counters. */
  sensors: Record<string, SensorStats>;
}

/** How many ancestors a network event names, nearest first. */
const MAX_ANCESTORS = 8;

/**
 * A running agent. Start it with {@linkcode Agent.start}, subscribe to its
 * events, and {@linkcode Agent.stop} it to detach everything.
 *
 * @example Watch a command's processes
 * ```ts ignore
 * import { Agent, parsePolicy } from "./mod.ts";
 * const agent = await Agent.start({
 *   policy: parsePolicy("version: 1", "inline"),
 *   spawner: true,
 * });
 * agent.subscribe((event) => console.log(event.kind, event.comm));
 * await new Deno.Command("/bin/true").output();
 * await agent.stop();
 * ```
 */
export class Agent {
  /** The process tree, seeded from /proc and kept current by events. */
  readonly tree: ProcessTree;
  /** What preflight learnt about the host. */
  readonly host: HostFacts;
  /** Milliseconds from process start until the sensors were attached. */
  readonly armedAfterMs: number;
  /**
   * How a protected path is enforced in block mode with `files.action:
   * kill`: refused by BPF LSM, or its writer killed after the syscall.
   * Undefined when the policy has no `files` section: sensor.file-system
   * is then not loaded at all.
   */
  readonly fileEnforcement: FileEnforcement | undefined;
  readonly #sensors: LoadedSensors;
  readonly #files: FileWatch | undefined;
  readonly #resolvConf: string | undefined;
  readonly #pump: EventPump;
  #policy: Policy;
  #finalStats: AgentStats | undefined;
  #stopped: Promise<void> | undefined;

  private constructor(
    options: AgentOptions,
    policy: Policy,
    host: HostFacts,
    sensors: LoadedSensors,
    tree: ProcessTree,
    files: FileWatch | undefined,
  ) {
    this.#policy = policy;
    this.#resolvConf = options.resolvConf;
    this.host = host;
    this.#sensors = sensors;
    this.fileEnforcement = sensors.enforcement;
    this.tree = tree;
    this.#files = files;
    const steps = new StepTracker(
      tree,
      scopeRootTest(!!options.spawner, () => this.#policy.scope.processes),
      readEnviron,
      // `run`: what it runs inherits the agent's environment.
      options.spawner
        ? new Map(Object.entries(Deno.env.toObject()))
        : undefined,
    );
    this.#pump = new EventPump(this.#bind(), tree, (event) => {
      steps.annotate(event);
      if (event.type === "file_system_event") files?.record(event);
    });
    this.armedAfterMs = performance.now();
  }

  /**
   * Checks the host, loads and attaches the sensors, and puts the scope
   * roots and their existing descendants in the kernel's scope map.
   *
   * @throws {import("../sensors/system.ts").PreflightError} when the host
   * lacks root, BTF or libbpf.
   * @throws {import("../sensors/libbpf.ts").BpfError} with the kernel's
   * reason when a program is refused; nothing stays attached then.
   * @throws the policy's own error, first, when `options.policy` rejects or
   * the kernel cannot hold the policy; nothing stays loaded then.
   */
  static async start(options: AgentOptions): Promise<Agent> {
    // Compiled while the process and network sensors load, which need no
    // policy: the kernel's verification is most of the start-up.
    const compiling = Promise.resolve(options.policy).then((policy) =>
      compilePolicy(policy, !!policy.files, options.resolvConf)
    );
    let host: HostFacts, cgroup: string, sensors: LoadedSensors;
    try {
      host = preflight();
      cgroup = cgroup2Mount();
      sensors = await loadSensors({
        sensorsDir: options.sensorsDir,
        ringSize: options.ringSize,
        // Without a files section, sensor.file-system is not loaded: its
        // sys_enter hook would cost every syscall of the machine for
        // nothing.
        files: compiling.then(({ fileRules }) => !!fileRules),
      });
    } catch (error) {
      // A policy that cannot be read or compiled is the first thing to fix.
      await compiling;
      throw error;
    }
    try {
      const compiled = await compiling;
      const { policy } = compiled;
      const { process, network, fileSystem } = sensors;
      applyPolicy(sensors, compiled);
      const files = fileSystem &&
        await FileWatch.start(fileSystem, compiled.fileRules!);
      prepareScope(
        process,
        !!options.spawner,
        policy.scope.processes,
        policy.scope.runner.processes,
      );
      // Attach before reading /proc: a process forked while the snapshot
      // is taken is then either in the snapshot or inherited at fork.
      process.attach();
      network.attach(cgroup);
      fileSystem?.attach();
      const snapshot = seedScope(
        process,
        options.spawner ? undefined : policy.scope.processes,
        policy.scope.runner.processes,
      );
      const tree = ProcessTree.fromProc(snapshot);
      const agent = new Agent(options, policy, host, sensors, tree, files);
      agent.#pump.start();
      return agent;
    } catch (error) {
      closeSensors(sensors);
      throw error;
    }
  }

  /** The sensors loaded, by short name, e.g. `["process", "network"]`. */
  get sensors(): string[] {
    return sensorList(this.#sensors).map((sensor) => sensor.name);
  }

  /** The policy in force. */
  get policy(): Policy {
    return this.#policy;
  }

  /**
   * Puts a new policy in force: the network maps are swapped in one step
   * and scope root names are replaced. When the new policy cannot be
   * compiled, it throws and the old one stays in force untouched.
   */
  updatePolicy(policy: Policy): void {
    const compiled = compilePolicy(policy, !!this.#files, this.#resolvConf);
    // Records the kernel made under the old maps are judged by the old
    // rules: read them before anything changes.
    this.flush();
    applyPolicy(this.#sensors, compiled);
    if (this.#files && compiled.fileRules) {
      this.#files.rules = compiled.fileRules;
    }
    replaceRootNames(
      this.#sensors.process,
      this.#policy.scope.processes,
      policy.scope.processes,
      policy.scope.runner.processes,
    );
    this.#policy = policy;
  }

  /**
   * Files changed under `files.watch` (by whom, in which step) and, once
   * stopped, protected files whose size, mtime or hash changed.
   */
  tamperReport(): TamperReport {
    return this.#files?.report() ??
      { files: [], otherChanges: 0, protected: [] };
  }

  /**
   * Calls `listener` for every event; returns a function that unsubscribes.
   * A listener that subscribes right after `await Agent.start()` (before
   * anything else is awaited) gets every event, those of the start-up too.
   */
  subscribe(listener: EventListener): () => void {
    return this.#pump.subscribe(listener);
  }

  /**
   * Hands out every record the kernel has produced so far. Call it after a
   * watched command exits to be sure its last events are delivered.
   */
  flush(): number {
    return this.#pump.flush();
  }

  /** Kernel and agent counters (as they were at stop, once stopped). */
  stats(): AgentStats {
    if (this.#finalStats) return this.#finalStats;
    const sensors: Record<string, SensorStats> = {};
    let drops = 0, scopeFull = 0;
    for (const sensor of sensorList(this.#sensors)) {
      const stats = sensor.stats();
      sensors[sensor.name] = stats;
      drops += stats.drops;
      scopeFull += stats.scopeFull;
    }
    const { events, processes, blocked, wouldBlock } = this.#pump.counts;
    return {
      events,
      drops,
      scopeFull,
      processes,
      blocked,
      wouldBlock,
      sensors,
    };
  }

  /** Delivers what is pending, then detaches every sensor. Idempotent. */
  stop(): Promise<void> {
    return this.#stopped ??= this.#stop();
  }

  async #stop(): Promise<void> {
    await this.#pump.stop();
    this.flush();
    this.#finalStats = this.stats();
    await this.#files?.finish();
    closeSensors(this.#sensors);
  }

  /** How each sensor's records become events. */
  #bind(): SensorBinding[] {
    const time = new TimeFormatter();
    const { process, network, fileSystem } = this.#sensors;
    const files = this.#files;
    const bindings: SensorBinding[] = [{
      sensor: process,
      decode: (view, offset) =>
        decodeProcessEvent(view, offset, time, process.denyRules),
    }, {
      sensor: network,
      decode: (view, offset) =>
        this.#describeProcess(
          resetRefusedFlow(decodeNetworkEvent(view, offset, time)),
        ),
    }];
    if (fileSystem && files) {
      bindings.push({
        sensor: fileSystem,
        decode: (view, offset) => {
          const event = files.rules.judge(
            decodeFileSystemEvent(view, offset, time),
            (pid) => killInScope(process, pid),
          );
          const exe = event && this.tree.get(event.pid)?.path;
          if (exe) event.exe = exe;
          return event;
        },
      });
    }
    return bindings;
  }

  /** Adds what the tree knows of the process: its executable and ancestry. */
  #describeProcess(event: NetworkEvent): NetworkEvent {
    const node = this.tree.get(event.pid);
    if (node?.path) event.exe = node.path;
    const ancestors = this.tree.ancestors(event.pid).slice(0, MAX_ANCESTORS);
    if (ancestors.length) {
      event.ancestors = ancestors.map(({ pid, comm }) => ({ pid, comm }));
    }
    return event;
  }
}
