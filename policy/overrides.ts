/**
 * What the command line (and so the GitHub Action's inputs and the runner
 * hooks' environment) changes in a parsed policy: `--egress-policy`
 * (harden-runner's `egress-policy: audit|block`), `--allowed-endpoints`
 * (harden-runner's `allowed-endpoints`: `host:port` and `*.host:port`
 * entries separated by spaces or newlines) and `--disable-file-monitoring`.
 *
 * Pure: the agent applies them onto every policy it puts in force (at
 * start, at a reload, and to the policy the Action's main step hands it).
 *
 * @module
 */

import { compileAllowList, parseAllowRule } from "./network.ts";
import type { AllowRule, Mode, Policy } from "./schema.ts";

/** The overrides the command line gives. */
export interface PolicyOverrides {
  /** `--egress-policy`: the policy's `mode`. */
  egressPolicy?: Mode;
  /** `--allowed-endpoints`, parsed by {@linkcode parseAllowedEndpoints}. */
  allowedEndpoints?: AllowRule[];
  /** `--disable-file-monitoring`: drops the `files` section. */
  disableFileMonitoring?: boolean;
}

/** Thrown for a bad override; `message` is one line naming the flag. */
export class OverrideError extends Error {}

/**
 * Parses `--egress-policy`: `audit` or `block`.
 *
 * @throws {OverrideError} for anything else.
 */
export function parseEgressPolicy(text: string): Mode {
  const value = text.trim();
  if (value === "audit" || value === "block") return value;
  throw new OverrideError(
    `--egress-policy: ${JSON.stringify(text)} is neither audit nor block`,
  );
}

/**
 * Parses `--allowed-endpoints`: entries separated by spaces, commas or
 * newlines, each in `network.allow`'s syntax (harden-runner's `host:port`
 * and `*.host:port` are a subset of it). An empty text allows nothing
 * beyond loopback.
 *
 * @throws {OverrideError} naming the first bad entry and why.
 */
export function parseAllowedEndpoints(text: string): AllowRule[] {
  const rules: AllowRule[] = [];
  const seen = new Set<string>();
  for (const entry of text.split(/[\s,]+/)) {
    if (!entry || seen.has(entry)) continue;
    seen.add(entry);
    try {
      rules.push(parseAllowRule(entry));
    } catch (error) {
      throw new OverrideError(
        `--allowed-endpoints: ${JSON.stringify(entry)}: ${
          (error as Error).message
        }`,
      );
    }
  }
  try {
    compileAllowList({
      allow: rules,
      dns: { resolvers: [], queries: "any" },
      action: "deny",
      loopback: "allow",
      privileged: {
        raw: "deny",
        packet: "deny",
        tun: "deny",
        netfilter: "deny",
      },
    });
  } catch (error) {
    throw new OverrideError(
      `--allowed-endpoints: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  return rules;
}

/**
 * The policy with the overrides applied. `builtIn` says whether `policy`
 * is ringfence's built-in one: its generous `network.allow` is REPLACED by
 * `allowedEndpoints` (harden-runner's meaning: the endpoints the job may
 * reach), while a policy file's list is extended by them.
 */
export function applyOverrides(
  policy: Policy,
  overrides: PolicyOverrides,
  builtIn: boolean,
): Policy {
  let result = policy;
  if (overrides.egressPolicy) {
    result = { ...result, mode: overrides.egressPolicy };
  }
  if (overrides.allowedEndpoints) {
    const kept = builtIn ? [] : result.network.allow;
    const texts = new Set(kept.map((rule) => rule.text));
    result = {
      ...result,
      network: {
        ...result.network,
        allow: [
          ...kept,
          ...overrides.allowedEndpoints.filter((rule) => !texts.has(rule.text)),
        ],
      },
    };
  }
  if (overrides.disableFileMonitoring && result.files) {
    const { files: _, ...rest } = result;
    result = rest;
  }
  return result;
}

/** The flags' texts, as the command line gives them. */
export interface OverrideFlags {
  /** `--egress-policy`. */
  egressPolicy?: string;
  /** `--allowed-endpoints`. */
  allowedEndpoints?: string;
  /** `--disable-file-monitoring`. */
  disableFileMonitoring?: boolean;
}

/**
 * Parses the flags' texts into overrides.
 *
 * @throws {OverrideError} for the first bad one.
 */
export function parseOverrides(flags: OverrideFlags): PolicyOverrides {
  return {
    ...(flags.egressPolicy !== undefined
      ? { egressPolicy: parseEgressPolicy(flags.egressPolicy) }
      : {}),
    ...(flags.allowedEndpoints !== undefined
      ? { allowedEndpoints: parseAllowedEndpoints(flags.allowedEndpoints) }
      : {}),
    ...(flags.disableFileMonitoring ? { disableFileMonitoring: true } : {}),
  };
}
