/**
 * The maps of a BPF object ({@linkcode ./bpf_object.ts}): their definition,
 * which can change until the object loads, and their fd. Elements are read
 * and written by fd with the functions of {@linkcode ./libbpf.ts}.
 *
 * @module
 */

import { closeFd, cString } from "./libc.ts";
import { check, libbpf, readCString } from "./libbpf.ts";
import type { Recorder } from "./bpf_object.ts";

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
