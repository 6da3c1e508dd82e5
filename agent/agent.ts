/**
 * The agent: loads the sensors, fills the kernel's scope map, keeps the
 * process tree and pumps records from the ring buffers to subscribers.
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import { EVENT_HEADER, TimeFormatter } from "../sensors/event.ts";
import { type AgentEvent, agentEvent } from "../sensors/agent_event.ts";
import type { EventListener, RingfenceEvent } from "../sensors/events.ts";
import {
  decodeFileSystemRecord,
  type FileSystemSensor,
  recordClasses,
  recordInstallScript,
} from "../sensors/file_system.ts";
import { decodeNetworkEvent, type NetworkEvent } from "../sensors/network.ts";
import {
  type AgentSignal,
  decodeProcessEvent,
  ProcessKind,
} from "../sensors/process.ts";
import { decodeDependencyCapture } from "../sensors/dependency_event.ts";
import { decodeGuardEvent, isGuardRecord } from "../sensors/guard_event.ts";
import type { SensorStats } from "../sensors/sensor.ts";
import { cgroup2Mount, type HostFacts, preflight } from "../sensors/system.ts";
import { applyPolicy, compilePolicy, needsFileSensor } from "./compile.ts";
import {
  InstallScriptMarks,
  undoInstallScriptChange,
} from "./install_scripts.ts";
import { type IntegrityPaths, integrityPaths } from "./file_policy.ts";
import { FileWatch } from "./files.ts";
import { DependencyTracker, PACKAGE_MANAGERS } from "./dependencies.ts";
import { resumeAttached } from "./guard.ts";
import { resetRefusedFlow } from "./flow_reset.ts";
import {
  closeSensors,
  type FileEnforcement,
  type LoadedSensors,
  loadSensors,
  sensorList,
} from "./load.ts";
import { listProcesses } from "./procfs.ts";
import { INTEGRITY_INTERVAL_MS, IntegrityCheck } from "./integrity.ts";
import { Adoption, PinnedInstance, removeInstance } from "./pins.ts";
import { ProcessTree } from "./process_tree.ts";
import { scopeRootOf } from "./scope_root.ts";
import { EventPump, type SensorBinding } from "./pump.ts";
import {
  inScope,
  killInScope,
  prepareScope,
  replaceRootNames,
  seedScope,
} from "./scope.ts";
import {
  applyCgroupScope,
  policyCgroups,
  runnerCgroups,
  runningRoots,
  type ScopeCgroup,
  seedCgroups,
} from "./scope_cgroups.ts";
import { readEnviron, scopeRootTest, StepTracker } from "./steps.ts";
import { SysctlGuard } from "./sysctl_guard.ts";
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
   * Whether the policy will have a `files` section, known from its text
   * before it is parsed: sensor.file-system then loads beside the others
   * instead of after the policy's compilation. A wrong `true` costs a load
   * that is closed again; without it, the load waits for the policy.
   */
  filesHint?: boolean | Promise<boolean>;
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
  /**
   * How long the agent sleeps at most once its rings are quiet (default
   * `QUIET_POLL_MS`, agent/pump.ts): the sensors wake it with their next
   * record, so this bounds only a missed wakeup. Tests make it long to see
   * the wakeup work.
   */
  quietPollMs?: number;
  /** resolv.conf to read `resolvers: [system]` from. */
  resolvConf?: string;
  /**
   * The scope map's capacity (processes) instead of the kernel default
   * (65,536): tests fill it to see a full map fail closed.
   */
  scopeCapacity?: number;
  /**
   * In block mode, pin the sensors' links and maps under this instance
   * (agent/pins.ts), so that the kernel keeps enforcing should the agent
   * die; a dead agent's pins of the same instance are adopted.
   */
  pins?: PinOptions;
  /**
   * The policy file and state directory: with the guarded sysctls and
   * /run/ringfence, protected from policed writes whenever
   * sensor.file-system is loaded (agent/file_policy.ts).
   */
  integrity?: IntegrityPaths;
  /**
   * Called once the policy is compiled, while the kernel still verifies
   * the sensors on worker threads (or as soon as it is done): the main
   * thread's own start-up work is over then, and this runs beside the
   * verifier rather than before the agent is armed. What it throws is
   * ignored: it must not fail the start.
   */
  whileLoading?: () => void;
}

/** Where and what an agent pins. */
export interface PinOptions {
  /** The instance: `start-…` or `run-<pid>` (agent/pins.ts). */
  instance: string;
  /** The agent's `--output` file, for `ringfence stop` to recover into. */
  output?: string;
  /** `ringfence start`: its state directory. */
  stateDir?: string;
}

/** Where an agent's pins are. */
export interface PinsInfo {
  /** The instance, e.g. `run-1234`. */
  instance: string;
  /** Its bpffs directory. */
  dir: string;
}

/** What an agent took over from a dead agent's pins. */
export interface AdoptionReport {
  /** The instance. */
  instance: string;
  /** The dead agent's pid, when its pins said. */
  previousPid?: number;
  /** Sensors whose pins were of another layout, replaced rather than reused. */
  replaced: string[];
  /** Records its rings held, delivered before any other. */
  pendingRecords: number;
  /** Refusals the kernel counted since the dead agent's last heartbeat. */
  refused: number;
  /** Kills the kernel counted since then. */
  killed: number;
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
  /** Events handed out after a later one: time order not kept. */
  late: number;
  /** Reads of the rings: how often the agent woke to read them. */
  passes: number;
  /** Per-sensor kernel counters. */
  sensors: Record<string, SensorStats>;
  /** Changes to the agent's links, config maps or scope found (and put
   * back) by its integrity check. */
  tampered: number;
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
  /**
   * The install-script marks in the scope map (agent/install_scripts.ts):
   * set and cleared as package managers' children are classified.
   *
   * @ignore
   */
  readonly installScripts: InstallScriptMarks;
  readonly #sensors: LoadedSensors;
  readonly #files: FileWatch | undefined;
  /**
   * Which dependency's install script each process descends from
   * (agent/dependencies.ts): `onDecide` hears each classification.
   *
   * @ignore
   */
  readonly dependencies: DependencyTracker;
  readonly #resolvConf: string | undefined;
  readonly #pump: EventPump;
  readonly #pinOptions: PinOptions | undefined;
  #pins: PinnedInstance | undefined;
  readonly #integrity: IntegrityCheck;
  #integrityTimer: ReturnType<typeof setInterval> | undefined;
  #checkQueued = false;
  #tampered = 0;
  /** Set when this agent took over a dead agent's pins. */
  adoption: AdoptionReport | undefined;
  readonly #implicit: ReturnType<typeof integrityPaths>;
  readonly #sysctls: SysctlGuard;
  #policy: Policy;
  #cgroupMount = "";
  #runnerCgroups: ScopeCgroup[] = [];
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
    this.#implicit = integrityPaths(options.integrity);
    this.host = host;
    this.#sensors = sensors;
    this.fileEnforcement = sensors.enforcement;
    this.tree = tree;
    this.#files = files;
    const dependencies = this.dependencies = new DependencyTracker(tree);
    const installScripts = this.installScripts = new InstallScriptMarks(
      sensors.process,
      () => this.#policy.dependencies?.installScripts,
    );
    dependencies.onDecide((pid, dependency) =>
      installScripts.decide(pid, dependency)
    );
    const steps = new StepTracker(
      tree,
      scopeRootTest(!!options.spawner, () => this.#policy.scope.processes),
      readEnviron,
      // `run`: what it runs inherits the agent's environment.
      options.spawner
        ? new Map(Object.entries(Deno.env.toObject()))
        : undefined,
      // The read's time, not a clock call per event.
      () => this.#pump?.readAt ?? performance.now(),
    );
    this.#pinOptions = options.pins;
    this.#pump = new EventPump(this.#bind(), tree, (event) => {
      if (event.type === "agent") return;
      steps.annotate(event);
      dependencies.annotate(event);
      if (event.type === "file_system_event") files?.record(event);
      else if (event.type === "process_event") {
        resumeAttached(event);
        if (event.kind === "exit") files?.bulk.noteExit(event);
      } else if (event.type === "file_system_summary") {
        files?.recordSummary(event);
      }
      // A policed process's bpf() call: the maps and links are checked at
      // once (the event's kind comes from the process sensor).
      const { type, kind } = event as { type: string; kind: string };
      if (kind === "bpf" && (type === "process" || type === "process_event")) {
        this.#queueCheck();
      }
    }, { quietPollMs: options.quietPollMs });
    if (files) this.#pump.onRead(() => files.bulk.read());
    this.#integrity = new IntegrityCheck(
      () => sensorList(this.#sensors),
      sensors.process,
      (event) => {
        this.#tampered++;
        this.#pump.emit(event);
      },
      () =>
        this.#pins &&
        ((sensor, program, fd) => this.#pins?.repinLink(sensor, program, fd)),
    );
    this.#sysctls = new SysctlGuard(
      (event) => this.#pump.emit(event),
      () => this.#policy.mode === "block",
    );
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
      compilePolicy(
        policy,
        needsFileSensor(policy),
        options.resolvConf,
        integrityPaths(options.integrity),
      )
    );
    const whileLoading = options.whileLoading;
    if (whileLoading) {
      compiling.then(() => whileLoading()).catch(() => {});
    }
    // The protected files are walked and hashed while the sensors load:
    // their verification runs on worker threads.
    const preparing = compiling.then(({ fileRules }) =>
      fileRules && FileWatch.prepare(fileRules)
    ).catch(() => undefined);
    let host: HostFacts, cgroup: string, sensors: LoadedSensors;
    let adoption: Adoption | undefined;
    try {
      host = preflight();
      cgroup = cgroup2Mount();
      // A live agent's pins are an error before anything loads.
      adoption = options.pins && Adoption.inspect(options.pins.instance);
      sensors = await loadSensors({
        sensorsDir: options.sensorsDir,
        ringSize: options.ringSize,
        scopeCapacity: options.scopeCapacity,
        pins: options.pins && {
          maps: adoption && ((...args) => adoption!.mapsFor(...args)),
        },
        // Without a files section, sensor.file-system is not loaded: its
        // sys_enter hook would cost every syscall of the machine for
        // nothing.
        files: Promise.resolve(options.filesHint).then((hint) =>
          hint || compiling.then(({ fileRules }) => !!fileRules)
        ),
      });
    } catch (error) {
      // A policy that cannot be read or compiled is the first thing to fix.
      await compiling;
      throw error;
    }
    try {
      const compiled = await compiling;
      const { policy } = compiled;
      if (sensors.fileSystem && !compiled.fileRules) {
        // Loaded on a hint the policy did not bear out.
        sensors.fileSystem.close();
        sensors.fileSystem = undefined;
      }
      const { process, network, fileSystem } = sensors;
      applyPolicy(sensors, compiled);
      const files = fileSystem &&
        await FileWatch.start(fileSystem, compiled.fileRules!, preparing);
      prepareScope(
        process,
        !!options.spawner,
        policy.scope.processes,
        policy.scope.runner.processes,
      );
      const cgroups = policyCgroups(cgroup, policy.scope.cgroups ?? []);
      applyCgroupScope(process, cgroups, policy.mode);
      process.setPackageManagers(PACKAGE_MANAGERS);
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
      // start: the runner service's own cgroup is in scope too.
      const roots = options.spawner
        ? []
        : runningRoots(snapshot, policy.scope.processes);
      const runner = runnerCgroups(cgroup, roots);
      if (runner.length) {
        applyCgroupScope(process, [...cgroups, ...runner], policy.mode);
      }
      seedCgroups(process, [...cgroups, ...runner], snapshot, roots);
      const tree = ProcessTree.fromProc(snapshot);
      const agent = new Agent(options, policy, host, sensors, tree, files);
      agent.#cgroupMount = cgroup;
      agent.#runnerCgroups = runner;
      const first: RingfenceEvent[] = adoption ? [agent.#adopt(adoption)] : [];
      if (files) {
        // Fds opened for writing before the sensor saw any open.
        first.push(...files.heldOpen(
          snapshot.filter((entry) => inScope(process, entry.pid))
            .map((entry) => entry.pid),
          (pid) => {
            const node = tree.get(pid);
            return node && { comm: node.comm, exe: node.path };
          },
        ));
        // Findings of the start (a protected file with several names) go
        // out first; later ones as they are made. Those with an event of
        // their own (file_integrity) are not announced twice.
        first.push(
          ...files.findings.announced().map((finding) =>
            agentEvent("file", { finding })
          ),
        );
        // After the event that led to it, when there is one.
        files.findings.onAdd = (finding) =>
          queueMicrotask(() =>
            agent.#pump.emit(agentEvent("file", { finding }))
          );
      }
      // New links are attached: a dead agent's pins can go (an overlap,
      // never a gap), and in block mode this agent's are pinned.
      agent.#pinIfBlocking();
      if (adoption && !agent.#pins) removeInstance(adoption.state.name);
      const timer = agent.#integrityTimer = setInterval(
        () => agent.#checkIntegrity(),
        INTEGRITY_INTERVAL_MS,
      );
      Deno.unrefTimer(timer);
      agent.#pump.start(first);
      agent.#sysctls.start();
      files?.arm({
        emit: (event) => agent.#pump.emit(event),
        flush: () => agent.flush(),
        log: (line) => console.error(line),
      });
      return agent;
    } catch (error) {
      closeSensors(sensors);
      throw error;
    }
  }

  /** What a dead agent's pins held, as the event `adopted` says it. */
  #adopt(adoption: Adoption): AgentEvent {
    const { state } = adoption;
    let pendingRecords = 0, refused = 0, killed = 0;
    for (const sensor of sensorList(this.#sensors)) {
      if (!state.layouts[sensor.name]) continue;
      if (adoption.replaced.includes(sensor.name)) continue;
      pendingRecords += sensor.ring.pendingRecords();
      const now = sensor.stats();
      const then = state.heartbeat?.stats[sensor.name];
      refused += now.refused - (then?.refused ?? 0);
      killed += now.killed - (then?.killed ?? 0);
    }
    this.adoption = {
      instance: state.name,
      previousPid: state.owner?.pid,
      replaced: adoption.replaced,
      pendingRecords,
      refused,
      killed,
    };
    return agentEvent("adopted", {
      instance: state.name,
      previous_pid: state.owner?.pid,
      pending_records: pendingRecords,
      refused,
      killed,
    });
  }

  /** Pins the sensors when asked to and the policy blocks, once. */
  #pinIfBlocking(): void {
    const options = this.#pinOptions;
    if (!options || this.#pins || this.#policy.mode !== "block") return;
    this.#pins = PinnedInstance.pin(
      options.instance,
      sensorList(this.#sensors),
      {
        mode: this.#policy.mode,
        output: options.output,
        stateDir: options.stateDir,
      },
      this.#sensors.layouts,
    );
  }

  /** The pins this agent holds, when it pins. */
  get pins(): PinsInfo | undefined {
    return this.#pins && { instance: this.#pins.name, dir: this.#pins.dir };
  }

  /**
   * Checks the agent's links, config maps and scope entries now, repairs
   * what was changed and reports it (`{"type":"agent","kind":"tamper"}`);
   * returns those events. It runs every second by itself.
   */
  checkIntegrity(): AgentEvent[] {
    return this.#checkIntegrity();
  }

  #checkIntegrity(): AgentEvent[] {
    if (this.#stopped) return [];
    const found = this.#integrity.check();
    this.#files?.check();
    try {
      this.#pins?.heartbeat(sensorList(this.#sensors));
    } catch { /* the next beat */ }
    return found;
  }

  #queueCheck(): void {
    if (this.#checkQueued) return;
    this.#checkQueued = true;
    setTimeout(() => {
      this.#checkQueued = false;
      this.#checkIntegrity();
    }, 0);
  }

  /** The sensors loaded, by short name, e.g. `["process", "network"]`. */
  get sensors(): string[] {
    return sensorList(this.#sensors).map((sensor) => sensor.name);
  }

  /**
   * sensor.file-system, when the policy has a `files` section (tests put
   * files known by device and inode in it).
   *
   * @ignore
   */
  get fileSystemSensor(): FileSystemSensor | undefined {
    return this.#sensors.fileSystem;
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
    const compiled = compilePolicy(
      policy,
      !!this.#files,
      this.#resolvConf,
      this.#implicit,
    );
    const cgroups = policyCgroups(this.#cgroupMount, policy.scope.cgroups ?? [])
      .concat(this.#runnerCgroups);
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
    applyCgroupScope(this.#sensors.process, cgroups, policy.mode);
    if (cgroups.length) {
      const snapshot = listProcesses();
      const roots = runningRoots(snapshot, policy.scope.processes);
      seedCgroups(this.#sensors.process, cgroups, snapshot, roots);
    }
    this.#policy = policy;
    // A policy that now blocks keeps blocking should the agent die.
    this.#pinIfBlocking();
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
   * Calls `commit` before ring space is given back to the kernel, after
   * the subscribers had the events of its records: a subscriber that keeps
   * events writes them out there, so that a `kill -9` of the agent loses
   * none. Returns a function that unsubscribes.
   */
  onCommit(commit: () => void): () => void {
    return this.#pump.onCommit(commit);
  }

  /**
   * Hands out every record the kernel has produced so far. Call it after a
   * watched command exits to be sure its last events are delivered.
   */
  flush(): number {
    return this.#pump.flush();
  }

  /**
   * The policed processes that signalled the agent, as the kernel recorded
   * them (`agent_signals`), until the agent stops.
   */
  agentSignals(): AgentSignal[] {
    return this.#stopped ? [] : this.#sensors.process.agentSignals();
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
    const { events, processes, blocked, wouldBlock, late, passes } =
      this.#pump.counts;
    return {
      events,
      drops,
      scopeFull,
      processes,
      blocked,
      wouldBlock,
      late,
      passes,
      sensors,
      tampered: this.#tampered,
    };
  }

  /** Delivers what is pending, then detaches every sensor. Idempotent. */
  stop(): Promise<void> {
    return this.#stopped ??= this.#stop();
  }

  async #stop(): Promise<void> {
    clearInterval(this.#integrityTimer);
    this.#sysctls.stop();
    await this.#pump.stop();
    this.flush();
    // Bulk summaries of the processes still counting, and of the last exits.
    for (const summary of this.#files?.bulk.finish() ?? []) {
      this.#pump.emit(summary);
    }
    // Checked-out files changed by a path no event gave as theirs.
    for (const event of this.#files?.sweepSources() ?? []) {
      this.#pump.emit(event);
    }
    this.#finalStats = this.stats();
    await this.#files?.finish();
    // Unpinned first: destroying the links then detaches the programs.
    this.#pins?.remove();
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
        view.getUint8(offset + EVENT_HEADER.fields.kind) ===
            ProcessKind.dependency
          // Classified before the exec record that follows it: the
          // events of the script carry its package from the first.
          ? void this.dependencies.capture(
            decodeDependencyCapture(view, offset, time),
          )
          : isGuardRecord(view, offset)
          ? decodeGuardEvent(
            view,
            offset,
            time,
            (pid) => this.tree.get(pid)?.comm,
          )
          : decodeProcessEvent(view, offset, time, process.denyRules),
    }, {
      sensor: network,
      decode: (view, offset) =>
        this.#describeProcess(
          resetRefusedFlow(decodeNetworkEvent(view, offset, time)),
        ),
    }];
    if (fileSystem && files) {
      const kill = (pid: number) => killInScope(process, pid);
      bindings.push({
        sensor: fileSystem,
        decode: (view, offset) => {
          const event = files.rules.complete(
            decodeFileSystemRecord(view, offset, time),
            recordClasses(view, offset),
            recordInstallScript(view, offset),
            kill,
          );
          const exe = event && this.tree.get(event.pid)?.path;
          if (exe) event.exe = exe;
          if (event) undoInstallScriptChange(event);
          if (event && this.#guards(event.path, event.new_path)) {
            event.integrity = true;
          }
          return event;
        },
      });
    }
    return bindings;
  }

  /** Whether a path is one the agent's integrity rests on. */
  #guards(path: string, newPath?: string): boolean {
    const implicit = this.#implicit;
    for (let index = 0; index < implicit.length; index++) {
      const pattern = implicit[index];
      if (
        pattern.matches(path) ||
        (newPath !== undefined && pattern.matches(newPath))
      ) return true;
    }
    return false;
  }

  /** Adds what the tree knows of the process: its executable and ancestry. */
  #describeProcess(event: NetworkEvent): NetworkEvent {
    const node = this.tree.get(event.pid);
    if (node?.path) event.exe = node.path;
    const ancestors = this.tree.ancestors(
      event.pid,
      MAX_ANCESTORS,
      scopeRootOf(this.#sensors.process, this.tree, event.pid),
      Deno.pid,
    );
    if (ancestors.length) {
      event.ancestors = ancestors.map(({ pid, comm }) => ({ pid, comm }));
    }
    return event;
  }
}
