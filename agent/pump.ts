/**
 * The event pump: reads the sensors' rings in batches, keeps the process
 * tree current and hands each event to the subscribers.
 *
 * @module
 */

import type { EventListener, RingfenceEvent } from "../sensors/events.ts";
import { RING_POLL_MS, waitForData, Wakeup } from "../sensors/ringbuf.ts";
import type { Sensor } from "../sensors/sensor.ts";
import type { ProcessTree } from "./process_tree.ts";

/**
 * Milliseconds between two reads while records keep coming: enough for a
 * batch to gather, far below the time an exec storm takes to fill a ring.
 */
const BATCH_GAP_MS = 2;

/** A sensor and how its records become events. */
export interface SensorBinding {
  sensor: Sensor;
  /** undefined: a record the policy's final match drops. */
  decode: (view: DataView, offset: number) => RingfenceEvent | undefined;
}

/** What the pump has counted. */
export interface PumpCounts {
  /** Events handed to subscribers. */
  events: number;
  /** Distinct processes reported. */
  processes: number;
  /** Network actions refused in the kernel (verdict deny). */
  blocked: number;
  /** Network actions block mode would have refused (verdict audit). */
  wouldBlock: number;
}

/** Reads the rings of its bindings and dispatches their events. */
export class EventPump {
  readonly #bindings: readonly SensorBinding[];
  readonly #tree: ProcessTree;
  readonly #annotate: (event: RingfenceEvent) => void;
  readonly #listeners = new Set<EventListener>();
  readonly #wakeup = new Wakeup();
  // Pids reported and not yet exited: bounded by live processes, and a
  // reused pid counts as a new process.
  readonly #reporting = new Set<number>();
  readonly #counts: PumpCounts = {
    events: 0,
    processes: 0,
    blocked: 0,
    wouldBlock: 0,
  };
  #stopping = false;
  #loop: Promise<void> | undefined;

  /**
   * @param bindings the process sensor's first: its events build the tree
   *   the others' are described from.
   * @param annotate adds to each event what the agent knows, after the
   *   tree has taken it and before the subscribers get it.
   */
  constructor(
    bindings: readonly SensorBinding[],
    tree: ProcessTree,
    annotate: (event: RingfenceEvent) => void,
  ) {
    this.#bindings = bindings;
    this.#tree = tree;
    this.#annotate = annotate;
  }

  /** The counts so far. */
  get counts(): PumpCounts {
    return { ...this.#counts };
  }

  /** Calls `listener` for every event; returns a function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Hands an event the agent made itself (not a sensor's) to the subscribers. */
  emit(event: RingfenceEvent): void {
    this.#counts.events++;
    for (const listener of this.#listeners) listener(event);
  }

  /** Starts reading the rings, from the next turn of the event loop. */
  start(): void {
    this.#loop ??= this.#run();
  }

  /** Ends the reading; records still in the rings wait for a flush(). */
  async stop(): Promise<void> {
    this.#stopping = true;
    this.#wakeup.wake();
    await this.#loop;
    this.#wakeup.close();
  }

  /** Hands out every record the kernel has produced so far. */
  flush(): number {
    // The other sensors' rings are read up to where they are now, and only
    // after the process ring: the process events that came before one of
    // their records (the exec before a write) are in the tree by the time
    // it is dispatched, however long the process ring's batch takes.
    const ends = this.#bindings.map(({ sensor }) => sensor.ring.produced);
    let count = 0;
    for (const [index, binding] of this.#bindings.entries()) {
      count += binding.sensor.drain((view, offset) => {
        const event = binding.decode(view, offset);
        if (event) this.#dispatch(event);
      }, index === 0 ? undefined : ends[index]);
    }
    this.#tree.endBatch();
    return count;
  }

  /** The loop that reads the rings until stop(). */
  async #run(): Promise<void> {
    const fds = [
      ...this.#bindings.map(({ sensor }) => sensor.ring.fd),
      this.#wakeup.fd,
    ];
    // The first read waits a turn of the event loop, until whoever awaited
    // start() has subscribed: the records of the start-up (from attach
    // until start() returns) are then delivered to that listener.
    await sleep(0);
    while (!this.#stopping) {
      if (this.flush() === 0) {
        await waitForData(fds, RING_POLL_MS);
      } else {
        // More may be on its way: a short gap lets it gather, so that each
        // pass over the rings reads a batch rather than a few records.
        await sleep(BATCH_GAP_MS);
      }
    }
  }

  #dispatch(event: RingfenceEvent): void {
    const counts = this.#counts;
    counts.events++;
    if (!this.#reporting.has(event.pid)) {
      this.#reporting.add(event.pid);
      counts.processes++;
    }
    if (event.type === "process_event") {
      this.#tree.apply(event);
      if (event.kind === "exit") this.#reporting.delete(event.pid);
    } else if (event.verdict === "deny") counts.blocked++;
    else if (event.verdict === "audit") counts.wouldBlock++;
    this.#annotate(event);
    for (const listener of this.#listeners) listener(event);
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
