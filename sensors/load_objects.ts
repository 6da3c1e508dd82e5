/**
 * Loads several objects side by side, for {@linkcode BpfObject.loadAll}:
 * the kernel's verifier takes most of an agent's start-up, and on worker
 * threads it runs on separate cores while the event loop stays free.
 *
 * CO-RE relocates the objects against the BTF {@linkcode chooseCoreBtf}
 * picks, usually one cut-down copy of the kernel's. Should that copy be at
 * fault, an object that fails with it is reopened and loaded with the
 * kernel's own BTF, and only an object that fails that way too is an
 * error. libbpf's log is off while the worker threads load (see
 * {@linkcode BpfObject.loadOffThread}), so an object that fails is loaded
 * again on the main thread to get the kernel's reason.
 *
 * @module
 */

import { BpfError, withLog } from "./libbpf.ts";
import type { BpfObject } from "./bpf_object.ts";
import { chooseCoreBtf } from "./core_btf_choice.ts";
import { memoryFile } from "./libc.ts";

/** How to load objects with {@linkcode BpfObject.loadAll}. */
export interface LoadAllOptions {
  /**
   * The BTF CO-RE relocates against. By default the kernel's, cut down to
   * what the objects need (sensors/core_btf.ts); `null` leaves libbpf to
   * read the whole kernel BTF for each object. Tests pass their own.
   */
  coreBtf?: Uint8Array | null;
}

/** Which BTF {@linkcode BpfObject.loadAll} relocated against, and why. */
export interface LoadAllResult {
  /**
   * "minimal": the cut-down kernel BTF; "kernel": libbpf read the kernel's
   * own (`reason` says why); "fallback": the cut-down BTF failed and the
   * objects that failed loaded with the kernel's.
   */
  coreBtf: "minimal" | "kernel" | "fallback";
  reason?: string;
}

/**
 * Loads `objects` side by side. One object's failure leaves the others
 * loaded: `errors` has the error of each object, undefined where it loaded.
 */
export async function loadSideBySide(
  objects: readonly BpfObject[],
  options: LoadAllOptions,
): Promise<LoadAllResult & { errors: (BpfError | undefined)[] }> {
  const choice = chooseCoreBtf(
    () => objects.map((object) => object.elf),
    options.coreBtf,
    objects.some((object) => object.openOptions.btfCustomPath),
  );
  let result: LoadAllResult = choice.btf
    ? { coreBtf: "minimal" }
    : choice.reason
    ? { coreBtf: "kernel", reason: choice.reason }
    : { coreBtf: "kernel" };
  // libbpf reads `btf_custom_path` at load: the file lives until then.
  using file = choice.btf
    ? memoryFile("ringfence-core-btf", choice.btf)
    : undefined;
  if (file) {
    for (const object of objects) object.reopen({ btfCustomPath: file.path });
  }
  const loaded = await Promise.all(
    objects.map((object) => object.loadOffThread()),
  );
  const errors: (BpfError | undefined)[] = objects.map(() => undefined);
  if (loaded.every(Boolean)) return { ...result, errors };
  // Objects loading side by side elsewhere (another call) would keep the
  // log off: their loads end first.
  return await withLog(() => {
    for (const [index, object] of objects.entries()) {
      if (loaded[index]) continue;
      try {
        // With the kernel's own BTF when the cut-down one was used, else as
        // it was opened: on the main thread, for the kernel's reason (or a
        // load that works the second time).
        object.reopen(file ? {} : object.openOptions);
        object.load();
        if (file) {
          result = {
            coreBtf: "fallback",
            reason: `${object.name} failed to load with the cut-down BTF`,
          };
        }
      } catch (error) {
        if (!(error instanceof BpfError)) throw error;
        errors[index] = error;
      }
    }
    return { ...result, errors };
  });
}
