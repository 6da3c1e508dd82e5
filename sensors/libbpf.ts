/**
 * A small typed binding of libbpf (1.x) over Deno FFI: the library, opened
 * once with every function the sensors call, its log, its errors, and the
 * operations on a map's elements by fd. The object model built on it (open,
 * load, attach) is {@linkcode ./bpf_object.ts}.
 *
 * Every pointer libbpf returns is checked before use, every failure becomes
 * a {@linkcode BpfError} that names the step and the kernel's reason, and
 * libbpf's own log (the verifier's included) is captured rather than
 * printed, so a rejected program reads as one error line, not a `-1`.
 *
 * @module
 */

import { errno, libc, strerror } from "./libc.ts";
import { libbpfCandidates, type LibbpfSource } from "./libbpf_loader.ts";
import { libbpfDebug } from "./environment.ts";

/** Every libbpf function the binding calls, bound once when libbpf opens. */
const symbols = {
  // The library.
  libbpf_major_version: { parameters: [], result: "u32" },
  libbpf_minor_version: { parameters: [], result: "u32" },
  libbpf_set_print: { parameters: ["function"], result: "pointer" },
  libbpf_get_error: { parameters: ["pointer"], result: "i64" },
  libbpf_num_possible_cpus: { parameters: [], result: "i32" },
  libbpf_probe_bpf_prog_type: {
    parameters: ["u32", "pointer"],
    result: "i32",
  },
  // Objects.
  bpf_object__open_mem: {
    parameters: ["buffer", "usize", "buffer"],
    result: "pointer",
  },
  bpf_object__load: { parameters: ["pointer"], result: "i32" },
  // The same load on a worker thread, for loading objects side by side.
  bpf_object__load_async: {
    name: "bpf_object__load",
    parameters: ["pointer"],
    result: "i32",
    nonblocking: true,
  },
  bpf_object__close: { parameters: ["pointer"], result: "void" },
  bpf_object__find_program_by_name: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },
  bpf_object__find_map_by_name: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },
  bpf_object__next_program: {
    parameters: ["pointer", "pointer"],
    result: "pointer",
  },
  bpf_object__next_map: {
    parameters: ["pointer", "pointer"],
    result: "pointer",
  },
  // Programs.
  bpf_program__name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__section_name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__set_autoload: { parameters: ["pointer", "bool"], result: "i32" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_program__attach_cgroup: {
    parameters: ["pointer", "i32"],
    result: "pointer",
  },
  // Links.
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpf_link__fd: { parameters: ["pointer"], result: "i32" },
  // Objects in bpffs and their kernel info, by fd.
  bpf_obj_pin: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_obj_get: { parameters: ["buffer"], result: "i32" },
  bpf_obj_get_info_by_fd: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
  // Maps of an object.
  bpf_map__name: { parameters: ["pointer"], result: "pointer" },
  bpf_map__fd: { parameters: ["pointer"], result: "i32" },
  bpf_map__type: { parameters: ["pointer"], result: "u32" },
  bpf_map__max_entries: { parameters: ["pointer"], result: "u32" },
  bpf_map__set_max_entries: { parameters: ["pointer", "u32"], result: "i32" },
  bpf_map__key_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__value_size: { parameters: ["pointer"], result: "u32" },
  bpf_map__reuse_fd: { parameters: ["pointer", "i32"], result: "i32" },
  // Maps by fd.
  bpf_map_create: {
    parameters: ["u32", "buffer", "u32", "u32", "u32", "pointer"],
    result: "i32",
  },
  bpf_map_update_elem: {
    parameters: ["i32", "buffer", "buffer", "u64"],
    result: "i32",
  },
  bpf_map_lookup_elem: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
  bpf_map_delete_elem: { parameters: ["i32", "buffer"], result: "i32" },
  bpf_map_lookup_and_delete_elem: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
  bpf_map_get_next_key: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
} as const;

type Symbols = Deno.DynamicLibrary<typeof symbols>["symbols"];

/** Where libbpf was found and which version it is. */
export interface LibbpfInfo {
  /** The path or soname passed to dlopen. */
  path: string;
  /** "major.minor" as libbpf reports it. */
  version: string;
  /** The host's libbpf or the copy carried inside ringfence. */
  source: LibbpfSource;
}

let library: Deno.DynamicLibrary<typeof symbols> | undefined;
let libraryInfo: LibbpfInfo | undefined;

/**
 * Opens libbpf once and routes its log into an in-memory buffer.
 *
 * @throws {Error} when no libbpf 1.x can be loaded; the message says how to
 * install it.
 */
export function libbpf(): Symbols {
  if (library) return library.symbols;
  const reasons: string[] = [];
  // The host's libbpf.so.1 first, then the copy carried inside ringfence
  // (sensors/libbpf_loader.ts); RINGFENCE_LIBBPF=PATH|embedded picks one.
  for (const candidate of libbpfCandidates()) {
    try {
      const path = candidate.path();
      const opened = Deno.dlopen(path, symbols);
      const major = opened.symbols.libbpf_major_version();
      const version = `${major}.${opened.symbols.libbpf_minor_version()}`;
      if (major < 1) {
        opened.close();
        throw new Error(`version ${version} is too old`);
      }
      library = opened;
      libraryInfo = { path, version, source: candidate.source };
      break;
    } catch (error) {
      reasons.push(
        `${candidate.label}: ${(error as Error).message.split("\n")[0]}`,
      );
    }
  }
  if (!library) {
    throw new Error(
      `libbpf 1.x not found (${
        reasons.join("; ")
      }): install it with 'apt-get install libbpf1' or run scripts/setup`,
    );
  }
  installPrintHandler(library.symbols);
  return library.symbols;
}

/** Which libbpf is in use, opening it if needed. */
export function libbpfInfo(): LibbpfInfo {
  libbpf();
  return libraryInfo!;
}

const PRINT_DEFINITION = {
  parameters: ["i32", "pointer", "pointer"],
  result: "i32",
} as const;
const LIBBPF_DEBUG = 2;

// Held for the life of the process: libbpf keeps calling it, and a
// collected callback would crash it.
let printHandler: Deno.UnsafeCallback<typeof PRINT_DEFINITION> | undefined;

/** Lines libbpf logged since the last {@linkcode takeLog}. */
let logLines: string[] = [];

function installPrintHandler(lib: Symbols): void {
  const debug = libbpfDebug();
  const line = new Uint8Array(8192);
  printHandler = new Deno.UnsafeCallback(
    PRINT_DEFINITION,
    (level, format, args) => {
      // Debug lines cost an FFI round trip each; keep them only when asked.
      // Warnings carry the verifier log.
      if (level >= LIBBPF_DEBUG && !debug) return 0;
      const length = libc().vsnprintf(line, BigInt(line.length), format, args);
      if (length <= 0) return 0;
      const text = new TextDecoder().decode(
        line.subarray(0, Math.min(length, line.length - 1)),
      );
      for (const part of text.split("\n")) if (part) logLines.push(part);
      // Bound memory if nobody collects the log (debug lines on every load).
      if (logLines.length > 20_000) logLines = logLines.slice(-10_000);
      return length;
    },
  );
  lib.libbpf_set_print(printHandler.pointer);
}

/** Returns and clears what libbpf logged since the last call. */
export function takeLog(): string[] {
  const lines = logLines;
  logLines = [];
  return lines;
}

let offThread = 0;
/** Settles when the log is back on, for {@linkcode withLog}. */
let logBack: PromiseWithResolvers<void> | undefined;

/**
 * Runs `work`, which calls libbpf on worker threads, with libbpf's log off:
 * the print handler is a JavaScript callback, which only the main thread
 * may run. Calls may overlap; the log is back on when the last one ends.
 */
export async function withoutLog<T>(work: () => Promise<T>): Promise<T> {
  const lib = libbpf();
  if (offThread++ === 0) lib.libbpf_set_print(null);
  try {
    return await work();
  } finally {
    if (--offThread === 0) {
      lib.libbpf_set_print(printHandler!.pointer);
      logBack?.resolve();
      logBack = undefined;
    }
  }
}

/**
 * Runs `work`, which calls libbpf on the main thread, once no
 * {@linkcode withoutLog} is running: its log (a verifier's reason) then
 * reaches {@linkcode takeLog}.
 */
export async function withLog<T>(work: () => T): Promise<T> {
  // Checked again after each wait: another load may have begun meanwhile.
  while (offThread) await (logBack ??= Promise.withResolvers()).promise;
  return work();
}

/**
 * Picks the verifier's own reason out of libbpf's log of a failed load: the
 * last lines of the verifier log that are not instruction dumps or totals.
 */
export function verifierReason(log: string[]): string | undefined {
  const begin = log.findIndex((line) => line.includes("BEGIN PROG LOAD LOG"));
  if (begin < 0) return undefined;
  const end = log.findIndex((line, index) =>
    index > begin && line.includes("END PROG LOAD LOG")
  );
  const body = log.slice(begin + 1, end < 0 ? undefined : end);
  const reasons = body.filter((line) =>
    !/^\s*\d+: /.test(line) && // an instruction
    !/^\s*;/.test(line) && // source line annotation
    !/^(processed|verification time|stack depth|func#|last_idx|regs=|parent )/
      .test(line) &&
    !/^\s*from \d+ to \d+/.test(line) &&
    !/^\s*R\d+(_\w+)?=/.test(line) // register state dump
  );
  return reasons.length ? reasons.slice(-2).join(": ") : undefined;
}

/** A failed libbpf or kernel step, with the kernel's reason. */
export class BpfError extends Error {
  /** What was being done, e.g. "load sensor.process". */
  readonly step: string;
  /** The positive errno, when one was reported. */
  readonly errno: number;
  /** libbpf's log lines captured during the step (the verifier log too). */
  readonly log: string[];

  /** Builds the error; the message is "<step>: <reason>". */
  constructor(step: string, code: number, log: string[], detail?: string) {
    const reason = detail ?? strerror(code);
    super(`${step}: ${reason}`);
    this.name = "BpfError";
    this.step = step;
    this.errno = Math.abs(code);
    this.log = log;
  }
}

/** Throws a BpfError when a libbpf int result is negative. */
export function check(result: number, step: string): number {
  if (result < 0) throw new BpfError(step, -result, takeLog());
  return result;
}

/** Throws a BpfError when a libbpf pointer result is NULL or an error. */
export function checkPointer(
  pointer: Deno.PointerValue,
  step: string,
): Deno.PointerObject {
  // errno first: any other call (even libbpf_get_error) may overwrite it.
  const code = pointer === null ? errno() : 0;
  const error = code || -Number(libbpf().libbpf_get_error(pointer));
  if (!error) return pointer as Deno.PointerObject;
  const log = takeLog();
  // libbpf's own warning usually says more than errno, e.g. which
  // tracepoint file it could not find.
  const warning = log.findLast((line) => /fail|error|invalid/i.test(line));
  throw new BpfError(
    step,
    error || 22,
    log,
    warning
      ? `${strerror(error || 22)} (${warning.replace(/^libbpf: /, "")})`
      : undefined,
  );
}

/** The C string a libbpf getter returned, or "" for NULL. */
export function readCString(pointer: Deno.PointerValue): string {
  return pointer ? Deno.UnsafePointerView.getCString(pointer) : "";
}

/** BPF_ANY, BPF_NOEXIST, BPF_EXIST for {@linkcode mapUpdate}. */
export const BPF_ANY = 0n, BPF_NOEXIST = 1n, BPF_EXIST = 2n;

/** Writes one map element. */
export function mapUpdate(
  fd: number,
  key: Uint8Array<ArrayBuffer>,
  value: Uint8Array<ArrayBuffer>,
  flags = BPF_ANY,
): void {
  check(libbpf().bpf_map_update_elem(fd, key, value, flags), "update map");
}

/** Reads one map element into `value`; false when the key is absent. */
export function mapLookup(
  fd: number,
  key: Uint8Array<ArrayBuffer>,
  value: Uint8Array<ArrayBuffer>,
): boolean {
  const result = libbpf().bpf_map_lookup_elem(fd, key, value);
  if (result === -2) return false; // ENOENT
  check(result, "look up map");
  return true;
}

/** Deletes one map element; false when the key was absent. */
export function mapDelete(fd: number, key: Uint8Array<ArrayBuffer>): boolean {
  const result = libbpf().bpf_map_delete_elem(fd, key);
  if (result === -2) return false;
  check(result, "delete from map");
  return true;
}

/**
 * Reads and deletes one hash map element in one step (nothing added in
 * between is lost); false when the key is absent.
 */
export function mapTake(
  fd: number,
  key: Uint8Array<ArrayBuffer>,
  value: Uint8Array<ArrayBuffer>,
): boolean {
  const result = libbpf().bpf_map_lookup_and_delete_elem(fd, key, value);
  if (result === -2) return false;
  check(result, "take from map");
  return true;
}

let possibleCpus = 0;

/** How many CPUs a per-CPU map holds a value for. */
export function numPossibleCpus(): number {
  possibleCpus ||= check(
    libbpf().libbpf_num_possible_cpus(),
    "count possible CPUs",
  );
  return possibleCpus;
}

/** Every key of a hash map, as copies. */
export function mapKeys(fd: number, keySize: number): Uint8Array[] {
  const keys: Uint8Array[] = [];
  let previous: Uint8Array<ArrayBuffer> | null = null;
  for (;;) {
    const next = new Uint8Array(keySize);
    const result = libbpf().bpf_map_get_next_key(fd, previous, next);
    if (result === -2) return keys;
    check(result, "iterate map");
    keys.push(next);
    previous = next;
  }
}
