/**
 * The ringfence executable's entry point, and what the bundle and the
 * compiled binaries start from: the command line lives in `cli/app.ts`.
 *
 * @module
 */

import { main } from "./cli/app.ts";
import { ensureAgentV8Flags } from "./cli/v8_flags.ts";

/** Whether this module runs as a worker (a reload's policy parser). */
function inWorker(): boolean {
  const scope = (globalThis as { WorkerGlobalScope?: unknown })
    .WorkerGlobalScope;
  return typeof scope === "function" && globalThis instanceof scope;
}

if (inWorker()) {
  (await import("./cli/policy_worker.ts")).servePolicyRequests();
} else if (import.meta.main) {
  ensureAgentV8Flags(Deno.args);
  Deno.exit(await main(Deno.args));
}
