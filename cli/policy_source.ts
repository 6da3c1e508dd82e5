/**
 * The policy an agent runs with: the file `--policy` names, or the policy
 * built into ringfence.
 *
 * @module
 */

import DEFAULT_POLICY from "../policy/default.yaml" with { type: "text" };
import type { Policy } from "../policy/schema.ts";
import { readPolicyText } from "../policy/source.ts";

/**
 * Reads and parses `path`, or the built-in policy when there is none.
 *
 * @throws {import("../policy/source.ts").PolicyError} naming the file, and
 *   the line and column of the first problem.
 */
export async function policyFrom(path: string | undefined): Promise<Policy> {
  // Part of the module graph, so a bundle or compiled binary carries it.
  const text = path ? await readPolicyText(path) : DEFAULT_POLICY;
  // Imported once the text is read, not statically: an agent reads its
  // policy while its sensors load, and the sensors' objects, asked for
  // meanwhile, do not wait behind the parser's modules.
  const { parsePolicy } = await import("../policy/parse.ts");
  return parsePolicy(text, path ?? "policy/default.yaml (built in)");
}
