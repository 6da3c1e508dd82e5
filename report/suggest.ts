/**
 * The report's side of `ringfence report --suggest-policy`: the run's
 * destinations, scope roots and resolvers, handed to the policy layer's
 * suggestion (policy/suggest.ts).
 *
 * @module
 */

import { suggestPolicy as suggestFromRun } from "../policy/suggest.ts";
import type { Report } from "./types.ts";

/** A block-mode policy (YAML) that allows exactly the egress of `report`. */
export function suggestPolicy(report: Report): string {
  return suggestFromRun({
    destinations: report.egress,
    scopeRoots: report.scopeRoots,
    resolvers: report.resolversNotAllowed,
  });
}
