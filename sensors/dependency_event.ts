/**
 * The record sensor.process sends at the exec of a package manager's child
 * (bpf/lib/dependency.h): the new image's environment (its start and its
 * end), working directory and file, captured in the kernel so that a
 * script that exits at once or clears its environment is named all the
 * same. agent/dependencies.ts decides from it which package's install
 * script the process runs.
 *
 * @module
 */

import {
  bytesOf,
  EVENT_HEADER,
  headerFlags,
  readCString,
  type TimeFormatter,
} from "./event.ts";
import { arrayLength, struct } from "./layout.ts";

/** `struct dependency_event` (bpf/lib/dependency.h). */
export const DEPENDENCY_EVENT = struct("dependency_event", 26208, {
  header: [0, EVENT_HEADER],
  env_size: [56, "u32"],
  head_size: [60, "u32"],
  tail_size: [64, "u32"],
  cwd_size: [68, "u32"],
  path_size: [72, "u32"],
  pad: [76, "u32"],
  manager: [80, ["char", 16]],
  data: [96, ["char", 26112]],
});

/** `enum dependency_event_flag`: header.flags of a dependency_event. */
export const DependencyFlag = {
  /** the environment was larger than what was captured: its middle is missing */
  envCut: 1,
  /** the working directory's path was cut */
  cwdTruncated: 2,
  /** the exec'd file's name was cut */
  pathTruncated: 4,
  /** the kernel set SCOPE_DEP_PENDING on the process */
  pending: 8,
} as const;

/** What the kernel captured at the exec of a package manager's child. */
export interface DependencyCapture {
  /** The process (its pid does not change at exec). */
  pid: number;
  /** Its parent, the package manager. */
  ppid: number;
  /** Its name after the exec. */
  comm: string;
  /** The parent's name (e.g. `npm install`, `pip`, `cargo`). */
  manager: string;
  /** CLOCK_BOOTTIME of the exec, as an ISO time. */
  time: string;
  /** The environment's variables as captured (both ends when cut). */
  env: Map<string, string>;
  /** Set when the middle of a large environment is missing. */
  envCut: boolean;
  /** The working directory ("" when it could not be read). */
  cwd: string;
  /** The file exec'd, as passed to execve. */
  path: string;
  /** Whether the kernel marked the process SCOPE_DEP_PENDING. */
  pending: boolean;
}

const F = DEPENDENCY_EVENT.fields;
const MANAGER_SIZE = arrayLength(DEPENDENCY_EVENT, "manager");
const decoder = new TextDecoder();

/** Adds NUL-separated NAME=value entries of `bytes` to env. */
function addEntries(
  env: Map<string, string>,
  bytes: Uint8Array,
  partialFirst: boolean,
  partialLast: boolean,
): void {
  const entries = decoder.decode(bytes).split("\0");
  // An entry cut by a chunk's edge is not a variable.
  const from = partialFirst ? 1 : 0;
  const to = partialLast ? entries.length - 1 : entries.length;
  for (let index = from; index < to; index++) {
    const entry = entries[index];
    const eq = entry.indexOf("=");
    if (eq > 0) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
}

/** Decodes one dependency record at `offset`. */
export function decodeDependencyCapture(
  view: DataView,
  offset: number,
  time: TimeFormatter,
): DependencyCapture {
  const H = EVENT_HEADER.fields;
  const flags = headerFlags(view, offset);
  const envSize = view.getUint32(offset + F.env_size, true);
  const head = view.getUint32(offset + F.head_size, true);
  const tail = view.getUint32(offset + F.tail_size, true);
  const cwdSize = view.getUint32(offset + F.cwd_size, true);
  const pathSize = view.getUint32(offset + F.path_size, true);
  const data = offset + F.data;
  const bytes = bytesOf(view);
  const env = new Map<string, string>();
  const contiguous = head + tail === envSize;
  addEntries(
    env,
    bytes.subarray(data, data + head),
    false,
    !contiguous && head < envSize,
  );
  if (tail) {
    addEntries(
      env,
      bytes.subarray(data + head, data + head + tail),
      !contiguous,
      false,
    );
  }
  const cwdAt = offset + F.data + head + tail;
  return {
    pid: view.getUint32(offset + H.pid, true),
    ppid: view.getUint32(offset + H.ppid, true),
    comm: readCString(view, offset + H.comm, 16),
    manager: readCString(view, offset + F.manager, MANAGER_SIZE),
    time: time.format(
      view.getUint32(offset + H.time_ns + 4, true),
      view.getUint32(offset + H.time_ns, true),
    ),
    env,
    envCut: (flags & DependencyFlag.envCut) !== 0,
    cwd: readCString(view, cwdAt, cwdSize),
    path: readCString(view, cwdAt + cwdSize, pathSize),
    pending: (flags & DependencyFlag.pending) !== 0,
  };
}
