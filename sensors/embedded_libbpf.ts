/**
 * libbpf and the libraries it needs that a minimal host may lack, copied
 * from the build machine into `bpf/build/lib/` by `deno task build` and
 * carried in the module graph (bundle and compiled binary). Loaded from
 * memory by {@linkcode ./libbpf_loader.ts} when the host has no libbpf 1.x.
 *
 * Only ever imported dynamically, so a source tree without them still runs
 * with the host's libbpf.
 *
 * @module
 */

import libz from "../bpf/build/lib/libz.so.1.gz" with { type: "bytes" };
import libelf from "../bpf/build/lib/libelf.so.1.gz" with { type: "bytes" };
import libbpf from "../bpf/build/lib/libbpf.so.1.gz" with { type: "bytes" };

/**
 * Shared objects in load order (each needs only the ones before it),
 * gzipped.
 */
export const EMBEDDED_LIBRARIES: readonly {
  soname: string;
  gzipped: Uint8Array;
}[] = [
  { soname: "libz.so.1", gzipped: libz },
  { soname: "libelf.so.1", gzipped: libelf },
  { soname: "libbpf.so.1", gzipped: libbpf },
];
