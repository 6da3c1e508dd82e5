/**
 * The compiled sensors as part of the module graph, so that `deno bundle`
 * and `deno compile` carry them and the agent needs no file beside it.
 *
 * Only ever imported dynamically (see {@linkcode ./objects.ts}): when the
 * sensors have not been built, running from source then fails with one line
 * that says to run `deno task build`, not with a module-graph error.
 *
 * @module
 */

import process from "../bpf/build/sensor.process.bpf.o" with { type: "bytes" };
import network from "../bpf/build/sensor.network.bpf.o" with { type: "bytes" };
import fileSystem from "../bpf/build/sensor.file-system.bpf.o" with {
  type: "bytes",
};
import doctor from "../bpf/build/doctor.bpf.o" with { type: "bytes" };

/** The ELF bytes of each embedded object, by short name. */
export const EMBEDDED_OBJECTS: Readonly<Record<string, Uint8Array>> = {
  process,
  network,
  "file-system": fileSystem,
  doctor,
};
