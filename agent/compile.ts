/**
 * A policy compiled into what the sensors' maps hold, and written to them.
 * Compiling is separate from writing so that a policy the kernel cannot
 * hold fails before anything changes.
 *
 * @module
 */

import type { Policy } from "../policy/schema.ts";
import type {
  FileSystemMaps,
  FileSystemSensor,
  PathPattern,
} from "../sensors/file_system.ts";
import { FileRules } from "./file_policy.ts";
import type { NetworkPolicyMaps, NetworkSensor } from "../sensors/network.ts";
import type { ExecDenyRule, ProcessSensor } from "../sensors/process.ts";
import { networkPolicyMaps, privilegedAllowed } from "./network_policy.ts";
import { execDenyRules } from "./process_policy.ts";
import { guardSettings } from "./guard_policy.ts";
import {
  installScriptFiles,
  installScriptRule,
  installScriptsNeedFiles,
} from "./install_scripts.ts";

/**
 * Whether `policy` needs sensor.file-system: a `files` section, or
 * dependencies.install_scripts with `files: protect-secrets`.
 */
export function needsFileSensor(policy: Policy): boolean {
  return !!policy.files || installScriptsNeedFiles(policy);
}

/** A policy and the sensors' maps made from it. */
export interface CompiledPolicy {
  policy: Policy;
  networkMaps: NetworkPolicyMaps;
  /** `process.deny`, resolved to the files it names when compiled. */
  execDeny: ExecDenyRule[];
  /** Present when sensor.file-system is loaded. */
  fileRules?: FileRules;
  fileMaps?: FileSystemMaps;
}

/**
 * Compiles `policy` for sensors where sensor.file-system is loaded or not.
 * A policy without a `files` section gives that sensor no rules: it stays,
 * silent. `implicit` patterns are protected besides `files.protect`
 * (agent/file_policy.ts's integrityPaths).
 *
 * @throws what the kernel cannot hold, and a `files` section when
 * sensor.file-system is not loaded.
 */
export function compilePolicy(
  policy: Policy,
  fileSensor: boolean,
  resolvConf?: string,
  implicit: readonly PathPattern[] = [],
): CompiledPolicy {
  if (needsFileSensor(policy) && !fileSensor) {
    throw new Error(
      "the new policy has a files section (or dependencies.install_scripts.files) and the running agent started without one (sensor.file-system is not loaded): restart the agent",
    );
  }
  const networkMaps = networkPolicyMaps(
    policy.network,
    resolvConf,
    policy.scope.runner.processes.length ? policy.scope.runner.allow : [],
  );
  const fileRules = fileSensor
    ? new FileRules(
      policy.files,
      policy.mode,
      implicit,
      installScriptFiles(policy),
    )
    : undefined;
  return {
    policy,
    networkMaps,
    execDeny: execDenyRules(policy.process),
    fileRules,
    fileMaps: fileRules?.kernelMaps(),
  };
}

/**
 * Whether a package manager's child counts as an install script from its
 * exec until the agent has named it (SCOPE_DEP_PENDING, fail closed): for
 * the policy's rule for install scripts, and for the bulk summary, which
 * counts none of a script's changes.
 */
export function marksPending(
  { policy, fileMaps }: Pick<CompiledPolicy, "policy" | "fileMaps">,
): boolean {
  return installScriptRule(policy) !== 0 || !!fileMaps?.summary;
}

/** The sensors a policy is written to. */
export interface PolicySensors {
  process: ProcessSensor;
  network: NetworkSensor;
  fileSystem?: FileSystemSensor;
}

/**
 * Writes a compiled policy to the sensors' maps: the network maps are
 * swapped in one step. Scope root names are the scope's business.
 */
export function applyPolicy(
  sensors: PolicySensors,
  compiled: CompiledPolicy,
): void {
  const { policy, networkMaps, execDeny, fileMaps } = compiled;
  sensors.network.setPolicy(networkMaps);
  sensors.network.configure({
    mode: policy.mode,
    action: policy.network.action,
    allowLoopback: policy.network.loopback === "allow",
    dnsQueries: policy.network.dns.queries,
    allowPrivileged: privilegedAllowed(policy.network),
    installScripts: installScriptRule(policy),
  });
  // Forbidden programs: killed at exec in block mode, reported in audit.
  sensors.process.setExecDeny(
    execDeny,
    policy.mode === "block" && policy.process?.action === "kill",
  );
  sensors.process.setDependencyPending(marksPending(compiled));
  // Other processes' memory, bpf() and signals to the agent.
  sensors.process.setGuard(guardSettings(policy));
  if (fileMaps) sensors.fileSystem?.setRules(fileMaps);
}
