/**
 * Where the compiled sensors come from: `bpf/build/` next to the sources,
 * or a directory given with `--sensors DIR`.
 *
 * @module
 */

import { resolve } from "node:path";
import { pathToFileURL } from "node:url";

/** The sensors the agent knows, by short name. */
export type SensorName = "process" | "network" | "file-system";

/** The default directory of compiled sensors. */
export const DEFAULT_SENSOR_DIR = new URL("../bpf/build/", import.meta.url);

/**
 * Reads `sensor.<name>.bpf.o`.
 *
 * @throws {Error} naming the file and saying how to build it when missing.
 */
export async function readSensorObject(
  name: SensorName | string,
  directory: string | URL = DEFAULT_SENSOR_DIR,
): Promise<Uint8Array> {
  const file = `sensor.${name}.bpf.o`;
  const base = typeof directory === "string"
    ? pathToFileURL(resolve(directory) + "/")
    : directory;
  const url = new URL(file, base);
  try {
    return await Deno.readFile(url);
  } catch (error) {
    const where = decodeURIComponent(url.pathname);
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${where}: sensor not built: run 'deno task build'`);
    }
    throw new Error(`${where}: ${(error as Error).message}`);
  }
}
