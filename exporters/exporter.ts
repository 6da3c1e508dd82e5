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
  /** Flushes and releases resources. */
  close(): Promise<void>;
}
