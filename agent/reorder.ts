/**
 * Puts the events of one read of the rings back in time order before the
 * subscribers get them. Each sensor's ring is in order on its own, but the
 * pump reads the process, network and file rings one after the other: a
 * connection's event would otherwise follow the exit of its process.
 *
 * The events of one read are held, sorted by their kernel time (a stable
 * sort: equal times keep the order of the rings) and handed out together;
 * nothing is held past the read, so the delay is one read and nothing is
 * lost. An event older than one already handed out (a record the kernel
 * finished writing only after the read before took a later one) goes out
 * anyway, and is counted.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";

/** Holds the events of a read and hands them out in time order. */
export class TimeOrder {
  #pending: RingfenceEvent[] = [];
  /** Whether the pending events are in order as they came. */
  #sorted = true;
  /** The time of the latest event handed out. */
  #last = "";
  #late = 0;
  readonly #deliver: (event: RingfenceEvent) => void;

  /** `deliver` gets each event, in time order. */
  constructor(deliver: (event: RingfenceEvent) => void) {
    this.#deliver = deliver;
  }

  /**
   * Events handed out after a later one had been: the order could not be
   * kept for them.
   */
  get late(): number {
    return this.#late;
  }

  /** Holds one event until {@linkcode TimeOrder.release}. */
  push(event: RingfenceEvent): void {
    const pending = this.#pending;
    // Times are ISO 8601 strings of one width: they sort as text.
    if (pending.length && event.time < pending[pending.length - 1].time) {
      this.#sorted = false;
    }
    pending.push(event);
  }

  /** Hands out every event held, oldest first; returns how many. */
  release(): number {
    const pending = this.#pending;
    if (!pending.length) return 0;
    this.#pending = [];
    if (!this.#sorted) {
      pending.sort((a, b) => a.time < b.time ? -1 : a.time > b.time ? 1 : 0);
      this.#sorted = true;
    }
    for (let index = 0; index < pending.length; index++) {
      const event = pending[index];
      if (event.time < this.#last) this.#late++;
      else this.#last = event.time;
      this.#deliver(event);
    }
    return pending.length;
  }
}
