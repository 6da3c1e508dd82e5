/**
 * What `deno task bundle` and `deno task compile` share: the repository
 * root, the `dist/` directory, and the check that the sensors and the
 * carried libraries were built (they become part of the module graph).
 *
 * @module
 */

import { dirname, fromFileUrl, join } from "./_paths.ts";

/** The repository root. */
export const ROOT = join(dirname(fromFileUrl(import.meta.url)), "..");

/** Where release artefacts go. */
export const DIST = join(ROOT, "dist");

/**
 * The V8 flags the agent runs with in every form: `deno task start` and
 * `deno task run`, the bundle's shebang, the compiled executables, and the
 * bench (so it measures what users run).
 *
 * Under an exec burst V8's defaults let the agent's heap grow to many times
 * what is live: 16 MB semi-spaces promote every record still held across
 * two scavenges, and the old generation may grow to four times its live
 * size between mark-compacts. 1 MB semi-spaces and 20 % growth keep the
 * peak near the live size, lose no record, and start and decode as fast.
 * `--max-opt=2` stops at Maglev, V8's mid-tier compiler: TurboFan compiles
 * on a second thread that competes with the traced workload for a small
 * runner's cores, and its code and memory buy no speed for this agent.
 * `deno task bench` guards all three; docs/performance.md has the figures.
 * V8 takes flags only at start (`node:v8`'s `setFlagsFromString` is a
 * no-op once its flags are frozen), so they are on each command line.
 */
export const AGENT_V8_FLAGS =
  "--max-semi-space-size=1,--heap-growing-percent=20,--max-opt=2";

/** The bundle's first line: `./ringfence.js` runs it with Deno and the flags. */
export const BUNDLE_SHEBANG =
  `#!/usr/bin/env -S deno run -A --v8-flags=${AGENT_V8_FLAGS}`;

/** Files the module graph imports as bytes; built by `deno task build`. */
export const BUILT_INPUTS = [
  "bpf/build/sensor.process.bpf.o",
  "bpf/build/sensor.network.bpf.o",
  "bpf/build/sensor.file-system.bpf.o",
  "bpf/build/doctor.bpf.o",
  "bpf/build/lib/libbpf.so.1.gz",
  "bpf/build/lib/libelf.so.1.gz",
  "bpf/build/lib/libz.so.1.gz",
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
