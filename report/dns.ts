/**
 * DNS queries the sensor refused (or, in audit mode, would have refused)
 * for their name: the names a step tried to send out through the
 * resolver, each listed whole, as a tunnelled secret would be.
 *
 * @module
 */

import type { NetworkEvent } from "../sensors/network.ts";
import { endpoint } from "../policy/endpoint.ts";
import type { DnsRefusedEntry } from "./types.ts";

/** The reason of a query refused for its name. */
export const DNS_QUERY_NOT_ALLOWED = "dns_query_not_allowed";

/** Distinct queries kept; more are counted in `omitted`. */
const MAX_QUERIES = 1_000;

/** What a query without a readable name is listed as. */
function nameOf(event: NetworkEvent): string {
  if (event.query !== undefined) return event.query;
  if (event.query_truncated) return "(a name longer than DNS allows)";
  return "(not a query the sensor could read)";
}

/** Aggregates the refused queries by name, type, resolver and process. */
export class RefusedQueries {
  readonly #entries = new Map<string, DnsRefusedEntry>();
  /** Refused queries beyond the limit, not listed. */
  omitted = 0;

  /**
   * Takes a dns event refused for its name; false for any other event,
   * which the caller handles.
   */
  add(
    event: NetworkEvent,
    process: string,
    step?: string,
    pkg?: string,
  ): boolean {
    if (event.kind !== "dns" || event.reason !== DNS_QUERY_NOT_ALLOWED) {
      return false;
    }
    const name = nameOf(event);
    const resolver = endpoint(event.daddr, event.dport);
    const key = [
      name,
      event.qtype,
      resolver,
      event.protocol,
      process,
      step,
      pkg,
      event.verdict,
    ].join("\0");
    const entry = this.#entries.get(key);
    if (entry) entry.count++;
    else if (this.#entries.size >= MAX_QUERIES) this.omitted++;
    else {
      const fresh: DnsRefusedEntry = {
        name,
        resolver,
        protocol: event.protocol,
        process,
        verdict: event.verdict,
        count: 1,
      };
      if (event.qtype) fresh.qtype = event.qtype;
      if (step) fresh.step = step;
      if (pkg) fresh.package = pkg;
      this.#entries.set(key, fresh);
    }
    return true;
  }

  /** The entries, refused before would-be-refused, in order of arrival. */
  list(): DnsRefusedEntry[] {
    const entries = [...this.#entries.values()];
    return [
      ...entries.filter((entry) => entry.verdict === "deny"),
      ...entries.filter((entry) => entry.verdict !== "deny"),
    ];
  }
}
