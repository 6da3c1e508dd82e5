/**
 * Loads `optional.ts` when a policy first asks for one of its exporters.
 *
 * From source and in the compiled executables this is a dynamic import.
 * `deno task bundle` swaps this module for `optional_loader_bundled.ts`
 * (an import map), which carries the exporters as a separate compressed
 * script: otherwise their half a megabyte of code is part of the bundle's
 * own text, which Deno analyses on a machine's first run and V8 holds in
 * memory on every run.
 *
 * @module
 */

/** The optional exporters' module. */
export type OptionalExporters = typeof import("./optional.ts");

/** Loads the optional exporters (once; later calls share the load). */
export function loadOptionalExporters(): Promise<OptionalExporters> {
  return import("./optional.ts");
}
