/**
 * What every sensor has in common: one BPF object, the links that attach
 * its programs, one ring buffer of records and a per-CPU counter map.
 *
 * @module
 */

import {
  type BpfError,
  mapDelete,
  mapKeys,
  mapLookup,
  mapUpdate,
  numPossibleCpus,
} from "./libbpf.ts";
import { BpfObject } from "./bpf_object.ts";
import type { BpfLink } from "./bpf_program.ts";
import {
  encodeInt,
  encodeStruct,
  type MapLayout,
  sizeOf,
  type StructInput,
  type StructLayout,
} from "./layout.ts";
import { programId } from "./pin.ts";
import { type RecordHandler, RingBufferReader } from "./ringbuf.ts";
import type { ChainLink, SyscallChain } from "./syscall_chain.ts";

/** Counters a sensor keeps in the kernel (`enum sensor_stat`). */
export interface SensorStats {
  /** Records submitted to the ring buffer. */
  events: number;
  /** Records lost because the ring buffer was full. */
  drops: number;
  /** Processes not tracked because the scope map was full. */
  scopeFull: number;
  /** Actions refused in the kernel. */
  refused: number;
  /** Processes sent SIGKILL. */
  killed: number;
  /** Changes counted in a summary map rather than sent (sensor.file-system's
   * bulk summary); absent from other sensors' counts (0). */
  summarised: number;
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

/** `enum sensor_stat` (bpf/lib/scope.h): the index of each counter. */
export const SensorStat = {
  events: 0,
  drops: 1,
  scopeFull: 2,
  refused: 3,
  killed: 4,
  summarised: 5,
} as const;

/** The maps every sensor has that the loader reads. */
export const SENSOR_MAPS = {
  stats: { key: "u32", value: "u64" },
  ring_asleep: { key: "u32", value: "u32" },
} as const satisfies Record<string, MapLayout>;

const ASLEEP_KEY = encodeInt("u32", 0);
const ASLEEP = encodeInt("u32", 1);
const AWAKE = encodeInt("u32", 0);

/** One key/value pair of a map, encoded. */
export interface MapEntry {
  /** The key's bytes. */
  key: Uint8Array<ArrayBuffer>;
  /** The value's bytes. */
  value: Uint8Array<ArrayBuffer>;
}

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
  #chained: ChainLink[] = [];
  #ring: RingBufferReader | undefined;
  readonly #written = new Map<string, Uint8Array<ArrayBuffer>>();

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
      // A reused ring keeps its size (and its records).
      if (options.ringSize && options.sharedMaps?.events === undefined) {
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
   */
  static async loadEach(
    sensors: readonly Sensor[],
  ): Promise<(BpfError | undefined)[]> {
    const { errors } = await BpfObject.loadEach(
      sensors.map((sensor) => sensor.object),
    );
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

  /** The links attaching the sensor's programs, in attach order. */
  get links(): readonly BpfLink[] {
    return this.#links;
  }

  /**
   * Attaches `old`'s program to its hook again with a new link, then
   * destroys `old`: an overlap, never a gap. Returns the new link, which
   * takes `old`'s place.
   */
  replaceLink(old: BpfLink): BpfLink {
    const index = this.#links.indexOf(old);
    if (index < 0) throw new Error(`sensor.${this.name}: not its link`);
    const link = old.reattach();
    this.#links[index] = link;
    old.destroy();
    return link;
  }

  /**
   * The maps of the object that are its own state (not `.rodata`, `.bss`
   * and the like, which a program's load creates), by name, with fd.
   */
  stateMaps(): { name: string; fd: number }[] {
    return this.object.maps().filter((map) => !map.name.includes("."))
      .map((map) => ({ name: map.name, fd: map.fd }));
  }

  /**
   * The bytes last written to each config map by
   * {@linkcode Sensor.writeConfig} (key 0), by map name.
   */
  get configs(): ReadonlyMap<string, Uint8Array<ArrayBuffer>> {
    return this.#written;
  }

  /**
   * The sensor's programs in the syscall chains (sensors/syscall_chain.ts),
   * in the order they were put there.
   */
  get chained(): readonly ChainLink[] {
    return this.#chained;
  }

  /**
   * Puts the loaded program `program` in `slot` of `chain` (in place of
   * what was there), where sensor.process's programs reach it by tail call;
   * {@linkcode Sensor.close} takes it out. A program not loaded
   * (`skipPrograms`) is left out.
   */
  chain(program: string, chain: SyscallChain, slot: number): void {
    const fd = this.object.program(program).fd;
    if (fd < 0) return;
    const link = { chain, slot, program, id: programId(fd) };
    this.#fillSlot(link, fd);
    this.#chained.push(link);
  }

  /** The id of the program in `link`'s slot now; 0 when it is empty. */
  slotHolds(link: ChainLink): number {
    const id = new Uint8Array(4);
    if (!mapLookup(this.object.map(link.chain).fd, slotKey(link), id)) {
      return 0;
    }
    return new DataView(id.buffer).getUint32(0, true);
  }

  /** Puts `link`'s program in its slot again (after someone changed it). */
  refillSlot(link: ChainLink): void {
    this.#fillSlot(link, this.object.program(link.program).fd);
  }

  #fillSlot(link: ChainLink, fd: number): void {
    mapUpdate(
      this.object.map(link.chain).fd,
      slotKey(link),
      encodeInt("u32", fd),
    );
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
   * producer position `end`; returns how many. `beforeCommit` runs before
   * the ring's space is given back (see {@linkcode RingBufferReader.drain});
   * with `hold`, the last of it waits for `ring.release()`.
   */
  drain(
    onRecord: RecordHandler,
    end?: number,
    beforeCommit?: () => void,
    hold = false,
  ): number {
    return this.ring.drain(onRecord, undefined, end, beforeCommit, hold);
  }

  /**
   * Tells the programs whether the agent sleeps for long (bpf/lib/ring.h):
   * while it does, the first record after what it read wakes it.
   */
  setAsleep(asleep: boolean): void {
    mapUpdate(
      this.object.map("ring_asleep").fd,
      ASLEEP_KEY,
      asleep ? ASLEEP : AWAKE,
    );
  }

  /** The kernel-side counters, summed over CPUs. */
  stats(): SensorStats {
    return readSensorStats(this.object.map("stats").fd);
  }

  /** Writes the one value of the array map `map`: a config struct. */
  protected writeConfig<L extends StructLayout>(
    map: string,
    layout: L,
    values: StructInput<L>,
  ): void {
    const bytes = encodeStruct(layout, values);
    mapUpdate(this.object.map(map).fd, encodeInt("u32", 0), bytes);
    this.#written.set(map, bytes);
  }

  /**
   * Makes `map` (of `layout`) hold exactly `entries`. With
   * `addFirst`, new entries go in before stale ones go out, so that a map
   * the programs read meanwhile never holds less than the old or the new
   * set; otherwise it is emptied first, so that it never holds more than
   * the new set.
   */
  protected replaceEntries(
    map: string,
    layout: MapLayout,
    entries: readonly MapEntry[],
    { addFirst }: { addFirst: boolean },
  ): void {
    const fd = this.object.map(map).fd;
    const present = [...mapKeys(fd, sizeOf(layout.key))];
    // A map with nothing in it (every start) has nothing stale to find.
    if (!present.length) {
      for (const { key, value } of entries) mapUpdate(fd, key, value);
      return;
    }
    const wanted = new Set(entries.map(({ key }) => hex(key)));
    const removeStale = () => {
      for (const key of present) {
        if (!addFirst || !wanted.has(hex(key))) {
          mapDelete(fd, new Uint8Array(key));
        }
      }
    };
    if (!addFirst) removeStale();
    for (const { key, value } of entries) mapUpdate(fd, key, value);
    if (addFirst) removeStale();
  }

  /**
   * Detaches every link (those `only` takes, when given), the last
   * attached first. Idempotent.
   */
  detach(only?: (link: BpfLink) => boolean): void {
    const gone = only ? this.#links.filter(only) : this.#links;
    for (const link of gone.toReversed()) link.destroy();
    this.#links = only ? this.#links.filter((link) => !only(link)) : [];
  }

  /**
   * Takes the sensor's programs out of the chains and detaches every link,
   * each in the reverse order, unmaps the ring and closes the object.
   *
   * `leaveChains`: the chains' dispatchers are detached already (the whole
   * agent stops), so no program enters a slot again and the slots stay as
   * they are, freed with the prog arrays. Emptying a slot the dispatcher's
   * tail call jumps to makes the kernel rewrite that jump and wait for an
   * RCU grace period (`prog_array_map_poke_run()`).
   */
  close(options: { leaveChains?: boolean } = {}): void {
    const emptied = options.leaveChains ? [] : this.#chained.toReversed();
    for (const link of emptied) {
      // A slot that holds another program now is not this sensor's to empty.
      try {
        if (this.slotHolds(link) === link.id) {
          mapDelete(this.object.map(link.chain).fd, slotKey(link));
        }
      } catch { /* the chain is gone with its last holder */ }
    }
    this.#chained = [];
    this.detach();
    this.#ring?.close();
    this.#ring = undefined;
    this.object.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}

/**
 * Reads a sensor's `stats` map (per CPU, `enum sensor_stat`) by fd, summed
 * over CPUs: the loaded sensor's, or a pinned one's.
 */
export function readSensorStats(fd: number): SensorStats {
  // A per-CPU map's value is one __u64 per possible CPU.
  const values = new BigUint64Array(numPossibleCpus());
  const read = (index: number): number => {
    const bytes = new Uint8Array(values.buffer);
    if (!mapLookup(fd, encodeInt("u32", index), bytes)) return 0;
    return Number(values.reduce((sum, value) => sum + value, 0n));
  };
  return {
    events: read(SensorStat.events),
    drops: read(SensorStat.drops),
    scopeFull: read(SensorStat.scopeFull),
    refused: read(SensorStat.refused),
    killed: read(SensorStat.killed),
    summarised: read(SensorStat.summarised),
  };
}

function slotKey(link: ChainLink): Uint8Array<ArrayBuffer> {
  return encodeInt("u32", link.slot);
}

const HEX = Array.from(
  { length: 256 },
  (_, byte) => byte.toString(16).padStart(2, "0"),
);

function hex(bytes: Uint8Array): string {
  let text = "";
  for (const byte of bytes) text += HEX[byte];
  return text;
}
