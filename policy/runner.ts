/**
 * The `runner` section: what a job may do to the runner it runs on. Each
 * rule is enforced in block mode and reported in audit mode.
 *
 * @module
 */

import { isScalar } from "./yaml.ts";
import type { RunnerPolicy } from "./schema.ts";
import {
  blame,
  choice,
  type Context,
  fail,
  type Field,
  section,
} from "./document.ts";

const RUNNER_KEYS = ["sudo", "user", "memory", "bpf"];

/** `runner`, with defaults for what is absent. */
export function runnerPolicy(
  ctx: Context,
  field: Field | undefined,
): RunnerPolicy {
  const fields = section(ctx, field, "runner", RUNNER_KEYS);
  const rule = (key: string, fallback: "allow" | "deny") =>
    choice(
      ctx,
      fields?.get(key),
      `runner.${key}`,
      [
        "allow",
        "deny",
      ] as const,
    ) ?? fallback;
  const user = fields?.get("user");
  return {
    sudo: rule("sudo", "allow"),
    ...(user && { user: userName(ctx, user) }),
    memory: rule("memory", "deny"),
    bpf: rule("bpf", "deny"),
  };
}

/** A user name as useradd(8) accepts it. */
function userName(ctx: Context, field: Field): string {
  const { value } = field;
  const text = isScalar(value) ? value.value : undefined;
  if (typeof text === "string" && /^[a-z_][a-z0-9_.-]{0,31}$/.test(text)) {
    return text;
  }
  fail(
    ctx,
    blame(field),
    `"runner.user" must be a user name (got ${JSON.stringify(text ?? null)})`,
  );
}
