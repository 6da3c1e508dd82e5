/**
 * A BPF ELF object, as libbpf opens it: open it from memory, adjust its
 * maps and programs, load it into the kernel, find its programs and maps,
 * then close it, which also detaches what was not pinned.
 *
 * @module
 */

import { cString, strerror } from "./libc.ts";
import {
  BpfError,
  checkPointer,
  libbpf,
  takeLog,
  verifierReason,
  withoutLog,
} from "./libbpf.ts";
import { BpfProgram } from "./bpf_program.ts";
import { BpfMap } from "./bpf_map.ts";
import {
  type LoadAllOptions,
  type LoadAllResult,
  loadSideBySide,
} from "./load_objects.ts";

/** How to open a {@linkcode BpfObject}. */
export interface OpenOptions {
  /**
   * BTF file that CO-RE relocates against in place of the kernel's
   * (libbpf's `btf_custom_path`); read at load.
   */
  btfCustomPath?: string;
}

/**
 * Takes a change made to an object before load, to make it again should
 * the object have to be opened anew (see {@linkcode BpfObject.reopen}).
 */
export type Recorder = (replay: (object: BpfObject) => void) => void;

/**
 * A BPF ELF object: open it from memory, adjust maps, load, find programs
 * and maps, then close it, which also detaches what was not pinned.
 */
export class BpfObject implements Disposable {
  #pointer: Deno.PointerObject | null;
  // libbpf parses the ELF in place until load: the bytes must outlive it.
  #bytes: Uint8Array<ArrayBuffer> | null;
  #options: OpenOptions;
  // Changes made before load, made again when the object is reopened.
  #adjustments: ((object: BpfObject) => void)[] = [];
  /** The object's name, used in messages (e.g. "sensor.process"). */
  readonly name: string;

  private constructor(
    pointer: Deno.PointerObject,
    bytes: Uint8Array<ArrayBuffer>,
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

  /** The options the object was last opened with. */
  get openOptions(): Readonly<OpenOptions> {
    return this.#options;
  }

  /** The object's ELF bytes until it is loaded, for reading its BTF. */
  get elf(): Uint8Array<ArrayBuffer> {
    this.#live();
    if (!this.#bytes) throw new Error(`${this.name} is loaded`);
    return this.#bytes;
  }

  /**
   * Opens the object again from its bytes with other options, and makes
   * the changes made to it since it was opened: libbpf takes
   * `btf_custom_path` at open only, and an object whose load failed cannot
   * be loaded again.
   */
  reopen(options: OpenOptions): void {
    const pointer = BpfObject.#openMem(
      this.elf,
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
    this.#loaded();
  }

  /**
   * Loads the object on a worker thread, leaving the main thread free while
   * the kernel verifies it. libbpf's log is off meanwhile (see
   * {@linkcode withoutLog}), so a refusal has no reason: false then, and
   * {@linkcode BpfObject.reopen} followed by {@linkcode BpfObject.load}
   * gives the reason.
   */
  async loadOffThread(): Promise<boolean> {
    const pointer = this.#live();
    const result = await withoutLog(() =>
      libbpf().bpf_object__load_async(pointer)
    );
    if (result < 0) return false;
    this.#loaded();
    return true;
  }

  #loaded(): void {
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
    // Without a verifier log, libbpf's last complaint says more than errno:
    // a BTF it cannot use, a relocation that found no type (ESRCH).
    const complaint = log.findLast((line) =>
      /fail|error|invalid|btf|relo/i.test(line)
    )?.replace(/^libbpf: /, "").trim();
    return new BpfError(
      step,
      -result,
      log,
      reason
        ? `kernel refused the program: ${reason} (${strerror(-result)})`
        : complaint
        ? `${complaint} (${strerror(-result)})`
        : undefined,
    );
  }

  /**
   * Loads several objects side by side on worker threads, relocating them
   * against a cut-down copy of the kernel's BTF (see
   * {@linkcode ./load_objects.ts}).
   *
   * @throws {BpfError} as {@linkcode BpfObject.load} does.
   */
  static async loadAll(
    objects: readonly BpfObject[],
    options: LoadAllOptions = {},
  ): Promise<LoadAllResult> {
    const { errors, ...result } = await loadSideBySide(objects, options);
    const error = errors.find(Boolean);
    if (error) throw error;
    return result;
  }

  /**
   * Like {@linkcode BpfObject.loadAll}, but one object's failure leaves the
   * others loaded: `errors` has the error of each object, undefined where
   * it loaded.
   */
  static loadEach(
    objects: readonly BpfObject[],
    options: LoadAllOptions = {},
  ): Promise<LoadAllResult & { errors: (BpfError | undefined)[] }> {
    return loadSideBySide(objects, options);
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

  /** Every map in the object, its internal ones (`.rodata`, `.bss`) too. */
  maps(): BpfMap[] {
    const maps: BpfMap[] = [];
    let pointer = libbpf().bpf_object__next_map(this.#live(), null);
    while (pointer) {
      maps.push(new BpfMap(pointer, this.#record));
      pointer = libbpf().bpf_object__next_map(this.#live(), pointer);
    }
    return maps;
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
