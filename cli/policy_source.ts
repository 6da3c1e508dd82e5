/**
 * The policy an agent runs with: the file `--policy` names, or the policy
 * built into ringfence.
 *
 * @module
 */

import DEFAULT_POLICY from "../policy/default.yaml" with { type: "text" };
import type { Policy } from "../policy/schema.ts";
import { PolicyError, readPolicyText } from "../policy/source.ts";
import type { PolicyAnswer, PolicyRequest } from "./policy_worker.ts";

/** Longest a reload's parse may take before the old policy is kept. */
export const RELOAD_PARSE_MS = 10_000;

/** The text of the policy at `path`, or of the built-in one without. */
export function policyText(path: string | undefined): Promise<string> {
  // Part of the module graph, so a bundle or compiled binary carries it.
  return path ? readPolicyText(path) : Promise.resolve(DEFAULT_POLICY);
}

/**
 * Parses the policy at `path` (its `text`, when already being read), or the
 * built-in policy when there is none.
 *
 * @throws {import("../policy/source.ts").PolicyError} naming the file, and
 *   the line and column of the first problem.
 */
export async function policyFrom(
  path: string | undefined,
  text: Promise<string> = policyText(path),
): Promise<Policy> {
  const source = await text;
  // Imported once the text is read, not statically: an agent reads its
  // policy while its sensors load, and the sensors' objects, asked for
  // meanwhile, do not wait behind the parser's modules.
  const { parsePolicy } = await import("../policy/parse.ts");
  return parsePolicy(source, path ?? "policy/default.yaml (built in)");
}

/**
 * Whether a policy's `text` has a top-level `files` key, by the text alone:
 * the agent loads sensor.file-system on it while the policy parses. A
 * wrong answer costs time, not correctness.
 */
export function mentionsFiles(text: string): boolean {
  return /^files[ \t]*:/m.test(text);
}

/**
 * {@linkcode policyFrom} in a worker, so that a large policy does not stall
 * the agent's event loop (and its ring reading) while it parses: the
 * worker runs the executable's own main module (source, bundle or
 * compiled binary alike), which serves the request. A parse that takes
 * longer than `timeoutMs` is abandoned with an error.
 *
 * @throws {PolicyError} as policyFrom does, or for the time budget.
 */
export function policyOffLoop(
  path: string | undefined,
  timeoutMs = RELOAD_PARSE_MS,
): Promise<Policy> {
  const worker = new Worker(executableModule(), { type: "module" });
  const { promise, resolve, reject } = Promise.withResolvers<Policy>();
  const timer = setTimeout(() =>
    reject(
      new PolicyError(
        path ?? "policy/default.yaml (built in)",
        null,
        null,
        `parsing took longer than ${timeoutMs / 1000} s`,
      ),
    ), timeoutMs);
  worker.onmessage = ({ data }: MessageEvent<PolicyAnswer>) => {
    if ("ready" in data) worker.postMessage({ path } satisfies PolicyRequest);
    else if ("policy" in data) resolve(data.policy);
    else reject(new Error(data.error));
  };
  worker.onerror = (event) => {
    event.preventDefault();
    reject(new Error(`policy worker: ${event.message}`));
  };
  return promise.finally(() => {
    clearTimeout(timer);
    worker.terminate();
  });
}

/**
 * The module that starts ringfence: main.ts beside this file in a source
 * tree, the program itself in a bundle or a compiled binary.
 */
function executableModule(): string {
  return import.meta.url.endsWith("/cli/policy_source.ts")
    ? new URL("../main.ts", import.meta.url).href
    : Deno.mainModule;
}
