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
import { TimeOrder } from "./reorder.ts";

/**
 * Milliseconds between two reads while records keep coming: enough for a
 * batch to gather, far below the time an exec storm takes to fill a ring.
 */
const BATCH_GAP_MS = 2;

/**
 * Empty polls (of RING_POLL_MS each) after which the agent sleeps for
 * long: the rings have been quiet for a fiftieth of a second. A sleeping
 * agent is woken by the next record, so sleeping early loses no time; it
 * spares a job whose events come tens of milliseconds apart a dozen
 * wake-ups of the agent per burst, each of which costs it CPU. Two polls,
 * not one: a ring whose records come every few milliseconds stays read in
 * batches rather than toggling the sensors' flag at every record.
 */
const POLLS_BEFORE_SLEEP = 2;

/**
 * A read of at most this many records while the agent sleeps is a short
 * burst: it sleeps on, and the sensors wake it again with their next
 * record. More, and the rings are read in batches again.
 */
const SHORT_BURST = 64;

/**
 * Short bursts within RING_POLL_MS that keep the agent asleep: a process's
 * fork, exec and exit may each wake it. More is a busy ring, read in
 * batches.
 */
const SHORT_BURSTS_PER_POLL = 3;

/**
 * How long the agent sleeps at most once the rings are quiet, by default.
 * The sensors wake it with their next record (Sensor.setAsleep), so this
 * bounds the delay only of a record whose program read the flag just
 * before the agent set it and was committed after the agent's last pass;
 * the agent's once-a-second checks wake it as often anyway.
 */
export const QUIET_POLL_MS = 1000;

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
  /** Events handed out after a later one: time order not kept. */
  late: number;
  /** Reads of the rings: how often the agent woke to read them. */
  passes: number;
}

/** Reads the rings of its bindings and dispatches their events. */
export class EventPump {
  readonly #bindings: readonly SensorBinding[];
  readonly #tree: ProcessTree;
  readonly #annotate: (event: RingfenceEvent) => void;
  // Arrays, replaced on (un)subscribe: iterating a Set allocates an
  // iterator per event.
  #listeners: readonly EventListener[] = [];
  #commits: readonly (() => void)[] = [];
  readonly #wakeup = new Wakeup();
  readonly #order = new TimeOrder((event) => this.#dispatch(event));
  // Pids reported and not yet exited: bounded by live processes, and a
  // reused pid counts as a new process.
  readonly #reporting = new Set<number>();
  readonly #counts: Omit<PumpCounts, "late"> = {
    events: 0,
    processes: 0,
    blocked: 0,
    wouldBlock: 0,
    passes: 0,
  };
  #stopping = false;
  #loop: Promise<void> | undefined;
  #made: () => readonly RingfenceEvent[] = () => [];
  #readAt = performance.now();
  readonly #quietPollMs: number;

  /**
   * @param bindings the process sensor's first: its events build the tree
   *   the others' are described from.
   * @param annotate adds to each event what the agent knows, as it is read
   *   (after the tree has taken it) and before the subscribers get it.
   * @param options.quietPollMs how long a quiet agent sleeps at most
   *   (default {@linkcode QUIET_POLL_MS}).
   */
  constructor(
    bindings: readonly SensorBinding[],
    tree: ProcessTree,
    annotate: (event: RingfenceEvent) => void,
    options: { quietPollMs?: number } = {},
  ) {
    this.#quietPollMs = options.quietPollMs ?? QUIET_POLL_MS;
    this.#bindings = bindings;
    this.#tree = tree;
    this.#annotate = annotate;
  }

  /**
   * `performance.now()` when the last read of the rings began (or an
   * event of the agent's own was handed out): the time of what is being
   * handled, good to a read's few milliseconds.
   */
  get readAt(): number {
    return this.#readAt;
  }

  /** The counts so far. */
  get counts(): PumpCounts {
    return { ...this.#counts, late: this.#order.late };
  }

  /**
   * Calls `made` after each read of the rings, before its events go out:
   * the events it returns (the agent's own, e.g. summaries) join them.
   */
  onRead(made: () => readonly RingfenceEvent[]): void {
    this.#made = made;
  }

  /** Calls `listener` for every event; returns a function that unsubscribes. */
  subscribe(listener: EventListener): () => void {
    if (!this.#listeners.includes(listener)) {
      this.#listeners = [...this.#listeners, listener];
    }
    return () => {
      this.#listeners = this.#listeners.filter((other) => other !== listener);
    };
  }

  /**
   * Calls `commit` before ring space is given back to the kernel, after
   * the listeners had the events of its records: a listener that keeps
   * events writes them out there. Returns a function that unsubscribes.
   */
  onCommit(commit: () => void): () => void {
    if (!this.#commits.includes(commit)) {
      this.#commits = [...this.#commits, commit];
    }
    return () => {
      this.#commits = this.#commits.filter((other) => other !== commit);
    };
  }

  /**
   * Hands an event the agent itself makes (not a kernel record) to the
   * subscribers, and commits it.
   */
  emit(event: RingfenceEvent): void {
    this.#readAt = performance.now();
    this.#annotate(event);
    this.#dispatch(event);
    this.#commit();
  }

  #commit = (): void => {
    const commits = this.#commits;
    for (let index = 0; index < commits.length; index++) {
      try {
        commits[index]();
      } catch { /* a listener's failure must not stop the pump */ }
    }
  };

  /**
   * Starts reading the rings, from the next turn of the event loop;
   * `first` (the agent's own events of its start) go out before the
   * first record.
   */
  start(first: readonly RingfenceEvent[] = []): void {
    this.#loop ??= this.#run(first);
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
    this.#readAt = performance.now();
    this.#counts.passes++;
    // Each ring is read up to where it is now, the process ring first and
    // its end taken last: the process events that came before one of the
    // others' records (the exec before a write) are in the tree by the
    // time it is decoded. The events of all rings then go out together,
    // in time order.
    const ends: number[] = [];
    for (let index = this.#bindings.length - 1; index >= 0; index--) {
      ends[index] = this.#bindings[index].sensor.ring.produced;
    }
    let count = 0;
    for (const [index, binding] of this.#bindings.entries()) {
      count += binding.sensor.drain(
        (view, offset) => {
          const event = binding.decode(view, offset);
          if (!event) return;
          // The tree and what the agent adds (the step) follow the
          // rings' own order; only the subscribers get the merged one.
          if (event.type === "process_event") this.#tree.apply(event);
          this.#annotate(event);
          this.#order.push(event);
        },
        ends[index],
        // A long drain gives ring space back as it goes: what was read
        // until then goes out first.
        this.#release,
        true,
      );
    }
    for (const event of this.#made()) {
      this.#annotate(event);
      this.#order.push(event);
    }
    this.#release();
    for (const { sensor } of this.#bindings) sensor.ring.release();
    this.#tree.endBatch();
    return count;
  }

  /** Hands out the events read, in time order, and has them written. */
  #release = (): void => {
    if (this.#order.release()) this.#commit();
  };

  /** The loop that reads the rings until stop(). */
  async #run(first: readonly RingfenceEvent[]): Promise<void> {
    const fds = [
      ...this.#bindings.map(({ sensor }) => sensor.ring.fd),
      this.#wakeup.fd,
    ];
    // The first read waits a turn of the event loop, until whoever awaited
    // start() has subscribed: the records of the start-up (from attach
    // until start() returns) are then delivered to that listener.
    await sleep(0);
    for (const event of first) this.emit(event);
    let empty = 0;
    let asleep = false;
    // Short bursts read while asleep, since burstsFrom.
    let bursts = 0;
    let burstsFrom = Number.NEGATIVE_INFINITY;
    try {
      while (!this.#stopping) {
        const read = this.flush();
        if (read > 0) {
          if (asleep) {
            // Most jobs' events come a few at a time, tens of milliseconds
            // apart: waking to read each such burst and sleeping on costs
            // one wake-up, where batching costs a dozen (the gap, the
            // polls, the flag set twice). A big burst, or bursts close
            // together, is a busy ring: it is read in batches again.
            if (this.#readAt - burstsFrom >= RING_POLL_MS) {
              burstsFrom = this.#readAt;
              bursts = 0;
            }
            if (read <= SHORT_BURST && ++bursts <= SHORT_BURSTS_PER_POLL) {
              await waitForData(fds, this.#quietPollMs);
              continue;
            }
            this.#setAsleep(asleep = false);
          }
          empty = 0;
          // More may be on its way: a short gap lets it gather, so that each
          // pass over the rings reads a batch rather than a few records.
          await sleep(BATCH_GAP_MS);
        } else if (++empty < POLLS_BEFORE_SLEEP) {
          await waitForData(fds, RING_POLL_MS);
        } else if (!asleep) {
          // Quiet: a poll every RING_POLL_MS would cost an idle agent a few
          // percent of a core. From now on the sensors wake the agent with
          // their next record; the pass before the wait reads what came
          // before they saw the flag.
          this.#setAsleep(asleep = true);
        } else {
          await waitForData(fds, this.#quietPollMs);
        }
      }
    } finally {
      if (asleep) this.#setAsleep(false);
    }
  }

  #setAsleep(asleep: boolean): void {
    for (const { sensor } of this.#bindings) {
      try {
        sensor.setAsleep(asleep);
      } catch { /* a sensor closed under the pump: its ring is read no more */ }
    }
  }

  #dispatch(event: RingfenceEvent): void {
    const counts = this.#counts;
    counts.events++;
    if (event.type !== "agent" && !this.#reporting.has(event.pid)) {
      this.#reporting.add(event.pid);
      counts.processes++;
    }
    if (event.type === "process_event") {
      // The tree took it as it was read (flush).
      if (event.kind === "exit") this.#reporting.delete(event.pid);
    } else if (event.type === "agent") {
      // the agent's own events count as events, not as verdicts
    } else if (event.verdict === "deny") counts.blocked++;
    else if (event.verdict === "audit") counts.wouldBlock++;
    const listeners = this.#listeners;
    for (let index = 0; index < listeners.length; index++) {
      listeners[index](event);
    }
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
