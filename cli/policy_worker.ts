/**
 * The other end of {@linkcode ./policy_source.ts}'s `policyOffLoop`: in a
 * worker started from the executable's own main module, reads and parses
 * the policy file it is sent and posts back the policy or the error.
 *
 * @module
 */

import { policyFrom } from "./policy_source.ts";

/** What the agent sends: the policy file (undefined: the built-in one). */
export interface PolicyRequest {
  path: string | undefined;
}

/** What the worker answers: ready to take a request, then its result. */
export type PolicyAnswer =
  | { ready: true }
  | { policy: Awaited<ReturnType<typeof policyFrom>> }
  | { error: string };

/**
 * Answers each request posted to this worker, once it has said it is
 * ready: a message that arrives before a worker's handler exists is lost.
 */
export function servePolicyRequests(): void {
  const scope = globalThis as unknown as {
    onmessage: ((event: MessageEvent<PolicyRequest>) => void) | null;
    postMessage(answer: PolicyAnswer): void;
  };
  scope.onmessage = async ({ data }) => {
    try {
      scope.postMessage({ policy: await policyFrom(data.path) });
    } catch (error) {
      scope.postMessage({ error: (error as Error).message });
    }
  };
  scope.postMessage({ ready: true });
}
