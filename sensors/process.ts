/**
 * sensor.process: fork, exec and exit of the processes in scope, and the
 * kernel-side scope maps every other sensor shares.
 *
 * @module
 */

import {
  type BaseEvent,
  decodeHeader,
  EVENT_HEADER,
  headerFlags,
  readCString,
  readStringList,
  type TimeFormatter,
} from "./event.ts";
import {
  arrayLength,
  decodeInt,
  decodeStruct,
  encodeInt,
  encodeStruct,
  type MapLayout,
  namesByValue,
  sizeOf,
  struct,
} from "./layout.ts";
import { kernelDev } from "./device.ts";
import { mapDelete, mapKeys, mapLookup, mapUpdate } from "./libbpf.ts";
import { closeFd } from "./libc.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";
import { SYSCALL_CHAINS } from "./syscall_chain.ts";

/** Where the syscall chains' dispatchers attach. */
const CHAIN_HOOKS = new Set(["raw_tp/sys_enter", "raw_tp/sys_exit"]);

/** `struct process_event` (bpf/process.h). */
export const PROCESS_EVENT = struct("process_event", 4176, {
  header: [0, EVENT_HEADER],
  exit_code: [56, "s32"],
  exit_signal: [60, "u32"],
  path_size: [64, "u32"],
  argv_size: [68, "u32"],
  file_size: [72, "u32"],
  rule: [76, "u32"],
  data: [80, ["char", 4096]],
});

/** `struct scope_entry` (bpf/lib/scope.h): the value of `scope_pids`. */
export const SCOPE_ENTRY = struct("scope_entry", 8, {
  flags: [0, "u32"],
  root_pid: [4, "u32"],
});

/** `struct scope_comm` (bpf/lib/scope.h): a process name as a map key. */
export const SCOPE_COMM = struct("scope_comm", 16, {
  comm: [0, ["char", 16]],
});

/** `struct exec_path_key`: a forbidden executable's full path. */
export const EXEC_PATH_KEY = struct("exec_path_key", 512, {
  path: [0, ["char", 512]],
});

/** `struct exec_file_key`: a forbidden executable's (s_dev, i_ino). */
export const EXEC_FILE_KEY = struct("exec_file_key", 16, {
  dev: [0, "u32"],
  pad: [4, "u32"],
  ino: [8, "u64"],
});

/** `struct process_config`: the one value of `process_config`. */
export const PROCESS_CONFIG = struct("process_config", 12, {
  action: [0, "u32"],
  rules: [4, "u32"],
  dep_pending: [8, "u32"],
});

/** `struct agent_signal`: a policed process's signals to the agent. */
export const AGENT_SIGNAL = struct("agent_signal", 48, {
  time_ns: [0, "u64"],
  sender_pid: [8, "u32"],
  sender_root: [12, "u32"],
  target_pid: [16, "u32"],
  signal: [20, "u32"],
  count: [24, "u32"],
  uid: [28, "u32"],
  comm: [32, ["char", 16]],
});

/** `struct guard_config`: the one value of `guard_config`. */
export const GUARD_CONFIG = struct("guard_config", 16, {
  memory: [0, "u32"],
  bpf: [4, "u32"],
  signal: [8, "u32"],
  pad: [12, "u32"],
});

/** `struct scope_untracked` (bpf/lib/scope_overflow.h). */
export const SCOPE_UNTRACKED = struct("scope_untracked", 8, {
  parent_pid: [0, "u32"],
  state: [4, "u32"],
});

/** The maps the loader reads and writes. */
export const PROCESS_MAPS = {
  scope_pids: { key: "u32", value: SCOPE_ENTRY },
  scope_root_comms: { key: SCOPE_COMM, value: "u32" },
  deny_exec_files: { key: EXEC_FILE_KEY, value: "u32" },
  deny_exec_paths: { key: EXEC_PATH_KEY, value: "u32" },
  deny_exec_names: { key: SCOPE_COMM, value: "u32" },
  process_config: { key: "u32", value: PROCESS_CONFIG },
  agent_signals: { key: "u32", value: AGENT_SIGNAL },
  guard_config: { key: "u32", value: GUARD_CONFIG },
  scope_cgroups: { key: "u64", value: "u32" },
  scope_state: { key: "u32", value: "u32" },
  scope_untracked: { key: "u32", value: SCOPE_UNTRACKED },
  dep_manager_comms: { key: SCOPE_COMM, value: "u32" },
} as const satisfies Record<string, MapLayout>;

/** `enum process_event_kind`. */
export const ProcessKind = {
  fork: 1,
  exec: 2,
  exit: 3,
  /** another process's memory reached for (sensors/guard_event.ts) */
  memoryAccess: 4,
  /** a bpf() call */
  bpf: 5,
  /** a signal to the agent */
  signal: 6,
  untracked: 7,
  /** the exec of a package manager's child (sensors/dependency_event.ts) */
  dependency: 8,
} as const;

/** `enum guard_action`: what a guard check does (guard_config). */
export const GuardAction = { off: 0, report: 1, kill: 2 } as const;

/** What the guard does for each kind of call, as the policy decides. */
export interface GuardSettings {
  /** Another process's memory (`runner.memory`). */
  memory: keyof typeof GuardAction;
  /** Any bpf() call (`runner.bpf`). */
  bpf: keyof typeof GuardAction;
  /** Signals to the agent. */
  signal: keyof typeof GuardAction;
}

/** `enum process_event_flag`: header.flags of a process_event. */
export const ProcessFlag = {
  pathTruncated: 1,
  argvTruncated: 2,
  /** exec of a process that became a scope root by its name */
  scopeRoot: 4,
  /** exec of a program in `process.deny` */
  denied: 8,
  /** ... and the new image was sent SIGKILL */
  killed: 16,
  /** the denied program was mapped executable by a loader (`ld.so PROG`) */
  loader: 32,
  /** the denied program's resolved path was cut */
  fileTruncated: 64,
} as const;

/** `enum exec_deny_action`: process_config.action. */
export const ExecDenyAction = { report: 0, kill: 1 } as const;

/** `enum scope_flag` (bpf/lib/scope.h): the flags of a scope entry. */
export const ScopeFlag = {
  /** Watched; children inherit it at fork. */
  monitored: 1,
  /**
   * A long-lived scope root (the runner, the container runtime): never
   * killed, its exec and file rules reported only; its connections are
   * judged.
   */
  exempt: 2,
  /** The agent in `ringfence run`: not watched, but what it forks is. */
  spawner: 4,
  /** The agent itself, in either mode: protected from policed processes. */
  agent: 8,
  /** Joined at fork by its cgroup: its first exec may make it a root. */
  byCgroup: 16,
  /** A root that is the CI runner: it may also reach scope.runner.allow. */
  runner: 32,
  /** Spawned by a package manager, not yet classified: judged as an
   * install script until the agent decides (inherited). */
  depPending: 64,
  /** An install script that dependencies.install_scripts applies to
   * (inherited). */
  dependency: 128,
  /** A dependency's install or build script, whatever the rule says
   * (inherited): its changes under bulk directories are never counted. */
  depScript: 256,
} as const;

/** `enum scope_state_key` (bpf/lib/scope_cgroup.h): scope_state's switches. */
export const ScopeState = { cgroups: 0, block: 1, overflow: 2 } as const;

/** `enum scope_cgroup_source`: why a cgroup is in scope_cgroups. */
export const ScopeCgroupSource = { policy: 1, runner: 2 } as const;

/** `enum untracked_state`: scope_untracked's state bits. */
export const UntrackedState = { reported: 1, killed: 2 } as const;

const KINDS = namesByValue(ProcessKind);
const NAME_MAX = arrayLength(SCOPE_COMM, "comm") - 1;
const PATH_MAX = arrayLength(EXEC_PATH_KEY, "path") - 1;

/** A process_event in the JSON-lines contract. */
export interface ProcessEvent extends BaseEvent {
  /** Which sensor's event. */
  type: "process_event";
  /** fork (a new process), exec (a new program), exit. */
  kind: "fork" | "exec" | "exit" | "untracked";
  /** exec: the executable as passed to execve (relative if it was). */
  path?: string;
  /** exec: the arguments, cut at the sensor's limit (`PROCESS_ARGV_MAX`). */
  argv?: string[];
  /** exec: set when argv was longer than what was captured. */
  argv_truncated?: boolean;
  /** exec: set when the path was longer than what was captured. */
  path_truncated?: boolean;
  /** exec: this process became a scope root by its name. */
  scope_root?: boolean;
  /** exec of a privilege tool (sudo, su, pkexec, doas) under
   * `runner.sudo: deny`: `disabled` when the runner user's sudo rights
   * were taken away at the time, `audit` when block mode would have. */
  sudo?: "disabled" | "audit";
  /** exec of a program in `process.deny`: `deny` when it was killed,
   * `audit` when block mode would have killed it. */
  verdict?: "deny" | "audit";
  /** exec: the new image was sent SIGKILL before its first instruction. */
  killed?: boolean;
  /** Denied exec: the `process.deny` rule that matched. */
  rule?: string;
  /** Denied exec: the program's path as the kernel resolved it (the file
   * executed, whatever name reached it). */
  file?: string;
  /** Denied exec: set when `file` was longer than what was captured. */
  file_truncated?: boolean;
  /** Denied exec: how the program came to run: `exec` (execve, execveat)
   * or `loader` (mapped executable by another program, as `ld.so PROG`
   * does; `path` is then the program mapped). */
  reason?: "exec" | "loader";
  /** exit: the status passed to exit(), or 0 when a signal ended it. */
  exit_code?: number;
  /** exit: the signal that ended the process, or 0. */
  signal?: number;
  /** untracked (a process the full scope map could not hold; `ppid` forked
   * it): `killed` in block mode, `audit` when only reported. */
  action?: "killed" | "audit";
}

const F = PROCESS_EVENT.fields;

/**
 * Decodes one sensor.process record; `rules` names a denied exec's rule
 * (ProcessSensor.denyRules).
 */
export function decodeProcessEvent(
  view: DataView,
  offset: number,
  time: TimeFormatter,
  rules: readonly string[] = [],
): ProcessEvent {
  const kind = KINDS[view.getUint8(offset + EVENT_HEADER.fields.kind)] ??
    "exec";
  const event = decodeHeader(
    view,
    offset,
    "process_event",
    kind,
    time,
  ) as ProcessEvent;
  if (kind === "exec") {
    const flags = headerFlags(view, offset);
    const pathSize = view.getUint32(offset + F.path_size, true);
    const argvSize = view.getUint32(offset + F.argv_size, true);
    const data = offset + F.data;
    event.path = readCString(view, data, pathSize, true);
    event.argv = readStringList(view, data + pathSize, argvSize);
    if (flags & ProcessFlag.argvTruncated) event.argv_truncated = true;
    if (flags & ProcessFlag.pathTruncated) event.path_truncated = true;
    if (flags & ProcessFlag.scopeRoot) event.scope_root = true;
    if (flags & ProcessFlag.denied) {
      event.verdict = flags & ProcessFlag.killed ? "deny" : "audit";
      if (flags & ProcessFlag.killed) event.killed = true;
      const rule = rules[view.getUint32(offset + F.rule, true)];
      if (rule !== undefined) event.rule = rule;
      const fileSize = view.getUint32(offset + F.file_size, true);
      event.file = readCString(view, data + pathSize + argvSize, fileSize);
      if (flags & ProcessFlag.fileTruncated) event.file_truncated = true;
      event.reason = flags & ProcessFlag.loader ? "loader" : "exec";
    }
  } else if (kind === "untracked") {
    const flags = headerFlags(view, offset);
    event.action = flags & ProcessFlag.killed ? "killed" : "audit";
  } else if (kind === "exit") {
    event.exit_code = view.getInt32(offset + F.exit_code, true);
    event.signal = view.getUint32(offset + F.exit_signal, true);
  }
  return event;
}

/** A sender's record in `agent_signals`. */
export interface AgentSignal {
  /** CLOCK_BOOTTIME of the last signal, in nanoseconds. */
  timeNs: bigint;
  /** The sender. */
  senderPid: number;
  /** The scope root the sender descends from. */
  senderRoot: number;
  /** The agent's pid the last one went to. */
  targetPid: number;
  /** The last signal's number. */
  signal: number;
  /** Signals this sender sent. */
  count: number;
  /** The sender's real uid. */
  uid: number;
  /** The sender's command name. */
  comm: string;
}

/** A process's entry in the kernel's scope map. */
export interface ScopeEntry {
  /** ScopeFlag bits. */
  flags: number;
  /** The scope root it descends from. */
  rootPid: number;
}

function pidKey(pid: number): Uint8Array<ArrayBuffer> {
  return encodeInt("u32", pid);
}

function pathKey(path: string): Uint8Array<ArrayBuffer> {
  if (new TextEncoder().encode(path).length > PATH_MAX) {
    throw new Error(`path "${path}" is longer than ${PATH_MAX} bytes`);
  }
  return encodeStruct(EXEC_PATH_KEY, { path });
}

function commKey(comm: string): Uint8Array<ArrayBuffer> {
  if (new TextEncoder().encode(comm).length > NAME_MAX) {
    throw new Error(`process name "${comm}" is longer than ${NAME_MAX} bytes`);
  }
  return encodeStruct(SCOPE_COMM, { comm });
}

/** A present key's value in the maps used as sets. */
const PRESENT = encodeInt("u32", 0);

/** One `process.deny` rule, as the kernel matches it. */
export interface ExecDenyRule {
  /** The rule as the policy writes it; events name it. */
  rule: string;
  /** Files it forbids, by (st_dev, st_ino) as stat(2) reports them. */
  files: { dev: number; ino: number }[];
  /** Full paths the kernel may resolve an exec of it to. */
  paths: string[];
  /** File names (at most 15 bytes), matched on the executed file's name
   * and the name it was invoked by. */
  names: string[];
}
/** How to open the process sensor. */
export interface ProcessSensorOptions extends SensorOptions {
  /** scope_pids' capacity instead of `SCOPE_MAX_PROCESSES` (tests fill
   * it to see a full scope map fail closed). */
  scopeCapacity?: number;
}

/** The maps the process sensor owns and the other sensors reuse by fd. */
const SHARED_MAPS = ["scope_pids", "scope_root_comms", ...SYSCALL_CHAINS];

/**
 * The process sensor. It owns the scope maps (`scope_pids`,
 * `scope_root_comms`) and the syscall chains (sensors/syscall_chain.ts)
 * that the other sensors reuse by fd.
 */
export class ProcessSensor extends Sensor {
  /** Opens sensor.process from its ELF bytes. */
  constructor(bytes: Uint8Array, options: ProcessSensorOptions = {}) {
    super("process", bytes, options);
    if (options.scopeCapacity !== undefined) {
      try {
        this.object.map("scope_pids").setMaxEntries(options.scopeCapacity);
      } catch (error) {
        this.object.close();
        throw error;
      }
    }
  }

  /**
   * Creates the scope maps before load, so that the other sensors can be
   * given them and all load side by side. Returns name → fd; the fds are
   * the caller's to close once every sensor is loaded (the objects hold
   * their own references). Maps in `reused` (given as `sharedMaps` at
   * open) are returned as they are, not created.
   */
  createSharedMaps(
    reused: Readonly<Record<string, number>> = {},
  ): Record<string, number> {
    const fds: Record<string, number> = {};
    try {
      for (const name of SHARED_MAPS) {
        // A map given to reuse (pinned) is the caller's to close already.
        if (reused[name] !== undefined) continue;
        fds[name] = this.object.map(name).createShared();
      }
    } catch (error) {
      Object.values(fds).forEach(closeFd);
      throw error;
    }
    for (const name of SHARED_MAPS) {
      if (reused[name] !== undefined) fds[name] = reused[name];
    }
    return fds;
  }

  /** The fds of the maps other sensors must share, after load. */
  sharedMaps(): Record<string, number> {
    return Object.fromEntries(
      SHARED_MAPS.map((name) => [name, this.object.map(name).fd]),
    );
  }

  /**
   * Attaches fork, exec, exit and the rest; its raw_tp/sys_enter and
   * raw_tp/sys_exit programs are the agent's only ones there, which run
   * the other sensors' through the syscall chains.
   */
  attach(): void {
    this.attachBySection();
  }

  /**
   * Detaches the syscall chains' dispatchers (its raw_tp/sys_enter and
   * raw_tp/sys_exit programs): no program in a chain's slot runs after.
   */
  detachChains(): void {
    this.detach((link) => CHAIN_HOOKS.has(link.target));
  }

  /**
   * Makes processes that exec under this name scope roots; `runner` makes
   * them runner roots ({@linkcode ScopeFlag.runner}).
   */
  addRootName(comm: string, runner = false): void {
    mapUpdate(
      this.object.map("scope_root_comms").fd,
      commKey(comm),
      runner ? encodeInt("u32", ScopeFlag.runner) : PRESENT,
    );
  }

  /** Stops making processes of this name scope roots. */
  removeRootName(comm: string): void {
    mapDelete(this.object.map("scope_root_comms").fd, commKey(comm));
  }

  #denyRules: readonly string[] = [];

  /** The rules of the last setExecDeny(), by the index events carry. */
  get denyRules(): readonly string[] {
    return this.#denyRules;
  }

  /**
   * Replaces the forbidden programs. With `kill`, an exec of one, or its
   * mapping by a loader, is killed before its first instruction; otherwise
   * it is only reported (verdict audit).
   */
  setExecDeny(rules: readonly ExecDenyRule[], kill: boolean): void {
    // All encoded first: a path or name too long changes nothing.
    const entries = (
      keys: (rule: ExecDenyRule) => Uint8Array<ArrayBuffer>[],
    ) =>
      rules.flatMap((rule, index) =>
        keys(rule).map((key) => ({ key, value: encodeInt("u32", index) }))
      );
    const byFile = entries((rule) =>
      rule.files.map(({ dev, ino }) =>
        encodeStruct(EXEC_FILE_KEY, { dev: kernelDev(dev), pad: 0, ino })
      )
    );
    const byPath = entries((rule) => rule.paths.map(pathKey));
    const byName = entries((rule) => rule.names.map(commKey));
    const clear = { addFirst: false };
    const maps = PROCESS_MAPS;
    this.#denyRules = rules.map(({ rule }) => rule);
    this.replaceEntries("deny_exec_files", maps.deny_exec_files, byFile, clear);
    this.replaceEntries("deny_exec_paths", maps.deny_exec_paths, byPath, clear);
    this.replaceEntries("deny_exec_names", maps.deny_exec_names, byName, clear);
    this.#execDeny = { kill, rules: rules.length };
    this.#writeProcessConfig();
  }

  #execDeny = { kill: false, rules: 0 };
  #depPending = false;

  #writeProcessConfig(): void {
    this.writeConfig("process_config", PROCESS_CONFIG, {
      action: this.#execDeny.kill ? ExecDenyAction.kill : ExecDenyAction.report,
      rules: this.#execDeny.rules,
      dep_pending: this.#depPending ? 1 : 0,
    });
  }

  /**
   * Package managers by name (bpf/lib/dependency.h): the exec of a child
   * of a process whose name, cut at its first space, dot or digit, is one
   * of these sends a dependency record (sensors/dependency_event.ts).
   */
  setPackageManagers(names: readonly string[]): void {
    const entries = names.map((name) => ({
      key: commKey(name),
      value: PRESENT,
    }));
    this.replaceEntries(
      "dep_manager_comms",
      PROCESS_MAPS.dep_manager_comms,
      entries,
      { addFirst: true },
    );
  }

  /**
   * With `on`, a package manager's child is marked
   * {@linkcode ScopeFlag.depPending} at exec, until the agent has decided
   * whether it is an install script: dependencies.install_scripts judges
   * it as one meanwhile, and the bulk summary sends its changes one by one.
   */
  setDependencyPending(on: boolean): void {
    this.#depPending = on;
    this.#writeProcessConfig();
  }

  /**
   * Sets what the guard does when a policed process reaches for another
   * process's memory, calls bpf() or signals the agent (bpf/lib/guard.h).
   */
  setGuard(settings: GuardSettings): void {
    this.writeConfig("guard_config", GUARD_CONFIG, {
      memory: GuardAction[settings.memory],
      bpf: GuardAction[settings.bpf],
      signal: GuardAction[settings.signal],
      pad: 0,
    });
  }

  /** Every sender of a signal to the agent the kernel has recorded. */
  agentSignals(): AgentSignal[] {
    const fd = this.object.map("agent_signals").fd;
    return mapKeys(fd, 4).flatMap((key) => {
      const value = new Uint8Array(AGENT_SIGNAL.size);
      if (!mapLookup(fd, new Uint8Array(key), value)) return [];
      const record = decodeStruct(AGENT_SIGNAL, value);
      return [{
        timeNs: record.time_ns,
        senderPid: record.sender_pid,
        senderRoot: record.sender_root,
        targetPid: record.target_pid,
        signal: record.signal,
        count: record.count,
        uid: record.uid,
        comm: new TextDecoder().decode(record.comm).replace(/\0.*$/s, ""),
      }];
    });
  }

  /** Puts a process in scope. */
  setScope(pid: number, entry: ScopeEntry): void {
    mapUpdate(
      this.object.map("scope_pids").fd,
      pidKey(pid),
      encodeStruct(SCOPE_ENTRY, {
        flags: entry.flags,
        root_pid: entry.rootPid,
      }),
    );
  }

  /** A process's scope entry, or undefined when it is not in scope. */
  scopeOf(pid: number): ScopeEntry | undefined {
    const value = new Uint8Array(SCOPE_ENTRY.size);
    if (!mapLookup(this.object.map("scope_pids").fd, pidKey(pid), value)) {
      return undefined;
    }
    const { flags, root_pid } = decodeStruct(SCOPE_ENTRY, value);
    return { flags, rootPid: root_pid };
  }

  /** Takes a process out of scope. */
  removeScope(pid: number): void {
    mapDelete(this.object.map("scope_pids").fd, pidKey(pid));
  }

  /**
   * Replaces the scope cgroups: cgroup v2 id (the directory's inode
   * number) → {@linkcode ScopeCgroupSource}. New entries go in before
   * stale ones go out.
   */
  setScopeCgroups(cgroups: ReadonlyMap<bigint, number>): void {
    const entries = [...cgroups].map(([id, source]) => ({
      key: encodeInt("u64", id),
      value: encodeInt("u32", source),
    }));
    this.replaceEntries(
      "scope_cgroups",
      PROCESS_MAPS.scope_cgroups,
      entries,
      { addFirst: true },
    );
    this.#setState(ScopeState.cgroups, cgroups.size > 0);
  }

  /** Block mode: a process the full scope map cannot hold is killed. */
  setScopeBlock(block: boolean): void {
    this.#setState(ScopeState.block, block);
  }

  /** Whether the scope map was full at least once. */
  scopeOverflowed(): boolean {
    const value = new Uint8Array(4);
    const fd = this.object.map("scope_state").fd;
    return mapLookup(fd, encodeInt("u32", ScopeState.overflow), value) &&
      decodeInt("u32", value) !== 0;
  }

  #setState(key: number, on: boolean): void {
    mapUpdate(
      this.object.map("scope_state").fd,
      encodeInt("u32", key),
      encodeInt("u32", on ? 1 : 0),
    );
  }

  /** Every pid in the scope map. */
  scopePids(): number[] {
    const keySize = sizeOf(PROCESS_MAPS.scope_pids.key);
    return mapKeys(this.object.map("scope_pids").fd, keySize).map((key) =>
      decodeInt("u32", key)
    );
  }
}
