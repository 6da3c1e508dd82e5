/**
 * Enforcement that outlives the agent: in block mode every link and map of
 * the loaded sensors is pinned in bpffs under
 * `/sys/fs/bpf/ringfence/<instance>/<sensor>/` (`link_<program>`,
 * `map_<name>`; bpffs refuses names with a dot; the scope maps the sensors share once, under `process`),
 * in directories only root can reach. A pinned link keeps its program
 * attached when the agent dies; a pinned map keeps the policy, the scope,
 * the DNS admissions, the counters and the records not yet read.
 *
 * An instance is `start-<12 hex of sha256(state dir)>` for `ringfence
 * start` (a later `start` or `stop` of the same state directory finds it)
 * or `run-<agent pid>`. Its `meta` map (bpffs holds no regular files) says
 * whose pins they are (pid and start time, so a reused pid is not taken
 * for the agent), where its events went, the layout of each sensor, and a
 * heartbeat: the counters as the agent last saw them.
 *
 * @module
 */

import { closeFd } from "../sensors/libc.ts";
import {
  BPFFS,
  createMetaMap,
  ensureBpffs,
  mapInfo,
  openPinned,
  openPinnedMaps,
  pinFd,
  readMeta,
  writeMeta,
} from "../sensors/pin.ts";
import type { Sensor, SensorStats } from "../sensors/sensor.ts";
import { VERSION } from "../version.ts";
import { processStart } from "./procfs.ts";

/** Where the instances' directories are. */
export const PIN_ROOT = `${BPFFS}/ringfence`;

/** The slots of an instance's meta map. */
const Slot = { owner: 0, heartbeat: 1, layouts: 2 } as const;

/** Who pinned an instance, and what a successor needs to know. */
export interface InstanceOwner {
  /** The agent's pid. */
  pid: number;
  /** Its start time (field 22 of /proc/PID/stat), against pid reuse. */
  startTime: number;
  /** The ringfence version that pinned. */
  version: string;
  /** The policy mode when pinned. */
  mode: string;
  /** The agent's `--output` (a file's absolute path), for recovery. */
  output?: string;
  /** `ringfence start`: its state directory. */
  stateDir?: string;
  /** When it pinned (ISO 8601). */
  since: string;
}

/** What the agent last saw of its counters (written every second). */
export interface Heartbeat {
  /** When (ISO 8601). */
  time: string;
  /** Refusals and kills per sensor, as the kernel counted them. */
  stats: Record<string, Pick<SensorStats, "refused" | "killed">>;
}

/**
 * The instance name of `ringfence start` with this state directory: the
 * one rule of agent/instance.ts, which the agent's root-only record
 * shares.
 */
export { instanceName as startInstanceName } from "./instance.ts";

/** The instance name of `ringfence run` with this agent pid. */
export function runInstanceName(pid: number = Deno.pid): string {
  return `run-${pid}`;
}

/** The directory of an instance. */
export function instanceDir(name: string): string {
  return `${PIN_ROOT}/${name}`;
}

/** Whether the agent that pinned is still the process of that pid. */
export function ownerAlive(owner: InstanceOwner): boolean {
  return processStart(owner.pid) === owner.startTime;
}

/**
 * A sensor's layout: a hash of its object's bytes, the ring size and the
 * version. Pinned maps are reused only by a sensor of the same layout:
 * libbpf would take another version's map of the same sizes but another
 * meaning.
 */
export function sensorLayout(bytes: Uint8Array, ringSize = 0): string {
  // Two 32-bit FNV-1a lanes of different seeds: enough to tell versions
  // apart, and synchronous. An indexed loop over locals: a for-of over the
  // bytes, in the code a start runs once, makes an iterator result per
  // byte, tens of megabytes for the objects, and a start that hashes
  // before the garbage is collected peaks that much higher.
  const tail = new TextEncoder().encode(`${ringSize}/${VERSION}`);
  let a = 0x811c9dc5, b = 0x050c5d1f;
  for (const part of [bytes, tail]) {
    for (let index = 0; index < part.length; index++) {
      const byte = part[index];
      a = Math.imul(a ^ byte, 0x01000193);
      b = Math.imul(b ^ byte, 0x01000193) ^ (b >>> 15);
    }
  }
  const hex = (word: number) => (word >>> 0).toString(16).padStart(8, "0");
  return hex(a) + hex(b);
}

/** What an instance's pins say of themselves. */
export interface InstanceState {
  /** The instance's name. */
  name: string;
  /** Its directory. */
  dir: string;
  /** Who pinned it; undefined when its meta map is gone. */
  owner?: InstanceOwner;
  /** The last heartbeat. */
  heartbeat?: Heartbeat;
  /** The layout of each sensor pinned. */
  layouts: Record<string, string>;
}

/** Reads an instance's meta map; undefined when the instance has no pins. */
export function readInstance(name: string): InstanceState | undefined {
  const dir = instanceDir(name);
  try {
    Deno.statSync(dir);
  } catch {
    return undefined;
  }
  const state: InstanceState = { name, dir, layouts: {} };
  let fd = -1;
  try {
    fd = openPinned(`${dir}/meta`);
  } catch {
    return state;
  }
  try {
    state.owner = readMeta<InstanceOwner>(fd, Slot.owner);
    state.heartbeat = readMeta<Heartbeat>(fd, Slot.heartbeat);
    state.layouts = readMeta<Record<string, string>>(fd, Slot.layouts) ?? {};
  } finally {
    closeFd(fd);
  }
  return state;
}

/** Every instance with pins, by name. */
export function listInstances(): string[] {
  try {
    return [...Deno.readDirSync(PIN_ROOT)].filter((entry) => entry.isDirectory)
      .map((entry) => entry.name).sort();
  } catch {
    return [];
  }
}

/** Removes an instance's pins: its links detach unless an agent holds them. */
export function removeInstance(name: string): void {
  Deno.removeSync(instanceDir(name), { recursive: true });
}

/**
 * A dead agent's pins that a new agent takes over: its maps are reused
 * (where the layout matches), its links are unpinned only once the new
 * links are attached, then everything is pinned again under the new
 * owner.
 */
export class Adoption {
  /** What the pins said when found. */
  readonly state: InstanceState;
  /** Sensors whose pins are of another layout: replaced, not reused. */
  readonly replaced: string[] = [];

  private constructor(state: InstanceState) {
    this.state = state;
  }

  /**
   * The pins of `name`, when there are any.
   *
   * @throws {Error} when they belong to a live agent.
   */
  static inspect(name: string): Adoption | undefined {
    const state = readInstance(name);
    if (!state) return undefined;
    const { owner } = state;
    if (owner && owner.pid !== Deno.pid && ownerAlive(owner)) {
      throw new Error(
        `the pins ${state.dir} belong to a running agent (pid ${owner.pid}): stop it first`,
      );
    }
    return new Adoption(state);
  }

  /**
   * The fds of `sensor`'s pinned maps, by name, when its layout is the
   * one pinned; the caller closes them once the sensor is loaded.
   */
  mapsFor(
    sensor: string,
    bytes: Uint8Array,
    ringSize?: number,
  ): Record<string, number> {
    const pinned = this.state.layouts[sensor];
    if (!pinned) return {};
    if (pinned !== sensorLayout(bytes, ringSize)) {
      this.replaced.push(sensor);
      return {};
    }
    try {
      return Object.fromEntries(
        openPinnedMaps(`${this.state.dir}/${sensor}`),
      );
    } catch {
      this.replaced.push(sensor);
      return {};
    }
  }
}

/** The pins of the instance this agent owns. */
export class PinnedInstance {
  /** The instance's name. */
  readonly name: string;
  /** Its directory. */
  readonly dir: string;
  #meta = -1;
  #owner: InstanceOwner;
  readonly #layouts: Record<string, string>;

  private constructor(
    name: string,
    owner: InstanceOwner,
    layouts: Record<string, string>,
  ) {
    this.name = name;
    this.dir = instanceDir(name);
    this.#owner = owner;
    this.#layouts = layouts;
  }

  /**
   * Pins every link and state map of `sensors` (after attach) under a new
   * directory of `name`. Pins found there (a dead agent's, adopted) are
   * removed first: their maps are the ones reused, and the new links are
   * attached already, so their old links detach with no gap.
   *
   * @throws {Error} when bpffs cannot be mounted or a pin fails; what was
   * pinned is removed then.
   */
  static pin(
    name: string,
    sensors: readonly Sensor[],
    owner: Omit<InstanceOwner, "pid" | "startTime" | "version" | "since">,
    layouts: Record<string, string>,
  ): PinnedInstance {
    ensureBpffs();
    const instance = new PinnedInstance(name, {
      ...owner,
      pid: Deno.pid,
      startTime: processStart(Deno.pid) ?? 0,
      version: VERSION,
      since: new Date().toISOString(),
    }, layouts);
    try {
      instance.#pinAll(sensors);
    } catch (error) {
      instance.remove();
      throw error;
    }
    return instance;
  }

  #pinAll(sensors: readonly Sensor[]): void {
    mkdirPrivate(PIN_ROOT);
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* none */ }
    mkdirPrivate(this.dir);
    const pinnedIds = new Set<number>();
    for (const sensor of sensors) {
      const dir = `${this.dir}/${sensor.name}`;
      mkdirPrivate(dir);
      for (const { name, fd } of sensor.stateMaps()) {
        // A map shared by the sensors is pinned once, by the first.
        const id = mapId(fd);
        if (pinnedIds.has(id)) continue;
        pinnedIds.add(id);
        pinFd(fd, `${dir}/map_${name}`);
      }
      for (const link of sensor.links) {
        pinFd(link.fd, this.linkPath(sensor.name, link.program));
      }
    }
    this.#meta = createMetaMap(3);
    writeMeta(this.#meta, Slot.owner, this.#owner);
    writeMeta(this.#meta, Slot.layouts, this.#layouts);
    pinFd(this.#meta, `${this.dir}/meta`);
    this.heartbeat(sensors);
  }

  /** Where a link of a sensor is pinned. */
  linkPath(sensor: string, program: string): string {
    return `${this.dir}/${sensor}/link_${program}`;
  }

  /** Pins a link that replaced another in its place. */
  repinLink(sensor: string, program: string, fd: number): void {
    const path = this.linkPath(sensor, program);
    try {
      Deno.removeSync(path);
    } catch { /* already gone */ }
    pinFd(fd, path);
  }

  /** Whether the instance's directory is still there. */
  present(): boolean {
    try {
      Deno.statSync(`${this.dir}/meta`);
      return true;
    } catch {
      return false;
    }
  }

  /** Records the counters as the agent sees them now. */
  heartbeat(sensors: readonly Sensor[]): void {
    if (this.#meta < 0) return;
    const stats: Heartbeat["stats"] = {};
    for (const sensor of sensors) {
      const { refused, killed } = sensor.stats();
      stats[sensor.name] = { refused, killed };
    }
    writeMeta(this.#meta, Slot.heartbeat, {
      time: new Date().toISOString(),
      stats,
    });
  }

  /** Unpins everything: what the agent no longer holds detaches. */
  remove(): void {
    try {
      Deno.removeSync(this.dir, { recursive: true });
    } catch { /* already gone */ }
    if (this.#meta >= 0) closeFd(this.#meta);
    this.#meta = -1;
  }
}

function mkdirPrivate(path: string): void {
  try {
    Deno.mkdirSync(path, { mode: 0o700 });
  } catch (error) {
    if (!(error instanceof Deno.errors.AlreadyExists)) throw error;
  }
  Deno.chmodSync(path, 0o700);
}

function mapId(fd: number): number {
  return mapInfo(fd).id;
}
