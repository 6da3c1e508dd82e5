/**
 * The guard's records of sensor.process (`struct guard_event`,
 * bpf/lib/guard.h): a policed process that reached for another process's
 * memory, called bpf(), or signalled the agent. They are process events of
 * the caller, kinds `memory_access`, `bpf` and `signal`.
 *
 * @module
 */

import {
  type BaseEvent,
  decodeHeader,
  EVENT_HEADER,
  headerFlags,
  readCString,
  type TimeFormatter,
} from "./event.ts";
import { arrayLength, namesByValue, struct } from "./layout.ts";
import { ProcessKind } from "./process.ts";

/** `struct guard_event` (bpf/process.h). */
export const GUARD_EVENT = struct("guard_event", 104, {
  header: [0, EVENT_HEADER],
  target_pid: [56, "u32"],
  target_root: [60, "u32"],
  target_role: [64, "u32"],
  via: [68, "u32"],
  arg: [72, "u64"],
  syscall: [80, "u32"],
  pad: [84, "u32"],
  target_comm: [88, ["char", 16]],
});

/** `enum guard_via`: how the memory was reached. */
export const GuardVia = {
  none: 0,
  vmReadv: 1,
  vmWritev: 2,
  ptraceAttach: 3,
  ptraceSeize: 4,
  ptraceTraceme: 5,
  procMem: 6,
  procEnviron: 7,
} as const;

/** `enum guard_role`: what the target is to the guard. */
export const GuardRole = { process: 0, root: 1, agent: 2 } as const;

/** `enum guard_event_flag`: header.flags of a guard_event. */
export const GuardFlag = {
  /** the caller was sent SIGKILL */
  killed: 1,
  /** the call came by the i386 ABI (`int $0x80`) */
  compat: 2,
  /** the target is not in scope */
  outside: 4,
} as const;

/** How a memory_access reached the target, in the JSON contract. */
export type MemoryVia =
  | "process_vm_readv"
  | "process_vm_writev"
  | "ptrace_attach"
  | "ptrace_seize"
  | "ptrace_traceme"
  | "proc_mem"
  | "proc_environ";

const VIA_NAMES: Readonly<Record<number, MemoryVia>> = {
  [GuardVia.vmReadv]: "process_vm_readv",
  [GuardVia.vmWritev]: "process_vm_writev",
  [GuardVia.ptraceAttach]: "ptrace_attach",
  [GuardVia.ptraceSeize]: "ptrace_seize",
  [GuardVia.ptraceTraceme]: "ptrace_traceme",
  [GuardVia.procMem]: "proc_mem",
  [GuardVia.procEnviron]: "proc_environ",
};

const ROLES = namesByValue(GuardRole);

/** The process a guard event is about. */
export interface GuardTarget {
  /** Its pid (thread group id); for a pid the caller gave, as given. */
  pid: number;
  /** Its command name; empty when neither the kernel nor the agent knew it. */
  comm: string;
  /** `root` (a scope root), `agent` (ringfence itself) or `process`. */
  role: "root" | "agent" | "process";
  /** The scope root it descends from, when it is in scope. */
  root?: number;
  /** Set when it is not in scope at all. */
  outside_scope?: boolean;
}

/** A guard event in the JSON-lines contract: a `process_event` of the caller. */
export interface GuardEvent extends BaseEvent {
  /** Which sensor's event. */
  type: "process_event";
  /** `memory_access`, `bpf` or `signal`. */
  kind: "memory_access" | "bpf" | "signal";
  /** memory_access: how the memory was reached. */
  via?: MemoryVia;
  /** memory_access and signal: the process reached for. */
  target?: GuardTarget;
  /** bpf: the command, e.g. `BPF_LINK_DETACH`. */
  command?: string;
  /** signal: its name, e.g. `SIGKILL`. */
  signal?: string;
  /** `killed` when the caller was sent SIGKILL, `audit` when only reported. */
  action: "killed" | "audit";
  /** As other events: `deny` when killed, `audit` when only reported. */
  verdict: "deny" | "audit";
  /** Set when the caller was sent SIGKILL. */
  killed?: true;
  /** The syscall's name as called, e.g. `openat`, `process_vm_readv`. */
  syscall: string;
  /** Set when the call came by the i386 ABI (`int $0x80`). */
  compat?: boolean;
}

/** bpf(2)'s commands by number (`enum bpf_cmd`, include/uapi/linux/bpf.h). */
const BPF_COMMANDS = [
  "BPF_MAP_CREATE",
  "BPF_MAP_LOOKUP_ELEM",
  "BPF_MAP_UPDATE_ELEM",
  "BPF_MAP_DELETE_ELEM",
  "BPF_MAP_GET_NEXT_KEY",
  "BPF_PROG_LOAD",
  "BPF_OBJ_PIN",
  "BPF_OBJ_GET",
  "BPF_PROG_ATTACH",
  "BPF_PROG_DETACH",
  "BPF_PROG_TEST_RUN",
  "BPF_PROG_GET_NEXT_ID",
  "BPF_MAP_GET_NEXT_ID",
  "BPF_PROG_GET_FD_BY_ID",
  "BPF_MAP_GET_FD_BY_ID",
  "BPF_OBJ_GET_INFO_BY_FD",
  "BPF_PROG_QUERY",
  "BPF_RAW_TRACEPOINT_OPEN",
  "BPF_BTF_LOAD",
  "BPF_BTF_GET_FD_BY_ID",
  "BPF_TASK_FD_QUERY",
  "BPF_MAP_LOOKUP_AND_DELETE_ELEM",
  "BPF_MAP_FREEZE",
  "BPF_BTF_GET_NEXT_ID",
  "BPF_MAP_LOOKUP_BATCH",
  "BPF_MAP_LOOKUP_AND_DELETE_BATCH",
  "BPF_MAP_UPDATE_BATCH",
  "BPF_MAP_DELETE_BATCH",
  "BPF_LINK_CREATE",
  "BPF_LINK_UPDATE",
  "BPF_LINK_GET_FD_BY_ID",
  "BPF_LINK_GET_NEXT_ID",
  "BPF_ENABLE_STATS",
  "BPF_ITER_CREATE",
  "BPF_LINK_DETACH",
  "BPF_PROG_BIND_MAP",
  "BPF_TOKEN_CREATE",
  "BPF_PROG_STREAM_READ_BY_FD",
];

/** bpf(2)'s command `cmd` by name, e.g. 34 → `BPF_LINK_DETACH`. */
export function bpfCommandName(cmd: number): string {
  return BPF_COMMANDS[cmd] ?? `BPF_CMD_${cmd}`;
}

const SIGNALS = [
  "SIGHUP",
  "SIGINT",
  "SIGQUIT",
  "SIGILL",
  "SIGTRAP",
  "SIGABRT",
  "SIGBUS",
  "SIGFPE",
  "SIGKILL",
  "SIGUSR1",
  "SIGSEGV",
  "SIGUSR2",
  "SIGPIPE",
  "SIGALRM",
  "SIGTERM",
  "SIGSTKFLT",
  "SIGCHLD",
  "SIGCONT",
  "SIGSTOP",
  "SIGTSTP",
  "SIGTTIN",
  "SIGTTOU",
  "SIGURG",
  "SIGXCPU",
  "SIGXFSZ",
  "SIGVTALRM",
  "SIGPROF",
  "SIGWINCH",
  "SIGIO",
  "SIGPWR",
  "SIGSYS",
];

/** A signal's name on x86 Linux: 9 → `SIGKILL`, 34 → `SIGRTMIN`. */
export function signalName(signal: number): string {
  if (signal >= 1 && signal <= SIGNALS.length) return SIGNALS[signal - 1];
  if (signal === 34) return "SIGRTMIN";
  if (signal > 34 && signal <= 64) return `SIGRTMIN+${signal - 34}`;
  return `SIG${signal}`;
}

/** The syscalls the guard judges, by number, per ABI. */
const SYSCALLS_64: Readonly<Record<number, string>> = {
  2: "open",
  62: "kill",
  101: "ptrace",
  129: "rt_sigqueueinfo",
  200: "tkill",
  234: "tgkill",
  257: "openat",
  297: "rt_tgsigqueueinfo",
  310: "process_vm_readv",
  311: "process_vm_writev",
  321: "bpf",
  424: "pidfd_send_signal",
  426: "io_uring_enter",
  437: "openat2",
  521: "ptrace",
  524: "rt_sigqueueinfo",
  536: "rt_tgsigqueueinfo",
  539: "process_vm_readv",
  540: "process_vm_writev",
};
const SYSCALLS_32: Readonly<Record<number, string>> = {
  5: "open",
  26: "ptrace",
  37: "kill",
  178: "rt_sigqueueinfo",
  238: "tkill",
  270: "tgkill",
  295: "openat",
  335: "rt_tgsigqueueinfo",
  347: "process_vm_readv",
  348: "process_vm_writev",
  357: "bpf",
  424: "pidfd_send_signal",
  437: "openat2",
};
const X32_SYSCALL_BIT = 0x40000000;

function syscallName(number: number, compat: boolean): string {
  const table = compat ? SYSCALLS_32 : SYSCALLS_64;
  return table[number & ~X32_SYSCALL_BIT] ?? `syscall ${number}`;
}

const KIND_NAMES: Readonly<Record<number, GuardEvent["kind"]>> = {
  [ProcessKind.memoryAccess]: "memory_access",
  [ProcessKind.bpf]: "bpf",
  [ProcessKind.signal]: "signal",
};

/** Whether the sensor.process record at `offset` is a guard event. */
export function isGuardRecord(view: DataView, offset: number): boolean {
  return view.getUint8(offset + EVENT_HEADER.fields.kind) in KIND_NAMES;
}

const F = GUARD_EVENT.fields;
const COMM = arrayLength(GUARD_EVENT, "target_comm");

/**
 * Decodes one guard record; `comm` names a target the kernel knew only by
 * its pid (the agent's process tree).
 */
export function decodeGuardEvent(
  view: DataView,
  offset: number,
  time: TimeFormatter,
  comm: (pid: number) => string | undefined = () => undefined,
): GuardEvent {
  const kind = KIND_NAMES[view.getUint8(offset + EVENT_HEADER.fields.kind)];
  const event = decodeHeader(
    view,
    offset,
    "process_event",
    kind,
    time,
  ) as GuardEvent;
  const flags = headerFlags(view, offset);
  const compat = (flags & GuardFlag.compat) !== 0;
  const arg = Number(view.getBigUint64(offset + F.arg, true));
  const killed = (flags & GuardFlag.killed) !== 0;
  event.action = killed ? "killed" : "audit";
  event.verdict = killed ? "deny" : "audit";
  if (killed) event.killed = true;
  event.syscall = syscallName(view.getUint32(offset + F.syscall, true), compat);
  if (compat) event.compat = true;
  if (kind === "bpf") {
    event.command = bpfCommandName(arg);
    return event;
  }
  const pid = view.getUint32(offset + F.target_pid, true);
  const target: GuardTarget = {
    pid,
    comm: readCString(view, offset + F.target_comm, COMM) || comm(pid) || "",
    role: ROLES[view.getUint32(offset + F.target_role, true)] || "process",
  };
  const root = view.getUint32(offset + F.target_root, true);
  if (root) target.root = root;
  if (flags & GuardFlag.outside) target.outside_scope = true;
  event.target = target;
  if (kind === "signal") event.signal = signalName(arg);
  else event.via = VIA_NAMES[view.getUint32(offset + F.via, true)];
  return event;
}
