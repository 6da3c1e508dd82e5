/**
 * What `deno task bundle` and `deno task compile` share: the repository
 * root, the `dist/` directory, and the check that the sensors and the
 * carried libraries were built (they become part of the module graph).
 *
 * @module
 */

import { AGENT_V8_FLAGS } from "../agent/v8_flags.ts";
import { dirname, fromFileUrl, join } from "./_paths.ts";

/** The agent's V8 flags (agent/v8_flags.ts), for the bundle and binaries. */
export { AGENT_V8_FLAGS };

/** The repository root. */
export const ROOT = join(dirname(fromFileUrl(import.meta.url)), "..");

/** Where release artefacts go. */
export const DIST = join(ROOT, "dist");

/** The bundle's first line: `./ringfence.js` runs it with Deno and the flags. */
export const BUNDLE_SHEBANG =
  `#!/usr/bin/env -S deno run -A --v8-flags=${AGENT_V8_FLAGS}`;

/** Files the module graph embeds (as bytes or text); built by `deno task build`. */
export const BUILT_INPUTS = [
  "bpf/build/sensor.process.bpf.o",
  "bpf/build/sensor.network.bpf.o",
  "bpf/build/sensor.file-system.bpf.o",
  "bpf/build/doctor.bpf.o",
  "bpf/build/lib/libbpf.so.1.gz",
  "bpf/build/lib/libelf.so.1.gz",
  "bpf/build/lib/libz.so.1.gz",
  "web/build/app.js",
  "web/build/style.css",
];

/** Exits 2 with one line when `deno task build` has not been run. */
export function requireBuild(task: string): void {
  for (const file of BUILT_INPUTS) {
    try {
      Deno.statSync(join(ROOT, file));
    } catch {
      console.error(
        `ringfence ${task}: ${file} is missing: run 'deno task build' first`,
      );
      Deno.exit(2);
    }
  }
}
