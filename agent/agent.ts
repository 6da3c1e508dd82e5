/**
 * The agent: loads the sensors, fills the kernel's scope map, keeps the
 * process tree and pumps records from the ring buffers to subscribers.
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import { TimeFormatter } from "../sensors/event.ts";
import { readSensorObject } from "../sensors/objects.ts";
import {
  decodeProcessEvent,
  ProcessSensor,
  ScopeFlag,
} from "../sensors/process.ts";
import { waitForData, Wakeup } from "../sensors/ringbuf.ts";
import type { Sensor, SensorStats } from "../sensors/sensor.ts";
import { type HostFacts, preflight } from "../sensors/system.ts";
import type { EventListener, RingfenceEvent } from "./events.ts";
import { listProcesses, type ProcEntry } from "./procfs.ts";
import { ProcessTree } from "./process_tree.ts";

/** How to start an {@linkcode Agent}. */
export interface AgentOptions {
  /** The policy in force. */
  policy: Policy;
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
  /** Per-sensor kernel counters. */
  sensors: Record<string, SensorStats>;
}

interface SensorBinding {
  sensor: Sensor;
  decode: (view: DataView, offset: number) => RingfenceEvent;
}

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
  /** The policy in force. */
  readonly policy: Policy;
  /** What preflight learnt about the host. */
  readonly host: HostFacts;
  /** Milliseconds from process start until the sensors were attached. */
  readonly armedAfterMs: number;
  readonly #process: ProcessSensor;
  readonly #bindings: SensorBinding[];
  readonly #listeners = new Set<EventListener>();
  readonly #wakeup = new Wakeup();
  readonly #reported = new Set<number>();
  #events = 0;
  #stopping = false;
  #finalStats: AgentStats | undefined;
  #pump: Promise<void> | undefined;

  private constructor(
    policy: Policy,
    host: HostFacts,
    process: ProcessSensor,
    tree: ProcessTree,
  ) {
    this.policy = policy;
    this.host = host;
    this.#process = process;
    this.tree = tree;
    const time = new TimeFormatter();
    this.#bindings = [{
      sensor: process,
      decode: (view, offset) => decodeProcessEvent(view, offset, time),
    }];
    this.armedAfterMs = performance.now();
  }

  /**
   * Checks the host, loads and attaches the sensors, and puts the scope
   * roots and their existing descendants in the kernel's scope map.
   *
   * @throws {import("../sensors/system.ts").PreflightError} when the host
   * lacks root, BTF, libbpf or tracefs.
   * @throws {import("../sensors/libbpf.ts").BpfError} with the kernel's
   * reason when a program is refused; nothing stays attached then.
   */
  static async start(options: AgentOptions): Promise<Agent> {
    const host = preflight();
    const process = new ProcessSensor(
      await readSensorObject("process", options.sensorsDir),
      { ringSize: options.ringSize },
    );
    try {
      process.load();
      const self = Deno.pid;
      if (options.spawner) {
        process.setScope(self, { flags: ScopeFlag.spawner, rootPid: self });
      } else {
        // The agent may itself descend from a root (a runner step that
        // starts it): keep it and what it spawns out of scope.
        process.setScope(self, { flags: 0, rootPid: self });
        for (const name of options.policy.scope.processes) {
          process.addRootName(name);
        }
      }
      // Attach before reading /proc: a process forked while the snapshot
      // is taken is then either in the snapshot or inherited at fork.
      process.attach();
      const snapshot = listProcesses();
      if (!options.spawner) {
        seedScope(process, snapshot, options.policy.scope.processes, self);
        // Children forked between the snapshot and the map insert of their
        // parent were missed by both: a second pass picks them up.
        seedScope(
          process,
          listProcesses(),
          options.policy.scope.processes,
          self,
        );
      }
      const agent = new Agent(
        options.policy,
        host,
        process,
        ProcessTree.fromProc(snapshot),
      );
      agent.#pump = agent.#run();
      return agent;
    } catch (error) {
      process.close();
      throw error;
    }
  }

  /** Calls `listener` for every event; returns a function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Hands out every record the kernel has produced so far. Call it after a
   * watched command exits to be sure its last events are delivered.
   */
  flush(): number {
    let count = 0;
    for (const binding of this.#bindings) {
      count += binding.sensor.drain((view, offset) => {
        this.#dispatch(binding.decode(view, offset));
      });
    }
    return count;
  }

  /** Kernel and agent counters (as they were at stop, once stopped). */
  stats(): AgentStats {
    if (this.#finalStats) return this.#finalStats;
    const sensors: Record<string, SensorStats> = {};
    let drops = 0, scopeFull = 0;
    for (const { sensor } of this.#bindings) {
      const stats = sensor.stats();
      sensors[sensor.name] = stats;
      drops += stats.drops;
      scopeFull += stats.scopeFull;
    }
    return {
      events: this.#events,
      drops,
      scopeFull,
      processes: this.#reported.size,
      sensors,
    };
  }

  /** Delivers what is pending, then detaches every sensor. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopping) return await this.#pump;
    this.#stopping = true;
    this.#wakeup.wake();
    await this.#pump;
    this.flush();
    this.#finalStats = this.stats();
    for (const { sensor } of this.#bindings.toReversed()) sensor.close();
    this.#wakeup.close();
  }

  async #run(): Promise<void> {
    const fds = [
      ...this.#bindings.map(({ sensor }) => sensor.ring.fd),
      this.#wakeup.fd,
    ];
    while (!this.#stopping) {
      if (this.flush() === 0) {
        await waitForData(fds, -1);
      } else {
        // Let timers and I/O run between large batches.
        await new Promise((resolve) => setTimeout(resolve, 0));
      }
    }
  }

  #dispatch(event: RingfenceEvent): void {
    this.#events++;
    this.#reported.add(event.pid);
    if (event.type === "process_event") this.tree.apply(event);
    for (const listener of this.#listeners) listener(event);
  }
}

/**
 * Puts each scope root found in a /proc snapshot, and its descendants, in
 * the scope map. Roots match by comm or by the executable's file name.
 */
function seedScope(
  process: ProcessSensor,
  snapshot: readonly ProcEntry[],
  rootNames: readonly string[],
  self: number,
): void {
  const names = new Set(rootNames);
  const children = new Map<number, ProcEntry[]>();
  for (const entry of snapshot) {
    const siblings = children.get(entry.ppid) ?? [];
    siblings.push(entry);
    children.set(entry.ppid, siblings);
  }
  const isRoot = (entry: ProcEntry) =>
    names.has(entry.comm) ||
    (entry.exe !== undefined && names.has(entry.exe.split("/").pop()!));
  for (const root of snapshot.filter(isRoot)) {
    if (root.pid === self) continue;
    if (!process.scopeOf(root.pid)) {
      process.setScope(root.pid, {
        flags: ScopeFlag.monitored | ScopeFlag.exempt,
        rootPid: root.pid,
      });
    }
    const stack = [...(children.get(root.pid) ?? [])];
    while (stack.length) {
      const entry = stack.pop()!;
      if (entry.pid === self || isRoot(entry)) continue;
      if (!process.scopeOf(entry.pid)) {
        process.setScope(entry.pid, {
          flags: ScopeFlag.monitored,
          rootPid: root.pid,
        });
      }
      stack.push(...(children.get(entry.pid) ?? []));
    }
  }
}
