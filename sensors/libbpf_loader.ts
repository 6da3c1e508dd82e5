/**
 * Which libbpf to open: the host's `libbpf.so.1` when it has one (1.x), or
 * the copy carried inside ringfence (bundle or compiled binary), loaded from
 * memory so that a host without libbpf, libelf or zlib needs nothing
 * installed and nothing written to disk.
 *
 * Loading from memory: each carried shared object is written to a memfd
 * (`memfd_create`) and opened as `/proc/self/fd/N`. The dependencies go
 * first (zlib, then libelf, each `RTLD_GLOBAL`): the dynamic loader then
 * matches libbpf's `DT_NEEDED` entries against their sonames and does not
 * look for them on disk.
 *
 * `RINGFENCE_LIBBPF=embedded` forces the carried copy (tests use it to
 * prove it works on a host that has its own); `RINGFENCE_LIBBPF=PATH` opens
 * that file and nothing else.
 *
 * @module
 */

import { cString, memfdWith } from "./libc.ts";
import { elfArchitecture } from "./elf.ts";
import { libbpfOverride } from "./environment.ts";

/** Where the libbpf in use came from. */
export type LibbpfSource = "host" | "embedded";

/** One way of getting libbpf, tried in order. */
export interface LibbpfCandidate {
  /** Host file or the carried copy. */
  source: LibbpfSource;
  /** For messages: the soname, path, or "embedded". */
  label: string;
  /** The path to hand to dlopen; may throw when this way is impossible. */
  path(): string;
}

interface CarriedLibrary {
  soname: string;
  bytes: Uint8Array;
}

function hostHasLibbpf(): boolean {
  try {
    Deno.dlopen("libbpf.so.1", {}).close();
    return true;
  } catch {
    return false;
  }
}

/** The bytes gzipped in `compressed`, by the runtime's native decoder. */
async function gunzip(compressed: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([compressed as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

async function importCarried(): Promise<readonly CarriedLibrary[] | undefined> {
  const libraries = await import("./embedded_libbpf.ts").then(
    (module) => module.EMBEDDED_LIBRARIES,
    () => undefined,
  );
  return libraries && await Promise.all(
    libraries.map(async ({ soname, gzipped }) => ({
      soname,
      bytes: await gunzip(gzipped),
    })),
  );
}

// The carried libraries are only unpacked when they will be used: a host
// without libbpf, or RINGFENCE_LIBBPF=embedded; elsewhere they would take
// memory for nothing. They are unpacked here, at module load, because
// gunzip is asynchronous and libbpf() is not.
const carried: readonly CarriedLibrary[] | undefined =
  libbpfOverride() === "embedded" || (!libbpfOverride() && !hostHasLibbpf())
    ? await importCarried()
    : undefined;

/** Whether this copy of ringfence carries its own libbpf (reads it). */
export async function hasEmbeddedLibbpf(): Promise<boolean> {
  return (carried ?? await importCarried()) !== undefined;
}

/** The candidates in the order to try them. */
export function libbpfCandidates(
  override: string | undefined = libbpfOverride(),
): LibbpfCandidate[] {
  const embedded: LibbpfCandidate = {
    source: "embedded",
    label: "embedded",
    path: loadEmbeddedLibbpf,
  };
  if (override === "embedded") return [embedded];
  if (override) {
    return [{ source: "host", label: override, path: () => override }];
  }
  return [
    { source: "host", label: "libbpf.so.1", path: () => "libbpf.so.1" },
    embedded,
  ];
}

const RTLD_NOW = 2;
const RTLD_GLOBAL = 0x100;

const dlSymbols = {
  dlopen: { parameters: ["buffer", "i32"], result: "pointer" },
  dlerror: { parameters: [], result: "pointer" },
} as const;

type DlSymbols = Deno.DynamicLibrary<typeof dlSymbols>["symbols"];

function dl(): DlSymbols {
  try {
    return Deno.dlopen("libc.so.6", dlSymbols).symbols;
  } catch {
    // glibc before 2.34 keeps dlopen in libdl.
    return Deno.dlopen("libdl.so.2", dlSymbols).symbols;
  }
}

let embeddedPath: string | undefined;

/**
 * Puts the carried libraries in memfds, opens the dependencies globally and
 * returns the path of libbpf's memfd for dlopen. Done once per process:
 * the fds stay open so the same path can be opened again (doctor does).
 *
 * @throws {Error} when this copy carries none or they are for another
 * architecture.
 */
export function loadEmbeddedLibbpf(): string {
  if (embeddedPath) return embeddedPath;
  if (!carried) {
    throw new Error(
      "this copy of ringfence carries no libbpf (run 'deno task build', then bundle or compile)",
    );
  }
  const arch = elfArchitecture(carried[0].bytes);
  if (arch !== Deno.build.arch) {
    throw new Error(
      `the carried libbpf is for ${arch}, this host is ${Deno.build.arch}`,
    );
  }
  const lib = dl();
  let path = "";
  for (const { soname, bytes } of carried) {
    const fd = memfdWith(soname, bytes);
    path = `/proc/self/fd/${fd}`;
    if (soname === "libbpf.so.1") break;
    if (!lib.dlopen(cString(path), RTLD_NOW | RTLD_GLOBAL)) {
      const reason = lib.dlerror();
      throw new Error(
        `cannot load the carried ${soname}: ${
          reason ? Deno.UnsafePointerView.getCString(reason) : "dlopen failed"
        }`,
      );
    }
  }
  embeddedPath = path;
  return path;
}
