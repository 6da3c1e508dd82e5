/**
 * What every sensor has in common: one BPF object, the links that attach
 * its programs, one ring buffer of records and a per-CPU counter map.
 *
 * @module
 */

import { type BpfError, mapLookup, numPossibleCpus } from "./libbpf.ts";
import { BpfObject } from "./bpf_object.ts";
import type { BpfLink } from "./bpf_program.ts";
import { type RecordHandler, RingBufferReader } from "./ringbuf.ts";

/** Counters a sensor keeps in the kernel (`enum sensor_stat`). */
export interface SensorStats {
  /** Records submitted to the ring buffer. */
  events: number;
  /** Records lost because the ring buffer was full. */
  drops: number;
  /** Processes not tracked because the scope map was full. */
  scopeFull: number;
}

/** How to open a sensor object. */
export interface SensorOptions {
  /** Maps to share with other sensors: map name → fd of the existing map. */
  sharedMaps?: Readonly<Record<string, number>>;
  /** Ring buffer size in bytes (a power of two, at least one page). */
  ringSize?: number;
  /** Programs not to load (e.g. optional hooks the kernel lacks). */
  skipPrograms?: readonly string[];
}

const STAT_INDEX = { events: 0, drops: 1, scopeFull: 2 } as const;

/**
 * A loaded sensor. Open it, then {@linkcode Sensor.load}, then attach its
 * programs; {@linkcode Sensor.close} detaches and frees everything, in the
 * reverse order.
 */
export class Sensor implements Disposable {
  /** Short name, e.g. "process". */
  readonly name: string;
  /** The BPF object. */
  readonly object: BpfObject;
  #links: BpfLink[] = [];
  #ring: RingBufferReader | undefined;

  /**
   * Opens `sensor.<name>` from its ELF bytes and applies `options`.
   *
   * @throws {import("./libbpf.ts").BpfError} when libbpf rejects the object or a map option.
   */
  constructor(name: string, bytes: Uint8Array, options: SensorOptions = {}) {
    this.name = name;
    this.object = BpfObject.open(bytes, `sensor.${name}`);
    try {
      for (const [map, fd] of Object.entries(options.sharedMaps ?? {})) {
        this.object.map(map).reuseFd(fd);
      }
      if (options.ringSize) {
        this.object.map("events").setMaxEntries(options.ringSize);
      }
      for (const program of options.skipPrograms ?? []) {
        this.object.program(program).setAutoload(false);
      }
    } catch (error) {
      this.object.close();
      throw error;
    }
  }

  /**
   * Loads the programs and maps into the kernel and maps the ring buffer.
   *
   * @throws {import("./libbpf.ts").BpfError} with the verifier's reason when a program is refused.
   */
  load(): void {
    this.object.load();
    this.loaded();
  }

  /**
   * Loads several sensors side by side (see {@linkcode BpfObject.loadAll}).
   *
   * @throws {import("./libbpf.ts").BpfError} with the verifier's reason.
   */
  static async loadAll(sensors: readonly Sensor[]): Promise<void> {
    const error = (await Sensor.loadEach(sensors)).find(Boolean);
    if (error) throw error;
  }

  /**
   * Like {@linkcode Sensor.loadAll}, but one sensor's failure leaves the
   * others loaded: the error of each sensor, undefined where it loaded.
   * `whileLoading` runs while the kernel verifies them (see
   * {@linkcode BpfObject.loadEach}).
   */
  static async loadEach(
    sensors: readonly Sensor[],
    whileLoading?: () => void,
  ): Promise<(BpfError | undefined)[]> {
    const loading = BpfObject.loadEach(sensors.map((sensor) => sensor.object));
    whileLoading?.();
    const { errors } = await loading;
    sensors.forEach((sensor, index) => {
      if (!errors[index]) sensor.loaded();
    });
    return errors;
  }

  /** Runs once the object is in the kernel: maps the ring buffer. */
  protected loaded(): void {
    const events = this.object.map("events");
    this.#ring = new RingBufferReader(events.fd, events.maxEntries);
  }

  /** The sensor's ring buffer (after load). */
  get ring(): RingBufferReader {
    if (!this.#ring) throw new Error(`sensor.${this.name} is not loaded`);
    return this.#ring;
  }

  /** Keeps a link so that {@linkcode Sensor.close} detaches it. */
  adopt(link: BpfLink): BpfLink {
    this.#links.push(link);
    return link;
  }

  /**
   * Attaches every loaded program by its section name (tracepoints and raw
   * tracepoints). On failure, detaches what it attached.
   */
  attachBySection(names?: readonly string[]): void {
    const programs = this.object.programs().filter((program) =>
      program.fd >= 0 && (!names || names.includes(program.name))
    );
    for (const program of programs) this.adopt(program.attach());
  }

  /**
   * Hands every complete record to `onRecord`, or those reserved before the
   * producer position `end`; returns how many.
   */
  drain(onRecord: RecordHandler, end?: number): number {
    return this.ring.drain(onRecord, undefined, end);
  }

  /** The kernel-side counters, summed over CPUs. */
  stats(): SensorStats {
    const fd = this.object.map("stats").fd;
    const cpus = numPossibleCpus();
    const values = new BigUint64Array(cpus);
    const key = new Uint32Array(1);
    const read = (index: number): number => {
      key[0] = index;
      if (
        !mapLookup(
          fd,
          new Uint8Array(key.buffer),
          new Uint8Array(values.buffer),
        )
      ) return 0;
      return Number(values.reduce((sum, value) => sum + value, 0n));
    };
    return {
      events: read(STAT_INDEX.events),
      drops: read(STAT_INDEX.drops),
      scopeFull: read(STAT_INDEX.scopeFull),
    };
  }

  /** Detaches every link, unmaps the ring and closes the object. */
  close(): void {
    for (const link of this.#links.reverse()) link.destroy();
    this.#links = [];
    this.#ring?.close();
    this.#ring = undefined;
    this.object.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
