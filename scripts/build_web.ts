/**
 * `deno task build` (after the sensors): bundles the web page's front end,
 * web/app.ts and web/style.css, into `web/build/app.js` and
 * `web/build/style.css` with esbuild. report/html.ts embeds both, so the
 * HTML report, the bundle and the compiled binary carry the page.
 *
 * @module
 */

import { dirname, fromFileUrl, join } from "./_paths.ts";

const root = join(dirname(fromFileUrl(import.meta.url)), "..");
const esbuild = join(root, "node_modules", ".bin", "esbuild");
const outDir = join(root, "web", "build");

async function run(args: string[]): Promise<void> {
  const { code, stderr } = await new Deno.Command(esbuild, {
    args,
    cwd: root,
    stdout: "inherit",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `esbuild ${args[0]} failed:\n${new TextDecoder().decode(stderr)}`,
    );
  }
}

await Deno.mkdir(outDir, { recursive: true });
// The page runs in current Chromium and Firefox; one classic script so it
// works opened from disk (file://), where modules are refused.
await run([
  "web/app.ts",
  "--bundle",
  "--format=iife",
  "--target=es2022",
  "--minify",
  "--legal-comments=none",
  `--outfile=${join(outDir, "app.js")}`,
  "--log-level=warning",
]);
await run([
  "web/style.css",
  "--minify",
  `--outfile=${join(outDir, "style.css")}`,
  "--log-level=warning",
]);
console.log("built web/build/app.js and web/build/style.css");
