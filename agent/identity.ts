/**
 * The agent's identity, as a step cannot forge it: `ringfence start` writes
 * a record of itself to a root-only directory (agent/instance.ts) and keeps
 * a heartbeat beside it; `ringfence stop` checks the process it is about to
 * trust against that record.
 *
 * A pid alone names whichever process has it now. The record adds what a
 * process cannot choose: its start time (field 22 of /proc/PID/stat, clock
 * ticks since boot), the boot it belongs to, and the executable the kernel
 * loaded (/proc/PID/exe). A process started later, by whatever name, has a
 * later start time. The directory is root's and mode 0700: a step without
 * root can neither read nor write it, and a write by a policed process with
 * root is itself tampering (agent/file_policy.ts).
 *
 * @module
 */

import { parseStat } from "./procfs.ts";
import { sha256Hex } from "./sha256.ts";

/** What the agent writes about itself once armed (`agent.json`). */
export interface AgentRecord {
  /** Layout version of this record. */
  version: 1;
  /** The agent's pid. */
  pid: number;
  /** Field 22 of /proc/PID/stat: clock ticks after boot it started at. */
  startTime: number;
  /** /proc/sys/kernel/random/boot_id when it started. */
  bootId: string;
  /** /proc/PID/exe. */
  exe: string;
  /** Random hex, also carried by the heartbeat and the final state. */
  token: string;
  /** The state directory it was started with (absolute). */
  stateDir: string;
  /** ISO 8601, when it armed. */
  started: string;
  /** The policy file and its SHA-256 at start; absent for the built-in. */
  policy?: { path: string; sha256?: string };
  /** The pid file it wrote. */
  pidFile: string;
  /** Its events file (`--output`, absolute), when events go to one. */
  output?: string;
}

/** Counters the heartbeat carries. */
export interface HeartbeatCounters {
  /** Events handed to subscribers so far. */
  events: number;
  /** Events with verdict deny so far. */
  denied: number;
  /** Actions refused in the kernel, all sensors. */
  refused: number;
  /** Processes the kernel sent SIGKILL, all sensors. */
  killed: number;
}

/** The agent's heartbeat (`heartbeat.json`), rewritten every second. */
export interface Heartbeat extends HeartbeatCounters {
  /** The record's token. */
  token: string;
  /** ISO 8601, when written. */
  time: string;
  /** `running`, or `stopped` once the report is saved. */
  state: "running" | "stopped";
}

/** Files of an instance directory. */
export function instanceFiles(dir: string): {
  record: string;
  heartbeat: string;
  report: string;
  pins: string;
} {
  return {
    record: `${dir}/agent.json`,
    heartbeat: `${dir}/heartbeat.json`,
    report: `${dir}/report.json`,
    // The bpffs directory the agent pinned in, while it pins: where a
    // step cannot remove it, so that pins gone while the agent was dead
    // are told from pins never made.
    pins: `${dir}/pinned`,
  };
}

/** What /proc says about a process, for comparing with a record. */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat. */
  startTime: number;
  /** Process state (field 3): `Z` for a zombie. */
  state: string;
  /** The command name. */
  comm: string;
  /** /proc/PID/exe, when readable. */
  exe?: string;
  /** The command line, spaces between arguments. */
  cmdline: string;
}

/** Reads a process's identity; undefined when there is no such process. */
export function processIdentity(
  pid: number,
  procDir = "/proc",
): ProcessIdentity | undefined {
  let stat: string;
  try {
    stat = Deno.readTextFileSync(`${procDir}/${pid}/stat`);
  } catch {
    return undefined;
  }
  const { state, startTime, comm } = parseStat(stat);
  const identity: ProcessIdentity = {
    pid,
    state,
    startTime,
    comm,
    cmdline: "",
  };
  try {
    identity.exe = Deno.readLinkSync(`${procDir}/${pid}/exe`);
  } catch { /* a zombie or a kernel thread */ }
  try {
    identity.cmdline = Deno.readTextFileSync(`${procDir}/${pid}/cmdline`)
      .replace(/\0$/, "").replaceAll("\0", " ");
  } catch { /* gone meanwhile */ }
  return identity;
}

/** The current boot's id. */
export function bootId(): string {
  return Deno.readTextFileSync("/proc/sys/kernel/random/boot_id").trim();
}

/** The SHA-256 of a file as hex; undefined when it cannot be read. */
export async function sha256File(path: string): Promise<string | undefined> {
  try {
    return await sha256Hex(await Deno.readFile(path));
  } catch {
    return undefined;
  }
}

/** 16 random bytes as hex. */
export function randomToken(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(16)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}

/**
 * Makes `dir` (and `/run/ringfence` above it) root's, mode 0700. Refuses a
 * symlink or a directory someone else owns: its contents could be theirs.
 */
export function ensureRootOnlyDir(dir: string): void {
  const parent = dir.slice(0, dir.lastIndexOf("/")) || "/";
  for (const path of [parent, dir]) {
    try {
      Deno.mkdirSync(path, { mode: 0o700 });
    } catch (error) {
      if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
    }
    const problem = rootOnlyProblem(path, true);
    if (problem) throw new Error(problem);
    Deno.chmodSync(path, 0o700);
  }
}

/**
 * Why `path` is not root-only (a symlink, not root's, writable by group or
 * others), or undefined when it is.
 */
export function rootOnlyProblem(
  path: string,
  directory = false,
): string | undefined {
  let info: Deno.FileInfo;
  try {
    info = Deno.lstatSync(path);
  } catch {
    return `${path} does not exist`;
  }
  if (info.isSymlink) return `${path} is a symlink`;
  if (directory ? !info.isDirectory : !info.isFile) {
    return `${path} is not a ${directory ? "directory" : "regular file"}`;
  }
  if (info.uid !== 0) return `${path} is owned by uid ${info.uid}, not root`;
  if ((info.mode ?? 0) & 0o022) {
    return `${path} is writable by group or others (mode ${
      ((info.mode ?? 0) & 0o7777).toString(8)
    })`;
  }
  return undefined;
}

/**
 * Writes `text` to `path` whole or not at all: a temporary file beside it,
 * mode 0600, renamed over it.
 */
export function writeAtomic(path: string, text: string): void {
  const temporary = `${path}.${Deno.pid}.tmp`;
  Deno.writeTextFileSync(temporary, text, { mode: 0o600 });
  Deno.renameSync(temporary, path);
}

/** The record of this process, to write once armed. */
export function ownRecord(
  fields: Pick<AgentRecord, "stateDir" | "policy" | "pidFile" | "output">,
): AgentRecord {
  const self = processIdentity(Deno.pid);
  if (!self) throw new Error("cannot read /proc/self/stat");
  return {
    version: 1,
    pid: Deno.pid,
    startTime: self.startTime,
    bootId: bootId(),
    exe: Deno.readLinkSync("/proc/self/exe"),
    token: randomToken(),
    started: new Date().toISOString(),
    ...fields,
  };
}

/**
 * Keeps `heartbeat.json` current: every `intervalMs` the counters and the
 * time, so that whoever finds the agent dead knows when it was last alive.
 */
export class HeartbeatWriter {
  readonly #path: string;
  readonly #token: string;
  readonly #counters: () => HeartbeatCounters;
  readonly #timer: ReturnType<typeof setInterval>;

  /** Writes the first beat at once, then one every `intervalMs`. */
  constructor(
    dir: string,
    token: string,
    counters: () => HeartbeatCounters,
    intervalMs = 1000,
  ) {
    this.#path = instanceFiles(dir).heartbeat;
    this.#token = token;
    this.#counters = counters;
    this.beat();
    this.#timer = setInterval(() => this.beat(), intervalMs);
    // The agent's life is decided by its signals, not by this timer.
    Deno.unrefTimer(this.#timer);
  }

  /** Writes one beat; a failure is not fatal (the next one may pass). */
  beat(state: Heartbeat["state"] = "running"): void {
    const beat: Heartbeat = {
      token: this.#token,
      time: new Date().toISOString(),
      state,
      ...this.#counters(),
    };
    try {
      writeAtomic(this.#path, JSON.stringify(beat) + "\n");
    } catch { /* a full /run: the previous beat stays */ }
  }

  /** Stops beating and writes the last beat, in `state`. */
  stop(state: Heartbeat["state"]): void {
    clearInterval(this.#timer);
    this.beat(state);
  }
}

/** A root-only JSON file read, or why it cannot be trusted. */
export type Trusted<T> = { value: T; problem?: undefined } | {
  value?: undefined;
  problem: string;
};

/** Reads a JSON file if it and its directories are root-only. */
export function readTrusted<T>(path: string): Trusted<T> {
  const dir = path.slice(0, path.lastIndexOf("/"));
  const parent = dir.slice(0, dir.lastIndexOf("/")) || "/";
  const problem = rootOnlyProblem(parent, true) ??
    rootOnlyProblem(dir, true) ?? rootOnlyProblem(path);
  if (problem) return { problem };
  try {
    return { value: JSON.parse(Deno.readTextFileSync(path)) as T };
  } catch (error) {
    return { problem: `${path}: ${(error as Error).message}` };
  }
}

/** How a process compares with the record of the agent. */
export type AgentCheck =
  | { status: "alive"; process: ProcessIdentity }
  | { status: "dead" }
  | { status: "replaced"; process: ProcessIdentity; why: string };

/**
 * Whether the record's agent is the process running under its pid: alive
 * (not a zombie), with the same start time, executable and boot.
 */
export function checkAgent(
  record: AgentRecord,
  procDir = "/proc",
  currentBoot: string = bootId(),
): AgentCheck {
  if (record.bootId !== currentBoot) return { status: "dead" };
  const process = processIdentity(record.pid, procDir);
  if (!process || process.state === "Z" || process.state === "X") {
    return { status: "dead" };
  }
  if (process.startTime !== record.startTime) {
    return {
      status: "replaced",
      process,
      why: `pid ${record.pid} is another process now (${
        describeProcess(process)
      }, started at tick ${process.startTime}, not ${record.startTime})`,
    };
  }
  if (process.exe !== record.exe) {
    return {
      status: "replaced",
      process,
      why: `pid ${record.pid} runs ${
        process.exe ?? "an unreadable executable"
      }, not ${record.exe}`,
    };
  }
  return { status: "alive", process };
}

/**
 * A process for a report line: its command line (what `ps` shows, which
 * its parent chose: `exec -a ringfence sleep`) and its executable.
 */
export function describeProcess(process: ProcessIdentity): string {
  const shown = process.cmdline
    ? JSON.stringify(process.cmdline.slice(0, 80))
    : process.comm;
  return process.exe ? `${shown} (${process.exe})` : shown;
}
