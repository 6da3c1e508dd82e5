/**
 * The interface every exporter implements: events go in one at a time, and
 * nothing an exporter does may block the sensors.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";

/** A destination for events. */
export interface Exporter {
  /** Short name for messages, e.g. "jsonl". */
  readonly name: string;
  /** Takes one event. Must not block: buffer and flush later. */
  write(event: RingfenceEvent): void;
  /** Writes out what is buffered. */
  flush(): Promise<void>;
  /**
   * Writes out synchronously what is buffered, where the exporter can
   * (a file): called before the agent lets the kernel reuse the ring space
   * of the records written, so that a `kill -9` of the agent finds each
   * record either still in the ring or written.
   */
  commit?(): void;
  /** Flushes and releases resources. */
  close(): Promise<void>;
}
