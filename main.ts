/**
 * The ringfence executable's entry point, and what the bundle and the
 * compiled binaries start from: the command line lives in `cli/app.ts`.
 *
 * @module
 */

import { main } from "./cli/app.ts";

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
