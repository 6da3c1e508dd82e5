/**
 * Which agent instance a state directory belongs to, and the root-only
 * places kept for it. One rule names an instance for everything kept
 * outside the state directory: the agent's record under /run/ringfence and
 * the pins in bpffs.
 *
 * The name is `start-` and the first 12 hex digits of the SHA-256 of the
 * state directory's absolute, lexically normalised path. Lexical, not
 * `realpath`: a step can remove the state directory or swap it for a
 * symlink, and `ringfence stop` must still find the record of the agent
 * started with it.
 *
 * @module
 */

import { sha256Hex } from "./sha256.ts";

/** Where the agents' root-only records are kept. */
export const RUN_DIR = "/run/ringfence";

/** The absolute, lexically normalised form of `path` (relative to the cwd). */
export function absolutePath(path: string): string {
  const full = path.startsWith("/") ? path : `${Deno.cwd()}/${path}`;
  const out: string[] = [];
  for (const segment of full.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return "/" + out.join("/");
}

/** The instance name of the agent started with state directory `stateDir`. */
export async function instanceName(stateDir: string): Promise<string> {
  const hex = await sha256Hex(new TextEncoder().encode(absolutePath(stateDir)));
  return `start-${hex.slice(0, 12)}`;
}

/** The root-only directory of that instance: `/run/ringfence/<instance>`. */
export async function instanceDir(
  stateDir: string,
  runDir: string = RUN_DIR,
): Promise<string> {
  return `${runDir}/${await instanceName(stateDir)}`;
}
