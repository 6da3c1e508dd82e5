/**
 * `deno task bundle`: one JavaScript file, `dist/ringfence.js`, with the
 * sensors, the default policy, commander and yaml, and the carried libbpf
 * inside. It runs anywhere Deno 2 does, from any directory:
 *
 *     sudo deno run -A ringfence.js run -- make test
 *
 * @module
 */

import { join } from "./_paths.ts";
import { DIST, requireBuild, ROOT } from "./_dist.ts";

/** The preamble `deno bundle` writes, which {@linkcode lazyNodeRequire} replaces. */
export const EAGER_REQUIRE =
  'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);\n";

/**
 * The bundler gives CommonJS packages (the gRPC and OpenTelemetry
 * exporters') a `require` made at the top of the bundle from `node:module`,
 * and importing `node:module` starts Deno's Node compatibility layer on
 * every start: about 100 ms and the memory that goes with it, for
 * exporters most runs never load. This makes that `require` when it is
 * first called. Throws when the bundler's preamble is not there, so that a
 * new Deno cannot lose this silently.
 */
export function lazyNodeRequire(bundle: string): string {
  if (!bundle.includes(EAGER_REQUIRE)) {
    throw new Error(
      "ringfence bundle: the bundler's require preamble has changed; update lazyNodeRequire()",
    );
  }
  return bundle.replace(
    EAGER_REQUIRE,
    "var __deno_lazy_require;\n" +
      "var __require = (id) => (__deno_lazy_require ??= globalThis.process\n" +
      '  .getBuiltinModule("node:module").createRequire(import.meta.url))(id);\n',
  );
}

async function bundle(): Promise<void> {
  requireBuild("bundle");
  await Deno.mkdir(DIST, { recursive: true });
  const output = join(DIST, "ringfence.js");
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--packages",
      "bundle",
      "--output",
      output,
      join(ROOT, "main.ts"),
    ],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!result.success) {
    console.error("ringfence bundle: deno bundle failed");
    Deno.exit(1);
  }
  await Deno.writeTextFile(
    output,
    lazyNodeRequire(await Deno.readTextFile(output)),
  );
  const size = (await Deno.stat(output)).size;
  console.log(
    `bundled dist/ringfence.js (${
      (size / 1024).toFixed(0)
    } KiB): run it with 'deno run -A dist/ringfence.js'`,
  );
}

if (import.meta.main) await bundle();
