/**
 * The programs of a BPF object ({@linkcode ./bpf_object.ts}) and the links
 * that attach them to their hooks.
 *
 * @module
 */

import { check, checkPointer, libbpf, readCString } from "./libbpf.ts";
import type { Recorder } from "./bpf_object.ts";
import { closeFd, openDirectory } from "./libc.ts";

/** An attachment of a program to a hook. Destroying it detaches the program. */
export class BpfLink implements Disposable {
  #pointer: Deno.PointerObject | null;
  /** What the link is attached to, for messages. */
  readonly target: string;
  /** The function name of the program it attaches. */
  readonly program: string;
  /** Attaches the same program to the same hook again: a new link. */
  readonly reattach: () => BpfLink;

  /** Wraps a checked link pointer. */
  constructor(
    pointer: Deno.PointerObject,
    target: string,
    program = "",
    reattach?: () => BpfLink,
  ) {
    this.#pointer = pointer;
    this.target = target;
    this.program = program;
    this.reattach = reattach ?? (() => {
      throw new Error(`${program}: the link to ${target} cannot be redone`);
    });
  }

  /** The link's fd (-1 once destroyed). */
  get fd(): number {
    return this.#pointer ? libbpf().bpf_link__fd(this.#pointer) : -1;
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
}

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

  /** Whether {@linkcode BpfObject.load} loads this program (before load). */
  setAutoload(autoload: boolean): void {
    check(
      libbpf().bpf_program__set_autoload(this.#pointer, autoload),
      `set autoload of ${this.name}`,
    );
    const name = this.name;
    this.#record?.((object) => object.program(name).setAutoload(autoload));
  }

  /** Attaches by the section name (raw tracepoints, LSM hooks, kprobes). */
  attach(): BpfLink {
    return this.#link(
      libbpf().bpf_program__attach(this.#pointer),
      this.section,
      () => this.attach(),
    );
  }

  /** Attaches to a cgroup v2 directory given by its open fd (multi-attach). */
  attachCgroup(cgroupFd: number, description = "cgroup"): BpfLink {
    return this.#link(
      libbpf().bpf_program__attach_cgroup(this.#pointer, cgroupFd),
      description,
    );
  }

  /**
   * Attaches to the cgroup v2 directory at `path` (multi-attach); the link
   * can be redone ({@linkcode BpfLink.reattach}) after someone detached it.
   */
  attachCgroupPath(path: string, description = `cgroup ${path}`): BpfLink {
    const fd = openDirectory(path);
    try {
      return this.#link(
        libbpf().bpf_program__attach_cgroup(this.#pointer, fd),
        description,
        () => this.attachCgroupPath(path, description),
      );
    } finally {
      closeFd(fd);
    }
  }

  #link(
    pointer: Deno.PointerValue,
    target: string,
    reattach?: () => BpfLink,
  ): BpfLink {
    const step = `attach ${this.name} to ${target}`;
    return new BpfLink(
      checkPointer(pointer, step),
      target,
      this.name,
      reattach,
    );
  }
}
