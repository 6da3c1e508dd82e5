/**
 * The policy an agent runs with: the file `--policy` names, or the policy
 * built into ringfence.
 *
 * @module
 */

import DEFAULT_POLICY from "../policy/default.yaml" with { type: "text" };
import { loadPolicy, parsePolicy } from "../policy/parse.ts";
import type { Policy } from "../policy/schema.ts";

/**
 * Reads and parses `path`, or the built-in policy when there is none.
 *
 * @throws {import("../policy/source.ts").PolicyError} naming the file, and
 *   the line and column of the first problem.
 */
export async function policyFrom(path: string | undefined): Promise<Policy> {
  if (path) return await loadPolicy(path);
  // Part of the module graph, so a bundle or compiled binary carries it.
  return parsePolicy(DEFAULT_POLICY, "policy/default.yaml (built in)");
}
