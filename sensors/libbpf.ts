/**
 * A small typed binding of libbpf (1.x) over Deno FFI: what the agent needs to
 * open, load and attach its sensors and to work with their maps.
 *
 * Every pointer libbpf returns is checked before use, every failure becomes
 * a {@linkcode BpfError} that names the step and the kernel's reason, and
 * libbpf's own log (the verifier's included) is captured rather than
 * printed, so a rejected program reads as one error line, not a `-1`.
 *
 * @module
 */

import { closeFd, cString, errno, libc, strerror } from "./libc.ts";
import {
  libbpfCandidates,
  type LibbpfSource,
  memoryFile,
} from "./libbpf_loader.ts";
import { cachedMinimalCoreBtf } from "./core_btf.ts";

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
  // Programs.
  bpf_program__name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__section_name: { parameters: ["pointer"], result: "pointer" },
  bpf_program__autoload: { parameters: ["pointer"], result: "bool" },
  bpf_program__set_autoload: { parameters: ["pointer", "bool"], result: "i32" },
  bpf_program__fd: { parameters: ["pointer"], result: "i32" },
  bpf_program__attach: { parameters: ["pointer"], result: "pointer" },
  bpf_program__attach_tracepoint: {
    parameters: ["pointer", "buffer", "buffer"],
    result: "pointer",
  },
  bpf_program__attach_raw_tracepoint: {
    parameters: ["pointer", "buffer"],
    result: "pointer",
  },
  bpf_program__attach_kprobe: {
    parameters: ["pointer", "bool", "buffer"],
    result: "pointer",
  },
  bpf_program__attach_cgroup: {
    parameters: ["pointer", "i32"],
    result: "pointer",
  },
  // Links.
  bpf_link__destroy: { parameters: ["pointer"], result: "i32" },
  bpf_link__pin: { parameters: ["pointer", "buffer"], result: "i32" },
  bpf_link__unpin: { parameters: ["pointer"], result: "i32" },
  bpf_link__fd: { parameters: ["pointer"], result: "i32" },
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
const PRINT_DEFINITION = {
  parameters: ["i32", "pointer", "pointer"],
  result: "i32",
} as const;
// Callbacks handed to libbpf, held for the life of the process: libbpf
// keeps calling them, and a collected callback would crash it.
const retainedCallbacks: { pointer: Deno.PointerObject }[] = [];

/** Lines libbpf logged since the last {@linkcode takeLog}. */
let logLines: string[] = [];

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

const LIBBPF_DEBUG = 2;
const debugLog = Deno.env.get("RINGFENCE_DEBUG") === "1";

function installPrintHandler(lib: Symbols): void {
  const line = new Uint8Array(8192);
  const callback = new Deno.UnsafeCallback(
    PRINT_DEFINITION,
    (level, format, args) => {
      // Debug lines (about 40 per load) cost an FFI round trip each; keep
      // them only when asked. Warnings carry the verifier log.
      if (level >= LIBBPF_DEBUG && !debugLog) return 0;
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
  retainedCallbacks.push(callback);
  lib.libbpf_set_print(callback.pointer);
}

/** Returns and clears what libbpf logged since the last call. */
export function takeLog(): string[] {
  const lines = logLines;
  logLines = [];
  return lines;
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
function check(result: number, step: string): number {
  if (result < 0) throw new BpfError(step, -result, takeLog());
  return result;
}

/** Throws a BpfError when a libbpf pointer result is NULL or an error. */
function checkPointer(
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

function readCString(pointer: Deno.PointerValue): string {
  return pointer ? Deno.UnsafePointerView.getCString(pointer) : "";
}

/**
 * An attachment of a program to a hook. Destroying it detaches the program
 * (unless the link was pinned in bpffs, which keeps it alive).
 */
export class BpfLink implements Disposable {
  #pointer: Deno.PointerObject | null;
  /** What the link is attached to, for messages. */
  readonly target: string;

  /** Wraps a checked link pointer. */
  constructor(pointer: Deno.PointerObject, target: string) {
    this.#pointer = pointer;
    this.target = target;
  }

  /** The link's file descriptor. */
  get fd(): number {
    return libbpf().bpf_link__fd(this.#live());
  }

  /** Pins the link at a bpffs path so it survives this process. */
  pin(path: string): void {
    check(
      libbpf().bpf_link__pin(this.#live(), cString(path)),
      `pin link ${this.target} at ${path}`,
    );
  }

  /** Removes the link's pin. */
  unpin(): void {
    check(libbpf().bpf_link__unpin(this.#live()), `unpin ${this.target}`);
  }

  /** Detaches and frees the link. Safe to call twice. */
  destroy(): void {
    if (!this.#pointer) return;
    libbpf().bpf_link__destroy(this.#pointer);
    this.#pointer = null;
  }

  [Symbol.dispose](): void {
    this.destroy();
  }

  #live(): Deno.PointerObject {
    if (!this.#pointer) throw new Error(`link ${this.target} was destroyed`);
    return this.#pointer;
  }
}

/**
 * Takes a change made to an object before load, to make it again should
 * the object have to be opened anew (see {@linkcode BpfObject.loadAll}).
 */
type Recorder = (replay: (object: BpfObject) => void) => void;

/** A program of a {@linkcode BpfObject}. */
export class BpfProgram {
  readonly #pointer: Deno.PointerObject;
  readonly #record: Recorder | undefined;
  /** The program's function name. */
  readonly name: string;
  /** Its ELF section, e.g. "tp/sched/sched_process_exec". */
  readonly section: string;

  /** Wraps a checked program pointer. */
  constructor(pointer: Deno.PointerObject, record?: Recorder) {
    this.#pointer = pointer;
    this.#record = record;
    this.name = readCString(libbpf().bpf_program__name(pointer));
    this.section = readCString(libbpf().bpf_program__section_name(pointer));
  }

  /** The loaded program's fd (negative before load). */
  get fd(): number {
    return libbpf().bpf_program__fd(this.#pointer);
  }

  /** Whether {@linkcode BpfObject.load} loads this program. */
  get autoload(): boolean {
    return libbpf().bpf_program__autoload(this.#pointer);
  }

  /** Whether {@linkcode BpfObject.load} loads this program (before load). */
  setAutoload(autoload: boolean): void {
    check(
      libbpf().bpf_program__set_autoload(this.#pointer, autoload),
      `set autoload of ${this.name}`,
    );
    const name = this.name;
    this.#record?.((object) => object.program(name).setAutoload(autoload));
  }

  /** Attaches by the section name (tracepoints, raw tracepoints, kprobes). */
  attach(): BpfLink {
    return this.#link(
      libbpf().bpf_program__attach(this.#pointer),
      this.section,
    );
  }

  /**
   * Attaches to the perf-event tracepoint `category/name`; libbpf finds it
   * in tracefs (see `ensureTracefs()` in sensors/system.ts).
   */
  attachTracepoint(category: string, name: string): BpfLink {
    return this.#link(
      libbpf().bpf_program__attach_tracepoint(
        this.#pointer,
        cString(category),
        cString(name),
      ),
      `tracepoint ${category}/${name}`,
    );
  }

  /** Attaches to a raw tracepoint. */
  attachRawTracepoint(name: string): BpfLink {
    return this.#link(
      libbpf().bpf_program__attach_raw_tracepoint(
        this.#pointer,
        cString(name),
      ),
      `raw tracepoint ${name}`,
    );
  }

  /** Attaches to a kernel function entry (or return) with a kprobe. */
  attachKprobe(functionName: string, returnProbe = false): BpfLink {
    return this.#link(
      libbpf().bpf_program__attach_kprobe(
        this.#pointer,
        returnProbe,
        cString(functionName),
      ),
      `kprobe ${functionName}`,
    );
  }

  /** Attaches to a cgroup v2 directory given by its open fd (multi-attach). */
  attachCgroup(cgroupFd: number, description = "cgroup"): BpfLink {
    return this.#link(
      libbpf().bpf_program__attach_cgroup(this.#pointer, cgroupFd),
      description,
    );
  }

  #link(pointer: Deno.PointerValue, target: string): BpfLink {
    const step = `attach ${this.name} to ${target}`;
    return new BpfLink(checkPointer(pointer, step), target);
  }
}

/** A map of a {@linkcode BpfObject}, or any map reached by fd. */
export class BpfMap {
  readonly #pointer: Deno.PointerObject;
  readonly #record: Recorder | undefined;
  /** The map's name in the object. */
  readonly name: string;

  /** Wraps a checked map pointer. */
  constructor(pointer: Deno.PointerObject, record?: Recorder) {
    this.#pointer = pointer;
    this.#record = record;
    this.name = readCString(libbpf().bpf_map__name(pointer));
  }

  /** The map's fd (negative before load, unless reused). */
  get fd(): number {
    return libbpf().bpf_map__fd(this.#pointer);
  }

  /** The map's max_entries (for a ring buffer, its size in bytes). */
  get maxEntries(): number {
    return libbpf().bpf_map__max_entries(this.#pointer);
  }

  /** Key size in bytes. */
  get keySize(): number {
    return libbpf().bpf_map__key_size(this.#pointer);
  }

  /** Value size in bytes. */
  get valueSize(): number {
    return libbpf().bpf_map__value_size(this.#pointer);
  }

  /** Sets max_entries before the object is loaded. */
  setMaxEntries(entries: number): void {
    check(
      libbpf().bpf_map__set_max_entries(this.#pointer, entries),
      `resize map ${this.name}`,
    );
    const name = this.name;
    this.#record?.((object) => object.map(name).setMaxEntries(entries));
  }

  /**
   * Creates a kernel map with this map's definition and makes this map use
   * it; returns the new map's fd, which the caller owns (close it).
   */
  createShared(): number {
    const lib = libbpf();
    const fd = lib.bpf_map_create(
      lib.bpf_map__type(this.#pointer),
      cString(this.name),
      this.keySize,
      this.valueSize,
      this.maxEntries,
      null,
    );
    check(fd, `create map ${this.name}`);
    try {
      this.reuseFd(fd);
    } catch (error) {
      closeFd(fd);
      throw error;
    }
    return fd;
  }

  /** Makes this map use an existing map (shared between objects). */
  reuseFd(fd: number): void {
    check(
      libbpf().bpf_map__reuse_fd(this.#pointer, fd),
      `share map ${this.name}`,
    );
    const name = this.name;
    this.#record?.((object) => object.map(name).reuseFd(fd));
  }
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

/** How to open a {@linkcode BpfObject}. */
export interface OpenOptions {
  /**
   * BTF file that CO-RE relocates against instead of the kernel's (libbpf's
   * `btf_custom_path`); read at load.
   */
  btfCustomPath?: string;
}

/** How to load objects with {@linkcode BpfObject.loadAll}. */
export interface LoadAllOptions {
  /**
   * The BTF CO-RE relocates against. By default the kernel's, cut down to
   * what the objects need (sensors/core_btf.ts); `null` leaves libbpf to
   * read the whole kernel BTF for each object. Tests pass their own.
   */
  coreBtf?: Uint8Array | null;
}

/** Which BTF {@linkcode BpfObject.loadAll} relocated against, and why. */
export interface LoadAllResult {
  /**
   * "minimal": the cut-down kernel BTF; "kernel": libbpf read the kernel's
   * own (`reason` says why); "fallback": the cut-down BTF failed and the
   * objects that failed loaded with the kernel's.
   */
  coreBtf: "minimal" | "kernel" | "fallback";
  reason?: string;
}

/**
 * A BPF ELF object: open it from memory, adjust maps, load, find programs
 * and maps, then close it, which also detaches what was not pinned.
 */
export class BpfObject implements Disposable {
  #pointer: Deno.PointerObject | null;
  // libbpf parses the ELF in place until load: the bytes must outlive it.
  #bytes: Uint8Array | null;
  #options: OpenOptions;
  // Changes made before load, made again when the object is reopened.
  #adjustments: ((object: BpfObject) => void)[] = [];
  /** The object's name, used in messages (e.g. "sensor.process"). */
  readonly name: string;

  private constructor(
    pointer: Deno.PointerObject,
    bytes: Uint8Array,
    name: string,
    options: OpenOptions,
  ) {
    this.#pointer = pointer;
    this.#bytes = bytes;
    this.name = name;
    this.#options = options;
  }

  /**
   * Opens an object from its ELF bytes.
   *
   * @throws {BpfError} when libbpf cannot parse it.
   */
  static open(
    bytes: Uint8Array,
    name: string,
    options: OpenOptions = {},
  ): BpfObject {
    const copy = new Uint8Array(bytes);
    return new BpfObject(
      BpfObject.#openMem(copy, name, options),
      copy,
      name,
      options,
    );
  }

  static #openMem(
    bytes: Uint8Array<ArrayBuffer>,
    name: string,
    options: OpenOptions,
  ): Deno.PointerObject {
    const lib = libbpf();
    takeLog();
    const nameBytes = cString(name);
    const btfPath = options.btfCustomPath
      ? cString(options.btfCustomPath)
      : undefined;
    const address = (buffer: Uint8Array<ArrayBuffer>) =>
      BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(buffer)));
    // struct bpf_object_open_opts (libbpf 1.0+): sz at 0, object_name at 8,
    // btf_custom_path at 48; the fields between stay zero. libbpf copies
    // both strings.
    const opts = new BigUint64Array(btfPath ? 7 : 2);
    opts[0] = BigInt(opts.byteLength);
    opts[1] = address(nameBytes);
    if (btfPath) opts[6] = address(btfPath);
    return checkPointer(
      lib.bpf_object__open_mem(
        bytes,
        BigInt(bytes.length),
        new Uint8Array(opts.buffer),
      ),
      `open ${name}`,
    );
  }

  /**
   * Opens the object again from its bytes with other options, and makes
   * the changes made to it since it was opened: libbpf takes
   * `btf_custom_path` at open only, and an object whose load failed cannot
   * be loaded again.
   */
  #reopen(options: OpenOptions): void {
    const pointer = BpfObject.#openMem(
      this.#bytes as Uint8Array<ArrayBuffer>,
      this.name,
      options,
    );
    if (this.#pointer) libbpf().bpf_object__close(this.#pointer);
    this.#pointer = pointer;
    this.#options = options;
    const adjustments = this.#adjustments;
    this.#adjustments = [];
    for (const adjust of adjustments) adjust(this);
  }

  #record: Recorder = (replay) => {
    this.#adjustments.push(replay);
  };

  /**
   * Loads every program and creates every map in the kernel.
   *
   * @throws {BpfError} with the verifier's reason when the kernel refuses a
   * program; the whole log is on the error's `log`.
   */
  load(): void {
    takeLog();
    const result = libbpf().bpf_object__load(this.#live());
    if (result < 0) throw this.#loadError(result);
    this.#bytes = null;
    this.#adjustments = [];
  }

  #loadError(result: number): BpfError {
    const log = takeLog();
    const reason = verifierReason(log);
    const program = log.map((line) =>
      line.match(/prog '([^']+)': failed to load/)?.[1]
    ).findLast(Boolean);
    const step = `load ${this.name}` + (program ? ` (${program})` : "");
    return new BpfError(
      step,
      -result,
      log,
      reason
        ? `kernel refused the program: ${reason} (${strerror(-result)})`
        : undefined,
    );
  }

  /**
   * Loads several objects side by side on worker threads: the kernel's
   * verifier takes most of an agent's start-up, and it runs on separate
   * cores this way. libbpf's log callback cannot run off the main thread,
   * so logging is off meanwhile; an object that fails is loaded again
   * (from its bytes) on the main thread to get the reason.
   *
   * CO-RE relocates against one cut-down copy of the kernel's BTF rather
   * than libbpf reading all of it for each object (see
   * sensors/core_btf.ts). Should that copy be at fault, an object that
   * fails with it is reopened and loaded with the kernel's own BTF, and
   * only an object that fails that way too is an error.
   * `RINGFENCE_CORE_BTF=kernel` turns the copy off.
   *
   * @throws {BpfError} as {@linkcode BpfObject.load} does.
   */
  static async loadAll(
    objects: readonly BpfObject[],
    options: LoadAllOptions = {},
  ): Promise<LoadAllResult> {
    const { errors, ...result } = await BpfObject.loadEach(objects, options);
    const error = errors.find(Boolean);
    if (error) throw error;
    return result;
  }

  /**
   * Like {@linkcode BpfObject.loadAll}, but one object's failure leaves the
   * others loaded: `errors` has the error of each object, undefined where
   * it loaded.
   */
  static async loadEach(
    objects: readonly BpfObject[],
    options: LoadAllOptions = {},
  ): Promise<LoadAllResult & { errors: (BpfError | undefined)[] }> {
    const lib = libbpf();
    let result: LoadAllResult;
    let coreBtf = options.coreBtf;
    if (objects.some((object) => object.#options.btfCustomPath)) {
      result = { coreBtf: "kernel", reason: "a BTF path was given at open" };
      coreBtf = null;
    } else if (coreBtf === undefined) {
      if (Deno.env.get("RINGFENCE_CORE_BTF") === "kernel") {
        result = { coreBtf: "kernel", reason: "RINGFENCE_CORE_BTF=kernel" };
        coreBtf = null;
      } else {
        const minimal = await cachedMinimalCoreBtf(
          objects.map((object) => object.#live() && object.#bytes!),
        );
        result = minimal.btf
          ? { coreBtf: "minimal" }
          : { coreBtf: "kernel", reason: minimal.reason };
        coreBtf = minimal.btf ?? null;
      }
    } else {
      result = coreBtf ? { coreBtf: "minimal" } : { coreBtf: "kernel" };
    }
    using file = coreBtf
      ? memoryFile("ringfence-core-btf", coreBtf)
      : undefined;
    if (file) {
      for (const object of objects) {
        object.#reopen({ btfCustomPath: file.path });
      }
    }
    lib.libbpf_set_print(null);
    let results: number[];
    try {
      results = await Promise.all(
        objects.map((object) => lib.bpf_object__load_async(object.#live())),
      );
    } finally {
      lib.libbpf_set_print(retainedCallbacks[0].pointer);
    }
    const errors: (BpfError | undefined)[] = [];
    for (const [index, object] of objects.entries()) {
      errors.push(undefined);
      if (results[index] >= 0) {
        object.#bytes = null;
        object.#adjustments = [];
        continue;
      }
      try {
        if (file) {
          // The kernel's own BTF decides: this either loads or says why not.
          object.#reopen({});
          object.load();
          result = {
            coreBtf: "fallback",
            reason: `${object.name} failed to load with the cut-down BTF`,
          };
          continue;
        }
        // Again, as it was set up, on the main thread for the reason (or
        // a load that works the second time).
        object.#reopen({});
        object.load();
      } catch (error) {
        if (!(error instanceof BpfError)) throw error;
        errors[index] = error;
      }
    }
    return { ...result, errors };
  }

  /** The program with this function name. */
  program(name: string): BpfProgram {
    const pointer = libbpf().bpf_object__find_program_by_name(
      this.#live(),
      cString(name),
    );
    if (!pointer) throw new Error(`${this.name}: no program named ${name}`);
    return new BpfProgram(pointer, this.#record);
  }

  /** Every program in the object, in ELF order. */
  programs(): BpfProgram[] {
    const programs: BpfProgram[] = [];
    let pointer = libbpf().bpf_object__next_program(this.#live(), null);
    while (pointer) {
      programs.push(new BpfProgram(pointer, this.#record));
      pointer = libbpf().bpf_object__next_program(this.#live(), pointer);
    }
    return programs;
  }

  /** The map with this name. */
  map(name: string): BpfMap {
    const pointer = libbpf().bpf_object__find_map_by_name(
      this.#live(),
      cString(name),
    );
    if (!pointer) throw new Error(`${this.name}: no map named ${name}`);
    return new BpfMap(pointer, this.#record);
  }

  /** Frees the object: its programs and maps go when nothing else holds them. */
  close(): void {
    if (!this.#pointer) return;
    libbpf().bpf_object__close(this.#pointer);
    this.#pointer = null;
    this.#bytes = null;
    this.#adjustments = [];
  }

  [Symbol.dispose](): void {
    this.close();
  }

  #live(): Deno.PointerObject {
    if (!this.#pointer) throw new Error(`${this.name} was closed`);
    return this.#pointer;
  }
}
