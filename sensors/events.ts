/**
 * The events the agent hands to subscribers and exporters.
 *
 * @module
 */

import type { AgentEvent } from "./agent_event.ts";
import type { FileIntegrityEvent } from "./file_integrity_event.ts";
import type { FileSystemEvent } from "./file_system_event.ts";
import type { FileSystemSummaryEvent } from "./file_system_summary.ts";
import type { GuardEvent } from "./guard_event.ts";
import type { NetworkEvent } from "./network_event.ts";
import type { ProcessEvent } from "./process.ts";

export type { BaseEvent, Dependency } from "./event.ts";
export type {
  AgentEvent,
  FileIntegrityEvent,
  FileSystemEvent,
  FileSystemSummaryEvent,
  GuardEvent,
  NetworkEvent,
  ProcessEvent,
};

/** Any event of the JSON-lines contract. */
export type RingfenceEvent =
  | ProcessEvent
  | GuardEvent
  | NetworkEvent
  | FileSystemEvent
  | FileSystemSummaryEvent
  | FileIntegrityEvent
  | AgentEvent;

/** Receives events in the order the kernel produced them per sensor. */
export type EventListener = (event: RingfenceEvent) => void;
