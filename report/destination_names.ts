/**
 * Which name a connection went to: its TLS server name, else the last
 * A/AAAA question its process asked shortly before, else the name its
 * address was first seen under. Shared by the report and the suggested
 * policy, so that both name a destination alike.
 *
 * @module
 */

import type { NetworkEvent } from "../sensors/network_event.ts";

/** How long after a DNS question a connection still takes its name. */
const DNS_WINDOW_MS = 5_000;
/** Bound on remembered addresses: memory stays flat on a long job. */
const MAX_NAMES = 10_000;

/** Names destinations from the DNS questions seen so far. */
export class DestinationNames {
  /** pid → last A/AAAA question and when. */
  readonly #questions = new Map<number, { name: string; ms: number }>();
  /** address → the name it was first attributed to. */
  readonly #names = new Map<string, string>();

  /** Notes a `dns` event's question (a refused one got no answer). */
  question(event: NetworkEvent, ms: number): void {
    if (
      event.query && event.verdict !== "deny" &&
      (event.qtype === "A" || event.qtype === "AAAA")
    ) {
      this.#questions.set(event.pid, { name: event.query, ms });
    }
  }

  /** Forgets an exited pid's question: a reused pid does not inherit it. */
  exited(pid: number): void {
    this.#questions.delete(pid);
  }

  /** The name of a connect/send event's destination, when one is known. */
  nameOf(event: NetworkEvent, ms: number): string | undefined {
    if (event.reason === "resolver") return undefined;
    const question = this.#questions.get(event.pid);
    let domain: string | undefined;
    if (event.query) domain = event.query; // the TLS server name
    else if (
      question && ms - question.ms <= DNS_WINDOW_MS && ms >= question.ms - 1
    ) {
      domain = question.name;
    } else domain = this.#names.get(event.daddr);
    if (
      domain && this.#names.size < MAX_NAMES && !this.#names.has(event.daddr)
    ) {
      this.#names.set(event.daddr, domain);
    }
    return domain;
  }
}
