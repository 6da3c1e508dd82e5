/**
 * The agent: loads the sensors, fills the kernel's scope map, keeps the
 * process tree and pumps records from the ring buffers to subscribers.
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import { TimeFormatter } from "../sensors/event.ts";
import {
  decodeNetworkEvent,
  type NetworkEvent,
  type NetworkPolicyMaps,
  NetworkSensor,
} from "../sensors/network.ts";
import { readSensorObject } from "../sensors/objects.ts";
import {
  decodeProcessEvent,
  ProcessSensor,
  ScopeFlag,
} from "../sensors/process.ts";
import {
  decodeFileSystemEvent,
  FileSystemSensor,
} from "../sensors/file_system.ts";
import {
  pause,
  RING_POLL_MS,
  waitForData,
  Wakeup,
} from "../sensors/ringbuf.ts";
import { Sensor, type SensorStats } from "../sensors/sensor.ts";
import { closeFd } from "../sensors/libc.ts";
import { bootId } from "../sensors/boot.ts";
import {
  bpfLsm,
  cgroup2Mount,
  type HostFacts,
  preflight,
} from "../sensors/system.ts";
import type { EventListener, RingfenceEvent } from "../sensors/events.ts";
import { FileRules } from "./file_policy.ts";
import { networkPolicyMaps } from "./network_policy.ts";
import { listProcesses, type ProcEntry } from "./procfs.ts";
import { ProcessTree } from "./process_tree.ts";
import { readEnviron, scopeRootTest, StepTracker } from "./steps.ts";
import {
  diffSnapshots,
  type FileState,
  type ProtectedChange,
  snapshotFiles,
  type TamperReport,
  TamperTracker,
} from "./tamper.ts";

/**
 * A policy to parse while the kernel verifies the sensors, which is most
 * of the start: the main thread only waits then. See
 * {@linkcode AgentOptions.policy}.
 */
export interface DeferredPolicy {
  /**
   * Parses the policy; called once, on the main thread, during the load.
   * It may return a promise, e.g. to import the YAML parser meanwhile.
   */
  parse(): Policy | Promise<Policy>;
  /**
   * Whether it will have a `files` section, so that sensor.file-system
   * loads alongside the others. A wrong guess costs a second load, never a
   * wrong result.
   */
  files: boolean;
}

/** How to start an {@linkcode Agent}. */
export interface AgentOptions {
  /**
   * The policy in force, or one to parse while the sensors load (a policy
   * that fails to parse then fails the start after the load, with nothing
   * attached; one given parsed fails it before).
   */
  policy: Policy | DeferredPolicy;
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
  /**
   * Runs on the main thread while the kernel verifies the sensors (after a
   * deferred policy is parsed), which is most of the start: other work the
   * start can do meanwhile; the start waits for it and for the load. Once
   * per load (a wrong guess about a deferred policy's files loads twice).
   * It must not throw.
   */
  whileLoading?: () => void;
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
 * Milliseconds between two reads while records keep coming: enough for a
 * batch to gather, far below what fills a ring (the process ring holds
 * about a tenth of a second of a 10k execs/s burst).
 */
const BATCH_GAP_MS = 2;

interface SensorBinding {
  sensor: Sensor;
  /** undefined: a record the policy's final match drops. */
  decode: (view: DataView, offset: number) => RingfenceEvent | undefined;
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
  readonly #process: ProcessSensor;
  readonly #network: NetworkSensor;
  readonly #resolvConf: string | undefined;
  readonly #bindings: SensorBinding[];
  readonly #steps: StepTracker;
  readonly #files: FileSystemAgent | undefined;
  #policy: Policy;
  #blocked = 0;
  #wouldBlock = 0;
  readonly #listeners = new Set<EventListener>();
  readonly #wakeup = new Wakeup();
  // Pids reported and not yet exited: bounded by live processes, and a
  // reused pid counts as a new process.
  readonly #reporting = new Set<number>();
  #processes = 0;
  #events = 0;
  #stopping = false;
  #finalStats: AgentStats | undefined;
  #pump: Promise<void> | undefined;

  private constructor(
    options: AgentOptions & { policy: Policy },
    host: HostFacts,
    process: ProcessSensor,
    network: NetworkSensor,
    tree: ProcessTree,
    files: Omit<FileSystemAgent, "tamper"> | undefined,
    fileEnforcement: FileEnforcement | undefined,
  ) {
    this.fileEnforcement = fileEnforcement;
    this.#policy = options.policy;
    this.#resolvConf = options.resolvConf;
    this.host = host;
    this.#process = process;
    this.#network = network;
    this.tree = tree;
    this.#steps = new StepTracker(
      tree,
      scopeRootTest(!!options.spawner, () => this.#policy.scope.processes),
      readEnviron,
      // `run`: what it runs inherits the agent's environment.
      options.spawner
        ? new Map(Object.entries(Deno.env.toObject()))
        : undefined,
    );
    const time = new TimeFormatter();
    this.#bindings = [{
      sensor: process,
      decode: (view, offset) => decodeProcessEvent(view, offset, time),
    }, {
      sensor: network,
      decode: (view, offset) =>
        this.#describeProcess(decodeNetworkEvent(view, offset, time)),
    }];
    if (files) {
      const state = { ...files, tamper: new TamperTracker() };
      this.#files = state;
      this.#bindings.push({
        sensor: files.sensor,
        decode: (view, offset) => {
          const event = state.rules.judge(
            decodeFileSystemEvent(view, offset, time),
            (pid) => killInScope(process, pid),
          );
          const exe = event && this.tree.get(event.pid)?.path;
          if (exe) event.exe = exe;
          return event;
        },
      });
    }
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
   */
  static async start(options: AgentOptions): Promise<Agent> {
    const host = preflight();
    const deferred = "parse" in options.policy ? options.policy : undefined;
    // A policy given parsed compiles first: one the kernel cannot hold
    // fails before any load.
    let compiled = deferred
      ? undefined
      : compilePolicy(options.policy as Policy, options.resolvConf);
    let failure: unknown;
    const cgroup = cgroup2Mount();
    // Without a files section, sensor.file-system is not loaded: its
    // sys_enter hook would cost every syscall of the machine for nothing.
    const withFiles = deferred ? deferred.files : !!compiled!.fileRules;
    const names = ["process", "network", ...withFiles ? ["file-system"] : []];
    // All settled, so that a missing sensor is named in a fixed order.
    const [processBytes, networkBytes, fileSystemBytes] = (
      await Promise.allSettled(
        names.map((name) => readSensorObject(name, options.sensorsDir)),
      )
    ).map((read) => {
      if (read.status === "rejected") throw read.reason;
      return read.value;
    });
    const bytes = {
      process: processBytes,
      network: networkBytes,
      fileSystem: fileSystemBytes,
    };
    // Settles once the deferred policy is compiled (or has failed) and
    // whileLoading has run: both overlap the kernel's verification.
    let meanwhile: Promise<void> | undefined;
    const { process, network, fileSystem, enforcement } = await loadSensors(
      bytes,
      options.ringSize,
      withFiles ? fileEnforcementPlan() : undefined,
      () => {
        meanwhile = (async () => {
          if (deferred) {
            try {
              compiled = compilePolicy(
                await deferred.parse(),
                options.resolvConf,
              );
            } catch (error) {
              failure = error;
            }
          }
          options.whileLoading?.();
        })();
      },
    ).catch(async (error) => {
      // Nothing of the start runs on once it has failed.
      await meanwhile;
      throw error;
    });
    await meanwhile;
    if (!compiled || !!compiled.fileRules !== !!fileSystem) {
      fileSystem?.close();
      network.close();
      process.close();
      if (!compiled) throw failure;
      // The guess about a files section was wrong: again, knowing.
      return await Agent.start({ ...options, policy: compiled.policy });
    }
    const { policy, networkMaps, fileRules } = compiled;
    try {
      fileSystem?.setRules(fileRules!.kernelMaps());
      const protectedAtStart = await snapshotFiles(
        fileRules?.protectedPaths ?? [],
      );
      network.configure(networkSettings(policy));
      applyExecDeny(process, policy);
      network.setPolicy(networkMaps);
      const self = Deno.pid;
      if (options.spawner) {
        process.setScope(self, { flags: ScopeFlag.spawner, rootPid: self });
      } else {
        // The agent may itself descend from a root (a runner step that
        // starts it): keep it and what it spawns out of scope.
        process.setScope(self, { flags: 0, rootPid: self });
        for (const name of policy.scope.processes) {
          process.addRootName(name);
        }
      }
      // Attach before reading /proc: a process forked while the snapshot
      // is taken is then either in the snapshot or inherited at fork.
      process.attach();
      network.attach(cgroup);
      fileSystem?.attach();
      const snapshot = listProcesses();
      if (!options.spawner) {
        const roots = policy.scope.processes;
        seedScope(process, snapshot, roots, self);
        // Children forked between the snapshot and the map insert of their
        // parent were missed by both: a second pass picks them up.
        // Only processes new since then are read.
        const known = new Map(snapshot.map((entry) => [entry.pid, entry]));
        seedScope(process, listProcesses("/proc", known), roots, self);
      }
      const agent = new Agent(
        { ...options, policy },
        host,
        process,
        network,
        ProcessTree.fromProc(snapshot),
        fileSystem &&
          { sensor: fileSystem, rules: fileRules!, protectedAtStart },
        enforcement,
      );
      agent.#pump = agent.#run();
      return agent;
    } catch (error) {
      fileSystem?.close();
      network.close();
      process.close();
      throw error;
    }
  }

  /** The sensors loaded, by short name, e.g. `["process", "network"]`. */
  get sensors(): string[] {
    return this.#bindings.map(({ sensor }) => sensor.name);
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
    if (policy.files && !this.#files) {
      throw new Error(
        "the new policy has a files section and the running agent started without one (sensor.file-system is not loaded): restart the agent",
      );
    }
    // Everything compiled before anything changes.
    const maps = networkPolicyMaps(policy.network, this.#resolvConf);
    // Without a files section, no rules: the sensor stays, silent.
    const fileRules = this.#files && new FileRules(policy.files, policy.mode);
    const fileMaps = fileRules?.kernelMaps();
    // Records the kernel made under the old maps are judged by the old
    // rules: read them before anything changes.
    this.flush();
    this.#network.setPolicy(maps);
    this.#network.configure(networkSettings(policy));
    applyExecDeny(this.#process, policy);
    if (this.#files && fileRules && fileMaps) {
      this.#files.sensor.setRules(fileMaps);
      this.#files.rules = fileRules;
    }
    const names = new Set(policy.scope.processes);
    for (const name of this.#policy.scope.processes) {
      if (!names.has(name)) this.#process.removeRootName(name);
    }
    for (const name of names) this.#process.addRootName(name);
    this.#policy = policy;
  }

  /**
   * Files changed under `files.watch` (by whom, in which step) and, once
   * stopped, protected files whose size, mtime or hash changed.
   */
  tamperReport(): TamperReport {
    return {
      files: this.#files?.tamper.files() ?? [],
      otherChanges: this.#files?.tamper.otherChanges ?? 0,
      protected: this.#files?.protectedChanges ?? [],
    };
  }

  /**
   * Calls `listener` for every event; returns a function that unsubscribes.
   * A listener that subscribes right after `await Agent.start()` (before
   * anything else is awaited) gets every event, those of the start-up too.
   */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Hands out every record the kernel has produced so far. Call it after a
   * watched command exits to be sure its last events are delivered.
   */
  flush(): number {
    // The other sensors' rings are read up to where they are now, and only
    // after the process ring: the process events that came before one of
    // their records (the exec before a write) are in the tree by the time
    // it is dispatched, however long the process ring's batch takes.
    const ends = this.#bindings.map(({ sensor }) => sensor.ring.produced);
    let count = 0;
    for (const [index, binding] of this.#bindings.entries()) {
      count += binding.sensor.drain((view, offset) => {
        const event = binding.decode(view, offset);
        if (event) this.#dispatch(event);
      }, index === 0 ? undefined : ends[index]);
    }
    this.tree.endBatch();
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
      processes: this.#processes,
      blocked: this.#blocked,
      wouldBlock: this.#wouldBlock,
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
    // Protected paths as the policy in force at the start named them.
    if (this.#files) {
      this.#files.protectedChanges = diffSnapshots(
        this.#files.protectedAtStart,
        await snapshotFiles([...this.#files.protectedAtStart.keys()]),
      );
    }
    for (const { sensor } of this.#bindings.toReversed()) sensor.close();
    this.#wakeup.close();
  }

  /** The loop that reads the rings until stop(). */
  async #run(): Promise<void> {
    const fds = [
      ...this.#bindings.map(({ sensor }) => sensor.ring.fd),
      this.#wakeup.fd,
    ];
    // The first read waits a turn of the event loop, until whoever awaited
    // start() has subscribed: read at once, the records of the start-up
    // (from attach until start() returns) went to no listener. Not with
    // setTimeout, whose first call loads Deno's timers (about 5 ms) between
    // armed and ready.
    await pause(0);
    while (!this.#stopping) {
      if (this.flush() === 0) {
        await waitForData(fds, RING_POLL_MS);
      } else {
        // More may be on its way: let it gather for a moment. Reading again
        // at once (a turn of the event loop) read a few records a time under
        // a storm, each read costing a timer and a pass over every ring:
        // a tenth of the agent's time at 30k events/s. A timer, not pause():
        // under an exec storm this runs 500 times a second, and a call on a
        // worker thread each time cost the agent half as much CPU again.
        await new Promise((resolve) => setTimeout(resolve, BATCH_GAP_MS));
      }
    }
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

  #dispatch(event: RingfenceEvent): void {
    this.#events++;
    if (!this.#reporting.has(event.pid)) {
      this.#reporting.add(event.pid);
      this.#processes++;
    }
    if (event.type === "process_event") {
      this.tree.apply(event);
      if (event.kind === "exit") this.#reporting.delete(event.pid);
    } else if (event.verdict === "deny") this.#blocked++;
    else if (event.verdict === "audit") this.#wouldBlock++;
    this.#steps.annotate(event);
    if (event.type === "file_system_event") {
      // After the step is known: a checkout is told by its step too.
      const checkout = this.#files?.tamper.record(event);
      if (checkout !== undefined) {
        event.tamper = true;
        event.checked_out_by = checkout;
      }
    }
    for (const listener of this.#listeners) listener(event);
  }
}

/** How protected paths are enforced (see `Agent.fileEnforcement`). */
export interface FileEnforcement {
  /** `lsm`: refused with EPERM before the change; `signal`: SIGKILL on the
   * way back from the syscall, which has completed. */
  method: "lsm" | "signal";
  /** Why: what was detected, or what the kernel said. */
  reason: string;
}

/**
 * Where a kernel's refusal of the LSM programs is remembered for the rest
 * of the boot: finding out costs a second load of sensor.file-system.
 */
export const LSM_REFUSAL_FILE = "/run/ringfence/bpf-lsm-refused";

/**
 * BPF LSM when the host has it, else the signal. RINGFENCE_LSM=off never
 * tries it; RINGFENCE_LSM=force tries it whatever the host says or an
 * earlier start in this boot learnt (the kernel's refusal then shows the
 * fallback at work).
 */
function fileEnforcementPlan(): FileEnforcement {
  const setting = Deno.env.get("RINGFENCE_LSM") ?? "auto";
  if (setting === "off") {
    return { method: "signal", reason: "RINGFENCE_LSM=off" };
  }
  if (setting === "force") {
    return { method: "lsm", reason: "RINGFENCE_LSM=force" };
  }
  const lsm = bpfLsm();
  if (!lsm.usable) return { method: "signal", reason: lsm.reason };
  try {
    const [boot, reason] = Deno.readTextFileSync(LSM_REFUSAL_FILE).split("\n");
    if (boot && boot === bootId()) {
      return { method: "signal", reason: `${reason} (earlier in this boot)` };
    }
  } catch { /* not refused yet */ }
  return { method: "lsm", reason: lsm.reason };
}

function rememberLsmRefusal(reason: string): void {
  try {
    Deno.mkdirSync("/run/ringfence", { recursive: true });
    const boot = bootId();
    if (boot) Deno.writeTextFileSync(LSM_REFUSAL_FILE, `${boot}\n${reason}\n`);
  } catch { /* the next start tries again */ }
}

interface LoadedSensors {
  process: ProcessSensor;
  network: NetworkSensor;
  fileSystem?: FileSystemSensor;
  enforcement?: FileEnforcement;
}

/**
 * Opens and loads the sensors side by side; on failure nothing stays
 * loaded. sensor.file-system is loaded when there is a plan for it; when
 * the kernel refuses its BPF LSM programs, it alone loads again without.
 */
async function loadSensors(
  bytes: { process: Uint8Array; network: Uint8Array; fileSystem?: Uint8Array },
  ringSize: number | undefined,
  plan: FileEnforcement | undefined,
  whileLoading?: () => void,
): Promise<LoadedSensors> {
  const process = new ProcessSensor(bytes.process, { ringSize });
  let network: NetworkSensor | undefined;
  let fileSystem: FileSystemSensor | undefined;
  let shared: Record<string, number> = {};
  let enforcement = plan;
  try {
    // The scope maps exist before any sensor loads, so that all of them
    // can load side by side: verification is most of the start-up.
    shared = process.createSharedMaps();
    network = new NetworkSensor(bytes.network, {
      sharedMaps: shared,
      ringSize,
    });
    const openFileSystem = (lsm: boolean) =>
      new FileSystemSensor(bytes.fileSystem!, {
        sharedMaps: shared,
        ringSize,
        lsm,
      });
    if (plan) fileSystem = openFileSystem(plan.method === "lsm");
    const errors = await Sensor.loadEach(
      fileSystem ? [process, network, fileSystem] : [process, network],
      whileLoading,
    );
    if (errors[0] || errors[1]) throw errors[0] ?? errors[1];
    if (errors[2] && fileSystem?.lsm) {
      enforcement = {
        method: "signal",
        reason: `the kernel refused the BPF LSM programs: ${errors[2].message}`,
      };
      rememberLsmRefusal(enforcement.reason);
      fileSystem.close();
      fileSystem = undefined; // closed: the catch below must not again
      fileSystem = openFileSystem(false);
      await Sensor.loadAll([fileSystem]);
    } else if (errors[2]) throw errors[2];
    return { process, network, fileSystem, enforcement };
  } catch (error) {
    fileSystem?.close();
    network?.close();
    process.close();
    throw error;
  } finally {
    // The objects hold their own references to the scope maps.
    Object.values(shared).forEach(closeFd);
  }
}

/** A policy and what the sensors' maps are made from. */
interface CompiledPolicy {
  policy: Policy;
  networkMaps: NetworkPolicyMaps;
  /** Without a files section, none (and no sensor.file-system). */
  fileRules?: FileRules;
}

/** Compiles what the kernel's maps need; throws what the kernel cannot hold. */
function compilePolicy(policy: Policy, resolvConf?: string): CompiledPolicy {
  return {
    policy,
    networkMaps: networkPolicyMaps(policy.network, resolvConf),
    fileRules: policy.files && new FileRules(policy.files, policy.mode),
  };
}

/** The file-system sensor and what the agent keeps about files. */
interface FileSystemAgent {
  sensor: FileSystemSensor;
  rules: FileRules;
  tamper: TamperTracker;
  /** Literal protected paths as they were when the agent started. */
  protectedAtStart: Map<string, FileState>;
  protectedChanges?: ProtectedChange[];
}

/**
 * SIGKILL for a protected write the kernel could not match exactly; never
 * for a process out of scope or a scope root (reported, never blocked).
 */
function killInScope(process: ProcessSensor, pid: number): boolean {
  const scope = process.scopeOf(pid);
  if (!scope || !(scope.flags & ScopeFlag.monitored)) return false;
  if (scope.flags & ScopeFlag.exempt) return false;
  try {
    Deno.kill(pid, "SIGKILL");
    return true;
  } catch {
    return false;
  }
}

/** Forbidden programs: killed at exec in block mode, reported in audit. */
function applyExecDeny(process: ProcessSensor, policy: Policy): void {
  const rules = policy.process;
  process.setExecDeny(
    rules?.denyPaths ?? [],
    rules?.denyNames ?? [],
    policy.mode === "block" && rules?.action === "kill",
  );
}

function networkSettings(policy: Policy) {
  return {
    mode: policy.mode,
    action: policy.network.action,
    allowLoopback: policy.network.loopback === "allow",
  };
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
