/**
 * Reads processes from /proc: the seed of the process tree and of the
 * kernel's scope map when the agent starts after its roots.
 *
 * @module
 */

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

/** Parses /proc/<pid>/stat: the comm sits in parentheses and may hold any byte. */
export function parseStat(text: string): { comm: string; ppid: number } {
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  const comm = text.slice(open + 1, close);
  const fields = text.slice(close + 2).split(" ");
  return { comm, ppid: Number(fields[1]) };
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
  const { comm, ppid } = parseStat(stat);
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

/** Every process in /proc (threads are not listed there). */
export function listProcesses(procDir = "/proc"): ProcEntry[] {
  const entries: ProcEntry[] = [];
  for (const entry of Deno.readDirSync(procDir)) {
    if (!/^\d+$/.test(entry.name)) continue;
    const process = readProc(Number(entry.name), procDir);
    if (process) entries.push(process);
  }
  return entries;
}
