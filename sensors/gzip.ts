/**
 * Gunzip for the libraries ringfence carries compressed (libbpf, libelf,
 * libz), with the runtime's native `DecompressionStream`.
 *
 * @module
 */

/** The bytes gzipped in `compressed`. */
export async function gunzip(compressed: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([compressed as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
