/**
 * Where the compiled sensors come from: built into ringfence (the module
 * graph carries `bpf/build/*.bpf.o`, see {@linkcode ./embedded.ts}), or a
 * directory given with `--sensors DIR` for development.
 *
 * @module
 */

/** The sensors the agent knows, by short name. */
export type SensorName = "process" | "network" | "file-system";

/** Where the built-in sensors are built, from source. */
export const DEFAULT_SENSOR_DIR = new URL("../bpf/build/", import.meta.url);

let embedded: Promise<Readonly<Record<string, Uint8Array>>> | undefined;

/**
 * The objects built into ringfence. From source they are read when first
 * asked for; a bundle or a compiled binary has them inside.
 *
 * @throws {Error} one line that says to run `deno task build` when the
 * sensors were never built.
 */
export function embeddedObjects(): Promise<
  Readonly<Record<string, Uint8Array>>
> {
  embedded ??= import("./embedded.ts").then(
    (module) => module.EMBEDDED_OBJECTS,
    (error) => {
      embedded = undefined;
      const missing = (error as Error).message.match(
        /Module not found "([^"]+)"/,
      )?.[1];
      const where = missing
        ? decodeURIComponent(new URL(missing).pathname)
        : decodeURIComponent(DEFAULT_SENSOR_DIR.pathname);
      throw new Error(`${where}: sensor not built: run 'deno task build'`);
    },
  );
  return embedded;
}

/**
 * The ELF bytes of `sensor.<name>.bpf.o` (or `<name>.bpf.o` for helper
 * objects such as `doctor`): the built-in copy, or the file in `directory`
 * when one is given.
 *
 * @throws {Error} naming the file and saying how to build it when missing.
 */
export async function readSensorObject(
  name: SensorName | string,
  directory?: string | URL,
): Promise<Uint8Array> {
  if (directory === undefined) {
    const objects = await embeddedObjects();
    const bytes = objects[name];
    if (!bytes) throw new Error(`no built-in sensor named ${name}`);
    return bytes;
  }
  const file = `sensor.${name}.bpf.o`;
  // A path, not node:path: that import alone starts Deno's Node layer,
  // which the agent's start-up can do without.
  const where = typeof directory === "string"
    ? `${directory.startsWith("/") ? "" : `${Deno.cwd()}/`}${
      directory.replace(/\/*$/, "")
    }/${file}`
    : decodeURIComponent(new URL(file, directory).pathname);
  try {
    return await Deno.readFile(where);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) {
      throw new Error(`${where}: sensor not built: run 'deno task build'`);
    }
    throw new Error(`${where}: ${(error as Error).message}`);
  }
}
