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
  type StructLayout,
  type TimeFormatter,
} from "./event.ts";
import { BPF_ANY, mapDelete, mapKeys, mapLookup, mapUpdate } from "./libbpf.ts";
import { closeFd } from "./libc.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";

/** `struct process_event` (bpf/process.h). */
export const PROCESS_EVENT = {
  name: "process_event",
  size: 4168,
  fields: {
    header: 0,
    exit_code: 56,
    exit_signal: 60,
    path_size: 64,
    argv_size: 68,
    data: 72,
  },
} as const satisfies StructLayout;

/** `struct scope_entry` (bpf/lib/scope.h). */
export const SCOPE_ENTRY = {
  name: "scope_entry",
  size: 8,
  fields: { flags: 0, root_pid: 4 },
} as const satisfies StructLayout;

/** Bytes of argv the sensor captures; longer command lines are cut. */
export const ARGV_CAPTURE_BYTES = 1024;
/** Bytes of the executable path the sensor captures, with its NUL. */
export const PATH_CAPTURE_BYTES = 512;

const KINDS = ["", "fork", "exec", "exit"] as const;
const FLAG_PATH_TRUNCATED = 1;
const FLAG_ARGV_TRUNCATED = 2;
const FLAG_SCOPE_ROOT = 4;
const FLAG_DENIED = 8;
const FLAG_KILLED = 16;

/** Scope flags (SCOPE_* in bpf/lib/scope.h). */
export const ScopeFlag = {
  /** Watched; children inherit it at fork. */
  monitored: 1,
  /** A long-lived scope root: reported, never blocked. */
  exempt: 2,
  /** The agent in `ringfence run`: not watched, but what it forks is. */
  spawner: 4,
} as const;

/** A process_event in the JSON-lines contract. */
export interface ProcessEvent extends BaseEvent {
  /** Which sensor's event. */
  type: "process_event";
  /** fork (a new process), exec (a new program), exit. */
  kind: "fork" | "exec" | "exit";
  /** exec: the executable as passed to execve (relative if it was). */
  path?: string;
  /** exec: the arguments, cut at {@linkcode ARGV_CAPTURE_BYTES}. */
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
  /** exit: the status passed to exit(), or 0 when a signal ended it. */
  exit_code?: number;
  /** exit: the signal that ended the process, or 0. */
  signal?: number;
}

const F = PROCESS_EVENT.fields;

/** Decodes one sensor.process record. */
export function decodeProcessEvent(
  view: DataView,
  offset: number,
  time: TimeFormatter,
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
    if (flags & FLAG_ARGV_TRUNCATED) event.argv_truncated = true;
    if (flags & FLAG_PATH_TRUNCATED) event.path_truncated = true;
    if (flags & FLAG_SCOPE_ROOT) event.scope_root = true;
    if (flags & FLAG_DENIED) {
      event.verdict = flags & FLAG_KILLED ? "deny" : "audit";
      if (flags & FLAG_KILLED) event.killed = true;
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
  return new Uint8Array(new Uint32Array([pid]).buffer);
}

function pathKey(path: string): Uint8Array<ArrayBuffer> {
  const key = new Uint8Array(PATH_CAPTURE_BYTES);
  const bytes = new TextEncoder().encode(path);
  if (bytes.length >= PATH_CAPTURE_BYTES) {
    throw new Error(
      `path "${path}" is longer than ${PATH_CAPTURE_BYTES - 1} bytes`,
    );
  }
  key.set(bytes);
  return key;
}

function commKey(comm: string): Uint8Array<ArrayBuffer> {
  const key = new Uint8Array(16);
  const bytes = new TextEncoder().encode(comm);
  if (bytes.length > 15) {
    throw new Error(`process name "${comm}" is longer than 15 bytes`);
  }
  key.set(bytes);
  return key;
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

  /** Makes processes that exec under this name scope roots. */
  addRootName(comm: string): void {
    mapUpdate(
      this.object.map("scope_root_comms").fd,
      commKey(comm),
      new Uint8Array(4),
    );
  }

  /** Stops making processes of this name scope roots. */
  removeRootName(comm: string): void {
    mapDelete(this.object.map("scope_root_comms").fd, commKey(comm));
  }

  /**
   * Replaces the forbidden programs: full `paths`, and `names` matched on
   * the kernel's comm (the file name cut at 15 bytes). With `kill`, an exec
   * of one is killed before its first instruction; otherwise it is only
   * reported (verdict audit).
   */
  setExecDeny(paths: string[], names: string[], kill: boolean): void {
    const replace = (map: string, size: number, keys: Uint8Array[]) => {
      const fd = this.object.map(map).fd;
      for (const key of mapKeys(fd, size)) {
        mapDelete(fd, new Uint8Array(key));
      }
      for (const key of keys) {
        mapUpdate(fd, key as Uint8Array<ArrayBuffer>, new Uint8Array(4));
      }
    };
    replace("deny_exec_paths", PATH_CAPTURE_BYTES, paths.map(pathKey));
    replace("deny_exec_names", 16, names.map(commKey));
    mapUpdate(
      this.object.map("process_config").fd,
      new Uint8Array(4),
      new Uint8Array(new Uint32Array([kill ? 1 : 0]).buffer),
    );
  }

  /** Puts a process in scope. */
  setScope(pid: number, entry: ScopeEntry): void {
    const value = new Uint32Array([entry.flags, entry.rootPid]);
    mapUpdate(
      this.object.map("scope_pids").fd,
      pidKey(pid),
      new Uint8Array(value.buffer),
      BPF_ANY,
    );
  }

  /** A process's scope entry, or undefined when it is not in scope. */
  scopeOf(pid: number): ScopeEntry | undefined {
    const value = new Uint32Array(2);
    const found = mapLookup(
      this.object.map("scope_pids").fd,
      pidKey(pid),
      new Uint8Array(value.buffer),
    );
    return found ? { flags: value[0], rootPid: value[1] } : undefined;
  }

  /** Takes a process out of scope. */
  removeScope(pid: number): void {
    mapDelete(this.object.map("scope_pids").fd, pidKey(pid));
  }

  /** Every pid in the scope map. */
  scopePids(): number[] {
    return mapKeys(this.object.map("scope_pids").fd, 4).map((key) =>
      new DataView(key.buffer).getUint32(0, true)
    );
  }
}
