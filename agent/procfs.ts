/**
 * Reads processes from /proc: the seed of the process tree and of the
 * kernel's scope map when the agent starts after its roots, and the
 * agent's own CPU time.
 *
 * @module
 */

import { libc } from "../sensors/libc.ts";

/** A process as /proc shows it. */
export interface ProcEntry {
  /** Process id. */
  pid: number;
  /** Parent process id. */
  ppid: number;
  /** Command name (at most 15 bytes). */
  comm: string;
  /** Resolved executable path; absent for kernel threads or when unreadable. */
  exe?: string;
  /** Command line; empty for kernel threads. */
  argv: string[];
  /** Real uid. */
  uid?: number;
}

/** PF_KTHREAD in the flags field of /proc/<pid>/stat. */
const KERNEL_THREAD = 0x00200000;

/** What /proc/<pid>/stat says, as far as the agent reads it. */
export interface ProcStat {
  /** Command name. */
  comm: string;
  /** Field 3: `R`, `S`, ..., `Z` for a zombie, `X` dead. */
  state: string;
  /** Parent process id. */
  ppid: number;
  /** A kernel thread (PF_KTHREAD). */
  kernelThread: boolean;
  /** Field 22: clock ticks after boot; with the pid, names one process. */
  startTime: number;
  /** Fields 14 and 15: clock ticks spent in user and kernel mode. */
  cpuTicks: number;
}

/** Parses /proc/<pid>/stat: the comm sits in parentheses and may hold any byte. */
export function parseStat(text: string): ProcStat {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const comm = text.slice(open + 1, close);
  // Fields from the 3rd on, after the comm.
  const fields = text.slice(close + 2).split(" ");
  return {
    comm,
    state: fields[0],
    ppid: Number(fields[1]),
    kernelThread: (Number(fields[6]) & KERNEL_THREAD) !== 0,
    startTime: Number(fields[19]),
    cpuTicks: Number(fields[11]) + Number(fields[12]),
  };
}

/** sysconf(3)'s _SC_CLK_TCK: the unit of /proc's CPU times. */
const SC_CLK_TCK = 2;

/**
 * CPU seconds this process has spent, in user and kernel mode, all its
 * threads (/proc/self/stat); NaN when it cannot be read.
 */
export function ownCpuSeconds(): number {
  try {
    const ticks = parseStat(Deno.readTextFileSync("/proc/self/stat")).cpuTicks;
    return ticks / Number(libc().sysconf(SC_CLK_TCK));
  } catch {
    return NaN;
  }
}

/**
 * A running process's start time (field 22 of its stat); undefined when
 * it has gone or is a zombie. The same pid with the same start time is
 * the same process.
 */
export function processStart(
  pid: number,
  procDir = "/proc",
): number | undefined {
  const text = readOptional(() =>
    Deno.readTextFileSync(`${procDir}/${pid}/stat`)
  );
  if (!text) return undefined;
  const { state, startTime } = parseStat(text);
  return state === "Z" || state === "X" ? undefined : startTime;
}

function readOptional<T>(read: () => T): T | undefined {
  try {
    return read();
  } catch {
    return undefined;
  }
}

/** Reads one process; undefined when it has exited meanwhile. */
export function readProc(
  pid: number,
  procDir = "/proc",
): ProcEntry | undefined {
  const base = `${procDir}/${pid}`;
  const stat = readOptional(() => Deno.readTextFileSync(`${base}/stat`));
  if (!stat) return undefined;
  const { comm, ppid, kernelThread } = parseStat(stat);
  // No command line, executable or user of their own: their reads (and the
  // exception readlink throws) would be work for nothing.
  if (kernelThread) return { pid, ppid, comm, argv: [], uid: 0 };
  const cmdline = readOptional(() => Deno.readFileSync(`${base}/cmdline`));
  const argv = cmdline && cmdline.length
    ? new TextDecoder().decode(cmdline).replace(/\0$/, "").split("\0")
    : [];
  const status = readOptional(() => Deno.readTextFileSync(`${base}/status`));
  const uid = status?.match(/^Uid:\s+(\d+)/m)?.[1];
  return {
    pid,
    ppid,
    comm,
    exe: readOptional(() => Deno.readLinkSync(`${base}/exe`)),
    argv,
    uid: uid === undefined ? undefined : Number(uid),
  };
}

/**
 * Every process in /proc (threads are not listed there). A process found
 * in `known` (an earlier walk, moments ago) is taken from it unread.
 */
export function listProcesses(
  procDir = "/proc",
  known?: ReadonlyMap<number, ProcEntry>,
): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const entry of Deno.readDirSync(procDir)) {
    if (!/^\d+$/.test(entry.name)) continue;
    const pid = Number(entry.name);
    const process = known?.get(pid) ?? readProc(pid, procDir);
    if (process) entries.push(process);
  }
  return entries;
}
