/**
 * The policy's `runner.memory` and `runner.bpf`, and the mode, as what
 * sensor.process's guard does (bpf/lib/guard.h): kill the caller in block
 * mode, report it in audit mode, nothing where the policy allows it.
 * Signals to the agent are always reported, and killed in block mode.
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import type { GuardSettings } from "../sensors/process.ts";

/** What the guard does under `policy`. */
export function guardSettings(
  policy: Pick<Policy, "mode" | "runner">,
): GuardSettings {
  const enforce = policy.mode === "block" ? "kill" : "report";
  const rule = (setting: "allow" | "deny") =>
    setting === "allow" ? "off" : enforce;
  return {
    memory: rule(policy.runner.memory),
    bpf: rule(policy.runner.bpf),
    signal: enforce,
  };
}
