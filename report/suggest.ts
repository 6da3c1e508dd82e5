/**
 * The report's side of `ringfence report --suggest-policy`: the run's
 * destinations, scope roots and resolvers, handed to the policy layer's
 * suggestion (policy/suggest.ts).
 *
 * @module
 */

import type { PrivilegedPrimitive } from "../policy/schema.ts";
import { suggestPolicy as suggestFromRun } from "../policy/suggest.ts";
import type { Report } from "./types.ts";

/** A block-mode policy (YAML) that allows exactly the egress of `report`. */
export function suggestPolicy(report: Report): string {
  return suggestFromRun({
    destinations: report.egress,
    scopeRoots: report.scopeRoots,
    resolvers: report.resolversNotAllowed,
    privileged: privilegedUsed(report),
  });
}

/** The sensor's reason for each primitive, by its `network.privileged` name. */
const PRIMITIVES: readonly [PrivilegedPrimitive, string][] = [
  ["raw", "raw_socket"],
  ["packet", "packet_socket"],
  ["tun", "tun"],
  ["netfilter", "netfilter"],
];

/** The privileged primitives the run used: allowed, or audited. */
function privilegedUsed(report: Report): PrivilegedPrimitive[] {
  return PRIMITIVES.filter(([, reason]) =>
    report.privileged.some((entry) =>
      entry.reason === reason && entry.verdict !== "deny"
    )
  ).map(([name]) => name);
}
