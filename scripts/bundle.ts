/**
 * `deno task bundle`: one JavaScript file, `dist/ringfence.js`, with the
 * sensors, the default policy, Stricli and yaml, the carried libbpf, and
 * the gRPC and OTLP exporters packed apart (see `bundleOptionalExporters`)
 * inside. It runs anywhere Deno 2 does, from any directory:
 *
 *     sudo ./ringfence.js run -- make test
 *     sudo deno run -A ringfence.js run -- make test
 *
 * @module
 */

import { join } from "./_paths.ts";
import { BUNDLE_SHEBANG, DIST, requireBuild, ROOT } from "./_dist.ts";

/** The preamble `deno bundle` writes, which {@linkcode lazyNodeRequire} replaces. */
export const EAGER_REQUIRE =
  'import { createRequire as __deno_internal_createRequire } from "node:module";\n' +
  "var __require = __deno_internal_createRequire(import.meta.url);\n";

/**
 * The bundler gives CommonJS packages (the gRPC and OpenTelemetry
 * exporters') a `require` made at the top of the bundle from `node:module`,
 * and importing `node:module` starts Deno's Node compatibility layer, whose
 * time and memory every start would pay. This makes that `require` when it
 * is first called, relative to `file:///` rather than `import.meta.url`:
 * the optional exporters' bundle runs from a `data:` URL, which
 * `createRequire` refuses, and it requires only Node's built-in modules.
 * Throws when the bundler's preamble is not there, so that a new Deno
 * cannot lose this silently.
 */
export function lazyNodeRequire(bundle: string): string {
  return replaceBundlerCode(
    bundle,
    "require preamble",
    EAGER_REQUIRE,
    "var __deno_lazy_require;\n" +
      "var __require = (id) => (__deno_lazy_require ??= globalThis.process\n" +
      '  .getBuiltinModule("node:module").createRequire("file:///"))(id);\n',
  );
}

/** Replaces code the bundler wrote; throws, naming it, when it is not there. */
function replaceBundlerCode(
  bundle: string,
  what: string,
  code: string,
  replacement: string,
): string {
  if (!bundle.includes(code)) {
    throw new Error(
      `ringfence bundle: the bundler's ${what} has changed; update scripts/bundle.ts`,
    );
  }
  return bundle.replace(code, replacement);
}

/**
 * The bundler's decoder for files imported as bytes, which it writes into
 * the bundle as base64: a byte loop in JavaScript.
 */
export const JS_BASE64_DECODER = "var __toBinary = /* @__PURE__ */ (() => {\n";

/**
 * Decodes the carried files (sensors, libbpf) with the runtime's native
 * `Uint8Array.fromBase64` where it has one. The bundler's loop over the
 * carried files' base64 runs at every start and is hot enough to wake V8's
 * optimising compiler, which costs time and resident memory. The loop stays
 * as the fallback for a Deno without `fromBase64`. Throws when the bundler's
 * decoder is not there, so that a new Deno cannot lose this silently.
 */
export function nativeBase64(bundle: string): string {
  return replaceBundlerCode(
    bundle,
    "base64 decoder",
    JS_BASE64_DECODER,
    "var __toBinary = Uint8Array.fromBase64 ? (base64) => Uint8Array.fromBase64(base64) : /* @__PURE__ */ (() => {\n",
  );
}

/**
 * Minifies the bundle with esbuild (a pinned dev dependency), keeping
 * function and class names for stack traces. The agent holds its script's
 * source for as long as it runs, about twice over (Deno's copy and V8's),
 * so a smaller text is less resident memory. `--charset=ascii` escapes
 * every character outside ASCII, because V8 keeps a script with a single
 * such character (an arrow in a comment, say) at two bytes per character.
 */
async function minify(file: string, banner?: string): Promise<void> {
  const esbuild = join(ROOT, "node_modules/.bin/esbuild");
  let result: Deno.CommandOutput;
  try {
    result = await new Deno.Command(esbuild, {
      args: [
        file,
        "--minify",
        "--keep-names",
        "--charset=ascii",
        "--format=esm",
        ...banner ? [`--banner:js=${banner}`] : [],
        "--log-level=error",
        `--outfile=${file}`,
        "--allow-overwrite",
      ],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
    console.error(
      "ringfence bundle: node_modules/.bin/esbuild is missing: run 'bash scripts/setup'",
    );
    Deno.exit(2);
  }
  if (!result.success) {
    console.error("ringfence bundle: esbuild could not minify the bundle");
    Deno.exit(1);
  }
}

/** `deno bundle` of `entry` into `output`; exits 1 when it fails. */
async function denoBundle(
  entry: string,
  output: string,
  importMap?: string,
): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--packages",
      "bundle",
      ...importMap ? ["--import-map", importMap] : [],
      "--output",
      output,
      entry,
    ],
    cwd: ROOT,
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!result.success) {
    console.error(`ringfence bundle: deno bundle ${entry} failed`);
    Deno.exit(1);
  }
}

/**
 * `exporters/optional.ts` (gRPC and OTLP) bundled on its own, minified and
 * gzipped into `dir`: the main bundle carries it as bytes and imports it
 * from a `data:` URL only when a policy configures one of them. Returns the
 * gzipped file.
 *
 * Their libraries are about half of the bundle's code. As code, Deno
 * analyses them on a machine's first run (its module analysis parses the
 * whole script) and V8 holds their text on every run; as a gzipped string
 * they are base64 that nothing parses until a policy asks for them.
 */
async function bundleOptionalExporters(dir: string): Promise<string> {
  const output = join(dir, "optional-exporters.js");
  await denoBundle(join(ROOT, "exporters/optional.ts"), output);
  await Deno.writeTextFile(
    output,
    lazyNodeRequire(await Deno.readTextFile(output)),
  );
  await minify(output);
  using file = await Deno.open(output);
  const compressed = file.readable.pipeThrough(new CompressionStream("gzip"));
  await Deno.writeFile(`${output}.gz`, compressed);
  return `${output}.gz`;
}

async function bundle(): Promise<void> {
  requireBuild("bundle");
  await Deno.mkdir(DIST, { recursive: true });
  const output = join(DIST, "ringfence.js");
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bundle-" });
  try {
    const chunk = await bundleOptionalExporters(dir);
    const importMap = join(dir, "import_map.json");
    const url = (path: string) => new URL(`file://${path}`).href;
    await Deno.writeTextFile(
      importMap,
      JSON.stringify({
        imports: {
          [url(join(ROOT, "exporters/optional_loader.ts"))]: url(
            join(ROOT, "exporters/optional_loader_bundled.ts"),
          ),
          "ringfence:optional-exporters": url(chunk),
        },
      }),
    );
    await denoBundle(join(ROOT, "main.ts"), output, importMap);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  await Deno.writeTextFile(
    output,
    nativeBase64(await Deno.readTextFile(output)),
  );
  await minify(output, BUNDLE_SHEBANG);
  await Deno.chmod(output, 0o755);
  const size = (await Deno.stat(output)).size;
  console.log(
    `bundled dist/ringfence.js (${
      (size / 1024).toFixed(0)
    } KiB): run it as dist/ringfence.js (Deno on PATH)`,
  );
}

if (import.meta.main) await bundle();
