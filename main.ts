/**
 * The ringfence executable's entry point: the command line lives in
 * `cli/main.ts`.
 *
 * @module
 */

import { main } from "./cli/main.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
