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
import { mapDelete, mapKeys, mapLookup, mapUpdate } from "./libbpf.ts";
import { closeFd } from "./libc.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";

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
export const PROCESS_CONFIG = struct("process_config", 8, {
  action: [0, "u32"],
  rules: [4, "u32"],
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

/** The maps the loader reads and writes. */
export const PROCESS_MAPS = {
  scope_pids: { key: "u32", value: SCOPE_ENTRY },
  scope_root_comms: { key: SCOPE_COMM, value: "u32" },
  deny_exec_files: { key: EXEC_FILE_KEY, value: "u32" },
  deny_exec_paths: { key: EXEC_PATH_KEY, value: "u32" },
  deny_exec_names: { key: SCOPE_COMM, value: "u32" },
  process_config: { key: "u32", value: PROCESS_CONFIG },
  agent_signals: { key: "u32", value: AGENT_SIGNAL },
} as const satisfies Record<string, MapLayout>;

/** `enum process_event_kind`. */
export const ProcessKind = { fork: 1, exec: 2, exit: 3 } as const;

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
  /** A root that is the CI runner: it may also reach scope.runner.allow. */
  runner: 16,
} as const;

const KINDS = namesByValue(ProcessKind);
const NAME_MAX = arrayLength(SCOPE_COMM, "comm") - 1;
const PATH_MAX = arrayLength(EXEC_PATH_KEY, "path") - 1;

/** A process_event in the JSON-lines contract. */
export interface ProcessEvent extends BaseEvent {
  /** Which sensor's event. */
  type: "process_event";
  /** fork (a new process), exec (a new program), exit. */
  kind: "fork" | "exec" | "exit";
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
    event.path = readCString(view, data, pathSize);
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
  } else if (kind === "exit") {
    event.exit_code = view.getInt32(offset + F.exit_code, true);
    event.signal = view.getUint32(offset + F.exit_signal, true);
  }
  return event;
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

/**
 * A file's device as the kernel keeps it in s_dev (MKDEV: major << 20 |
 * minor), from the st_dev stat(2) reports (new_encode_dev: the minor's
 * low byte, the major, then the minor's high bits).
 */
export function kernelDev(statDev: number): number {
  const dev = BigInt(statDev);
  const major = ((dev >> 8n) & 0xfffn) | ((dev >> 32n) & ~0xfffn);
  const minor = (dev & 0xffn) | ((dev >> 12n) & ~0xffn);
  return Number(((major << 20n) | minor) & 0xffffffffn);
}

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
/**
 * The process sensor. It owns the scope maps (`scope_pids`,
 * `scope_root_comms`) that the other sensors reuse by fd.
 */
export class ProcessSensor extends Sensor {
  /** Opens sensor.process from its ELF bytes. */
  constructor(bytes: Uint8Array, options: SensorOptions = {}) {
    super("process", bytes, options);
  }

  /**
   * Creates the scope maps before load, so that the other sensors can be
   * given them and all load side by side. Returns name → fd; the fds are
   * the caller's to close once every sensor is loaded (the objects hold
   * their own references).
   */
  createSharedMaps(): Record<string, number> {
    const fds: Record<string, number> = {};
    try {
      for (const name of ["scope_pids", "scope_root_comms"]) {
        fds[name] = this.object.map(name).createShared();
      }
    } catch (error) {
      Object.values(fds).forEach(closeFd);
      throw error;
    }
    return fds;
  }

  /** The fds of the maps other sensors must share, after load. */
  sharedMaps(): Record<string, number> {
    return {
      scope_pids: this.object.map("scope_pids").fd,
      scope_root_comms: this.object.map("scope_root_comms").fd,
    };
  }

  /** Attaches fork, exec and exit. */
  attach(): void {
    this.attachBySection();
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
    this.writeConfig("process_config", PROCESS_CONFIG, {
      action: kill ? ExecDenyAction.kill : ExecDenyAction.report,
      rules: rules.length,
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

  /** Every pid in the scope map. */
  scopePids(): number[] {
    const keySize = sizeOf(PROCESS_MAPS.scope_pids.key);
    return mapKeys(this.object.map("scope_pids").fd, keySize).map((key) =>
      decodeInt("u32", key)
    );
  }
}
