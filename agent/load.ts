/**
 * Loading the agent's sensors side by side, and choosing how protected
 * files are enforced: BPF LSM where the kernel accepts its programs, else
 * a signal to the writer, with the kernel's refusal remembered for the
 * rest of the boot.
 *
 * @module
 */

import { bootId } from "../sensors/boot.ts";
import { FileSystemSensor } from "../sensors/file_system.ts";
import { closeFd } from "../sensors/libc.ts";
import { NetworkSensor } from "../sensors/network.ts";
import { readSensorObject, type SensorName } from "../sensors/objects.ts";
import { ProcessSensor } from "../sensors/process.ts";
import { Sensor } from "../sensors/sensor.ts";
import { SYSCALL_CHAINS } from "../sensors/syscall_chain.ts";
import { bpfLsm } from "../sensors/system.ts";
import { sensorLayout } from "./pins.ts";

/** How protected paths are enforced (see `Agent.fileEnforcement`). */
export interface FileEnforcement {
  /** `lsm`: refused with EPERM before the change; `signal`: SIGKILL on the
   * way back from the syscall, which has completed. */
  method: "lsm" | "signal";
  /** Why: what was detected, or what the kernel said. */
  reason: string;
}

/**
 * Where a kernel's refusal of the LSM programs is remembered for the rest
 * of the boot: finding out costs a second load of sensor.file-system.
 */
export const LSM_REFUSAL_FILE = "/run/ringfence/bpf-lsm-refused";

/** The sensors of an agent, loaded and not yet attached. */
export interface LoadedSensors {
  process: ProcessSensor;
  network: NetworkSensor;
  /** Loaded only for a policy with a `files` section. */
  fileSystem?: FileSystemSensor;
  /** How sensor.file-system enforces, when it is loaded. */
  enforcement?: FileEnforcement;
  /** Each sensor's layout (agent/pins.ts), when asked for with `pins`. */
  layouts: Record<string, string>;
}

/**
 * The pinned maps a sensor is to reuse (a dead agent's, adopted): map name
 * → fd, which the loader closes once the sensor is loaded.
 */
export type PinnedMaps = (
  sensor: string,
  bytes: Uint8Array,
  ringSize?: number,
) => Record<string, number>;

/** What to load, and from where. */
export interface LoadOptions {
  /** Directory of compiled sensors instead of the built-in ones. */
  sensorsDir?: string;
  /** Ring buffer size per sensor in bytes (a power of two). */
  ringSize?: number;
  /** The scope map's capacity instead of the kernel default. */
  scopeCapacity?: number;
  /**
   * Whether sensor.file-system loads too. A promise lets the process and
   * network sensors load while it is being decided; when it rejects, the
   * load fails with its error.
   */
  files: boolean | Promise<boolean>;
  /**
   * The sensors are to be pinned: their layouts are computed, and the maps
   * `pins.maps` gives are reused.
   */
  pins?: { maps?: PinnedMaps };
}

/**
 * Reads the sensor objects, then opens and loads them side by side; on
 * failure nothing stays loaded. The process and network sensors start
 * loading at once, sensor.file-system once `files` says so: the kernel's
 * verification of the others overlaps whatever decides it.
 */
export async function loadSensors(
  options: LoadOptions,
): Promise<LoadedSensors> {
  const { ringSize, sensorsDir } = options;
  const loaded: Partial<LoadedSensors> = { layouts: {} };
  let shared: Record<string, number> = {};
  // Fds of pinned maps this load opened: closed once loaded.
  const owned = new Set<number>();
  const opened = (async () => {
    const [processBytes, networkBytes] = await readObjects(
      ["process", "network"],
      sensorsDir,
    );
    const processPins = pinned(loaded, options, "process", processBytes, owned);
    const process = loaded.process = new ProcessSensor(processBytes, {
      ringSize,
      scopeCapacity: options.scopeCapacity,
      sharedMaps: processPins,
    });
    // The scope maps exist before any sensor loads, so that all of them
    // can load side by side: verification is most of the start-up.
    shared = process.createSharedMaps(processPins);
    const networkPins = pinned(loaded, options, "network", networkBytes, owned);
    loaded.network = new NetworkSensor(networkBytes, {
      sharedMaps: { ...networkPins, ...shared },
      ringSize,
    });
  })();
  try {
    // All settled before anything closes: an object stays open while a
    // worker thread loads it.
    const [files, processAndNetwork, fileSystem] = await Promise.allSettled([
      options.files,
      opened.then(() => Sensor.loadEach([loaded.process!, loaded.network!])),
      Promise.all([options.files, opened]).then(([files]) =>
        files ? loadFileSystem(loaded, shared, options, owned) : undefined
      ),
    ]);
    valueOf(files);
    const [processError, networkError] = valueOf(processAndNetwork);
    if (processError || networkError) throw processError ?? networkError;
    valueOf(fileSystem);
    return loaded as LoadedSensors;
  } catch (error) {
    closeSensors(loaded);
    throw error;
  } finally {
    // The objects hold their own references to the scope maps.
    for (const fd of Object.values(shared)) owned.add(fd);
    owned.forEach(closeFd);
  }
}

/**
 * With `options.pins`: records the sensor's layout and returns the pinned
 * maps it reuses (their fds added to `owned`).
 */
function pinned(
  loaded: Partial<LoadedSensors>,
  options: LoadOptions,
  sensor: string,
  bytes: Uint8Array,
  owned: Set<number>,
): Record<string, number> {
  if (!options.pins) return {};
  // Hashed when first read, as pinning or adopting reads it: a start that
  // pins nothing (audit mode) never pays for it.
  let layout: string | undefined;
  Object.defineProperty(loaded.layouts!, sensor, {
    enumerable: true,
    get: () => layout ??= sensorLayout(bytes, options.ringSize),
  });
  const maps = options.pins.maps?.(sensor, bytes, options.ringSize) ?? {};
  for (const fd of Object.values(maps)) owned.add(fd);
  // A dead agent's syscall chains stay its own: they keep serving its
  // attached programs until its pins go, while the new programs fill
  // chains of their own (an overlap, never a gap, and no stale slot).
  for (const chain of SYSCALL_CHAINS) delete maps[chain];
  return maps;
}

/**
 * Opens and loads sensor.file-system into `loaded`, sharing the scope maps.
 * When the kernel refuses its BPF LSM programs, it loads again without them.
 */
async function loadFileSystem(
  loaded: Partial<LoadedSensors>,
  shared: Record<string, number>,
  options: LoadOptions,
  owned: Set<number>,
): Promise<void> {
  const [bytes] = await readObjects(["file-system"], options.sensorsDir);
  const plan = loaded.enforcement = fileEnforcementPlan();
  const pins = pinned(loaded, options, "file-system", bytes, owned);
  const open = (lsm: boolean) =>
    loaded.fileSystem = new FileSystemSensor(bytes, {
      sharedMaps: { ...pins, ...shared },
      ringSize: options.ringSize,
      lsm,
    });
  const fileSystem = open(plan.method === "lsm");
  const [error] = await Sensor.loadEach([fileSystem]);
  if (error && fileSystem.lsm) {
    loaded.enforcement = {
      method: "signal",
      reason: `the kernel refused the BPF LSM programs: ${error.message}`,
    };
    rememberLsmRefusal(loaded.enforcement.reason);
    fileSystem.close();
    loaded.fileSystem = undefined; // closed: the caller must not again
    await Sensor.loadAll([open(false)]);
  } else if (error) throw error;
}

/** The ELF bytes of each sensor, or the first missing one's error. */
async function readObjects(
  names: SensorName[],
  directory: string | undefined,
): Promise<Uint8Array[]> {
  // All settled, so that a missing sensor is named in a fixed order.
  const reads = await Promise.allSettled(
    names.map((name) => readSensorObject(name, directory)),
  );
  return reads.map(valueOf);
}

/** The value of a settled promise; its reason thrown when it rejected. */
function valueOf<T>(result: PromiseSettledResult<T>): T {
  if (result.status === "rejected") throw result.reason;
  return result.value;
}

/** The sensors there are, the process sensor first. */
export function sensorList(sensors: Partial<LoadedSensors>): Sensor[] {
  const { process, network, fileSystem } = sensors;
  return [process, network, fileSystem].filter((sensor) => !!sensor);
}

/**
 * Detaches and closes the sensors, the last loaded first, once
 * sensor.process's dispatchers are gone: its programs are the syscall
 * chains' only way in, so the other sensors leave their slots filled
 * rather than wait for a grace period per slot emptied (`Sensor.close`).
 * Its other links go in the usual order: one taken off a tracepoint that
 * another sensor's link stays on (io_uring_complete) is slow.
 */
export function closeSensors(sensors: Partial<LoadedSensors>): void {
  sensors.process?.detachChains();
  const leaveChains = !!sensors.process;
  for (const sensor of sensorList(sensors).toReversed()) {
    sensor.close({ leaveChains });
  }
}

/**
 * BPF LSM when the host has it, else the signal. RINGFENCE_LSM=off never
 * tries it; RINGFENCE_LSM=force tries it whatever the host says or an
 * earlier start in this boot learnt (the kernel's refusal then shows the
 * fallback at work).
 */
function fileEnforcementPlan(): FileEnforcement {
  const setting = Deno.env.get("RINGFENCE_LSM") ?? "auto";
  if (setting === "off") {
    return { method: "signal", reason: "RINGFENCE_LSM=off" };
  }
  if (setting === "force") {
    return { method: "lsm", reason: "RINGFENCE_LSM=force" };
  }
  const lsm = bpfLsm();
  if (!lsm.usable) return { method: "signal", reason: lsm.reason };
  try {
    const [boot, reason] = Deno.readTextFileSync(LSM_REFUSAL_FILE).split("\n");
    if (boot && boot === bootId()) {
      return { method: "signal", reason: `${reason} (earlier in this boot)` };
    }
  } catch { /* not refused yet */ }
  return { method: "lsm", reason: lsm.reason };
}

function rememberLsmRefusal(reason: string): void {
  try {
    Deno.mkdirSync("/run/ringfence", { recursive: true });
    const boot = bootId();
    if (boot) Deno.writeTextFileSync(LSM_REFUSAL_FILE, `${boot}\n${reason}\n`);
  } catch { /* the next start tries again */ }
}
