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
const size = (await Deno.stat(output)).size;
console.log(
  `bundled dist/ringfence.js (${
    (size / 1024).toFixed(0)
  } KiB): run it with 'deno run -A dist/ringfence.js'`,
);
