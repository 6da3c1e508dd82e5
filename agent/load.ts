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
import { readSensorObject } from "../sensors/objects.ts";
import { ProcessSensor } from "../sensors/process.ts";
import { Sensor } from "../sensors/sensor.ts";
import { bpfLsm } from "../sensors/system.ts";

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
}

/** What to load, and from where. */
export interface LoadOptions {
  /** Directory of compiled sensors instead of the built-in ones. */
  sensorsDir?: string;
  /** Ring buffer size per sensor in bytes (a power of two). */
  ringSize?: number;
  /** Whether sensor.file-system loads too. */
  files: boolean;
}

/**
 * Reads the sensor objects, then opens and loads them side by side; on
 * failure nothing stays loaded. When the kernel refuses sensor.file-system's
 * BPF LSM programs, it alone loads again without them.
 */
export async function loadSensors(
  options: LoadOptions,
): Promise<LoadedSensors> {
  const { ringSize } = options;
  const names = ["process", "network", ...options.files ? ["file-system"] : []];
  // All settled, so that a missing sensor is named in a fixed order.
  const [processBytes, networkBytes, fileSystemBytes] = (
    await Promise.allSettled(
      names.map((name) => readSensorObject(name, options.sensorsDir)),
    )
  ).map((read) => {
    if (read.status === "rejected") throw read.reason;
    return read.value;
  });
  const plan = options.files ? fileEnforcementPlan() : undefined;
  const loaded: Partial<LoadedSensors> = { enforcement: plan };
  const process = loaded.process = new ProcessSensor(processBytes, {
    ringSize,
  });
  let shared: Record<string, number> = {};
  try {
    // The scope maps exist before any sensor loads, so that all of them
    // can load side by side: verification is most of the start-up.
    shared = process.createSharedMaps();
    loaded.network = new NetworkSensor(networkBytes, {
      sharedMaps: shared,
      ringSize,
    });
    const openFileSystem = (lsm: boolean) =>
      loaded.fileSystem = new FileSystemSensor(fileSystemBytes, {
        sharedMaps: shared,
        ringSize,
        lsm,
      });
    if (plan) openFileSystem(plan.method === "lsm");
    const { fileSystem } = loaded;
    const errors = await Sensor.loadEach(sensorList(loaded));
    if (errors[0] || errors[1]) throw errors[0] ?? errors[1];
    if (errors[2] && fileSystem?.lsm) {
      loaded.enforcement = {
        method: "signal",
        reason: `the kernel refused the BPF LSM programs: ${errors[2].message}`,
      };
      rememberLsmRefusal(loaded.enforcement.reason);
      fileSystem.close();
      loaded.fileSystem = undefined; // closed: the catch below must not again
      await Sensor.loadAll([openFileSystem(false)]);
    } else if (errors[2]) throw errors[2];
    return loaded as LoadedSensors;
  } catch (error) {
    closeSensors(loaded);
    throw error;
  } finally {
    // The objects hold their own references to the scope maps.
    Object.values(shared).forEach(closeFd);
  }
}

/** The sensors there are, the process sensor first. */
export function sensorList(sensors: Partial<LoadedSensors>): Sensor[] {
  const { process, network, fileSystem } = sensors;
  return [process, network, fileSystem].filter((sensor) => !!sensor);
}

/** Detaches and closes the sensors, the last loaded first. */
export function closeSensors(sensors: Partial<LoadedSensors>): void {
  for (const sensor of sensorList(sensors).toReversed()) sensor.close();
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
