/**
 * The bundle's {@linkcode loadOptionalExporters}: `deno task bundle` maps
 * `optional_loader.ts` to this module, and `ringfence:optional-exporters`
 * to `optional.ts` bundled on its own, minified and gzipped. It is
 * unpacked and imported from a `data:` URL the first time a policy asks for
 * gRPC or OTLP; until then it is a string the agent never reads.
 *
 * @module
 */

import CHUNK from "ringfence:optional-exporters" with { type: "bytes" };
import type { OptionalExporters } from "./optional_loader.ts";

let loading: Promise<OptionalExporters> | undefined;

/** Loads the optional exporters (once; later calls share the load). */
export function loadOptionalExporters(): Promise<OptionalExporters> {
  return loading ??= (async () => {
    const source = await new Response(
      new Blob([CHUNK]).stream().pipeThrough(new DecompressionStream("gzip")),
    ).text();
    // The chunk is ASCII only (esbuild --charset=ascii): btoa takes it.
    return await import(`data:text/javascript;base64,${btoa(source)}`);
  })();
}
