/**
 * The events' side of `ringfence report --suggest-policy`: each use of a
 * destination with its name, step, process and package, the resolvers and
 * privileged primitives used, handed to the policy layer's suggestion
 * (policy/suggest.ts) with the audited policy.
 *
 * A destination is named as the report names it (report/build.ts): by the
 * last A/AAAA question its process asked within 5 s before connecting, or
 * by the TLS server name the sensor read; an address once named keeps the
 * name.
 *
 * @module
 */

import type { PrivilegedPrimitive } from "../policy/schema.ts";
import { endpoint } from "../policy/endpoint.ts";
import {
  type AuditedPolicy,
  suggestPolicy as suggestFromRun,
  type UsedDestination,
} from "../policy/suggest.ts";
import type { NetworkEvent, RingfenceEvent } from "../sensors/events.ts";
import { describeDependency } from "./dependency.ts";
import { DestinationNames } from "./destination_names.ts";

/** Bounds that keep the collector's memory flat on a long job. */
const MAX_KEYS = 10_000;

/** The sensor's reason for each primitive, by its `network.privileged` name. */
const PRIMITIVES: readonly [PrivilegedPrimitive, string][] = [
  ["raw", "raw_socket"],
  ["packet", "packet_socket"],
  ["tun", "tun"],
  ["netfilter", "netfilter"],
];

/**
 * Collects what a suggestion needs from events, in the order they
 * happened; memory grows with distinct uses, not with events.
 */
export class SuggestionBuilder {
  readonly #uses = new Map<string, UsedDestination>();
  readonly #resolvers = new Set<string>();
  readonly #privileged = new Set<PrivilegedPrimitive>();
  readonly #names = new DestinationNames();
  /** pid → executable, from exec events. */
  readonly #exes = new Map<number, string>();

  /** Adds one event. */
  add(event: RingfenceEvent): void {
    if (event.type === "process_event") {
      if (event.kind === "exec" && event.path && this.#exes.size < MAX_KEYS) {
        this.#exes.set(event.pid, event.file ?? event.path);
      } else if (event.kind === "exit") {
        this.#names.exited(event.pid);
        this.#exes.delete(event.pid);
      }
      return;
    }
    if (event.type === "network_event") this.#network(event);
  }

  #network(event: NetworkEvent): void {
    const ms = Date.parse(event.time);
    if (event.kind === "dns") {
      this.#names.question(event, ms);
      if (
        event.reason === "dns_resolver_not_allowed" &&
        event.verdict !== "deny" && this.#resolvers.size < MAX_KEYS
      ) {
        this.#resolvers.add(endpoint(event.daddr, event.dport));
      }
      return;
    }
    if (event.kind === "socket") {
      for (const [name, reason] of PRIMITIVES) {
        if (event.reason === reason && event.verdict !== "deny") {
          this.#privileged.add(name);
        }
      }
      return;
    }
    if (event.kind !== "connect" && event.kind !== "send") return;
    const domain = this.#names.nameOf(event, ms);
    const use: UsedDestination = {
      kind: event.kind,
      address: event.daddr,
      port: event.dport,
      verdict: event.verdict,
      reason: event.reason,
      process: event.exe ?? this.#exes.get(event.pid) ?? event.comm,
    };
    if (domain) use.domain = domain;
    if (event.step?.name) use.step = event.step.name;
    const pkg = describeDependency(event.dependency);
    if (pkg) use.package = pkg;
    const key = [
      use.kind,
      use.domain,
      use.address,
      use.port,
      use.verdict,
      use.reason,
      use.step,
      use.process,
      use.package,
    ].join("\0");
    if (!this.#uses.has(key) && this.#uses.size < MAX_KEYS) {
      this.#uses.set(key, use);
    }
  }

  /** The block-mode policy (YAML) on `audited` for what was collected. */
  suggest(audited: AuditedPolicy): string {
    return suggestFromRun({
      destinations: [...this.#uses.values()],
      resolvers: [...this.#resolvers].sort(),
      privileged: [...this.#privileged],
    }, audited);
  }
}

/**
 * A block-mode policy (YAML), on the audited policy, that allows exactly
 * the egress `events` used and leaves out what should not be allowed.
 */
export function suggestPolicy(
  events: Iterable<RingfenceEvent>,
  audited: AuditedPolicy,
): string {
  const builder = new SuggestionBuilder();
  for (const event of events) builder.add(event);
  return builder.suggest(audited);
}
