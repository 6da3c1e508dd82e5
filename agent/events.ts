/**
 * The events the agent hands to subscribers and exporters.
 *
 * @module
 */

import type { FileSystemEvent } from "../sensors/file_system.ts";
import type { NetworkEvent } from "../sensors/network.ts";
import type { ProcessEvent } from "../sensors/process.ts";

export type { BaseEvent } from "../sensors/event.ts";
export type { FileSystemEvent, NetworkEvent, ProcessEvent };

/** Any event of the JSON-lines contract. */
export type RingfenceEvent = ProcessEvent | NetworkEvent | FileSystemEvent;

/** Receives events in the order the kernel produced them per sensor. */
export type EventListener = (event: RingfenceEvent) => void;
