/**
 * The events the agent hands to subscribers and exporters.
 *
 * @module
 */

import type { ProcessEvent } from "../sensors/process.ts";

export type { BaseEvent } from "../sensors/event.ts";
export type { ProcessEvent };

/** Any event of the JSON-lines contract. */
export type RingfenceEvent = ProcessEvent;

/** Receives events in the order the kernel produced them per sensor. */
export type EventListener = (event: RingfenceEvent) => void;
