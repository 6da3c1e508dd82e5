/**
 * Turns a policy's network section into what sensor.network holds: the
 * allow ranges per family, the resolvers, the allowed domains and the
 * privileged primitives allowed.
 *
 * @module
 */

import { parseAddress } from "../policy/address.ts";
import { compileAllowList, DNS_PORT } from "../policy/network.ts";
import {
  type AllowRule,
  type NetworkPolicy,
  PRIVILEGED_PRIMITIVES,
} from "../policy/schema.ts";
import type {
  NetworkPolicyMaps,
  NetworkPrivileged,
  Resolver,
  RunnerAllowMaps,
} from "../sensors/network.ts";

/**
 * The nameservers of a resolv.conf text: what `resolvers: [system]` means.
 * Zone suffixes (`fe80::1%eth0`) are dropped; unparsable lines are skipped.
 */
export function systemResolvers(resolvConf: string): Resolver[] {
  const resolvers: Resolver[] = [];
  for (const line of resolvConf.split("\n")) {
    const match = line.match(/^\s*nameserver\s+(\S+)/);
    if (!match) continue;
    const address = parseAddress(match[1].replace(/%.*$/, ""));
    if (address) resolvers.push({ ...address, port: DNS_PORT });
  }
  return resolvers;
}

function readResolvConf(path: string): string {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return "";
  }
}

/**
 * Compiles the network policy into the sensor's maps.
 *
 * @param resolvConf where `system` resolvers are read from.
 * @param runnerAllow `scope.runner.allow`: what runner roots may reach
 *   besides; pass none when the policy names no runner root.
 * @throws {import("../policy/lpm.ts").AllowListError} when a range needs
 *   more ports than one entry holds.
 */
export function networkPolicyMaps(
  policy: NetworkPolicy,
  resolvConf = "/etc/resolv.conf",
  runnerAllow: readonly AllowRule[] = [],
): NetworkPolicyMaps {
  const { v4, v6, domains } = compileAllowList(policy);
  const resolvers = policy.dns.resolvers.flatMap((spec): Resolver[] =>
    spec.kind === "system"
      ? systemResolvers(readResolvConf(resolvConf))
      : [{ family: spec.family, address: spec.address, port: spec.port }]
  );
  const unique = new Map(
    resolvers.map((resolver) => [
      `${resolver.family}/${resolver.address.join(".")}/${resolver.port}`,
      resolver,
    ]),
  );
  return {
    v4,
    v6,
    resolvers: [...unique.values()],
    domains,
    runner: runnerMaps(policy, runnerAllow),
  };
}

/** `scope.runner.allow` as the sensor's runner maps: its own ranges. */
function runnerMaps(
  policy: NetworkPolicy,
  allow: readonly AllowRule[],
): RunnerAllowMaps {
  // Loopback stays network.loopback's alone.
  const { v4, v6, domains } = compileAllowList({
    ...policy,
    allow: [...allow],
    loopback: "deny",
  });
  return { v4, v6, domains };
}

/**
 * The privileged primitives `network.privileged` allows, as the sensor's
 * config names them (`NetworkSettings.allowPrivileged`).
 */
export function privilegedAllowed(policy: NetworkPolicy): NetworkPrivileged[] {
  return PRIVILEGED_PRIMITIVES.filter((name) =>
    policy.privileged[name] === "allow"
  );
}
