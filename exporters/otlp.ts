/**
 * OTLP/HTTP logs: every event becomes one log record (body: the event as
 * JSON; attributes: its main fields under `ringfence.*`), encoded by
 * `@opentelemetry/otlp-transformer` as protobuf (default) or JSON and
 * POSTed to `<endpoint>/v1/logs` in batches, with the same queue, retries
 * and spool as the webhook.
 *
 * @module
 */

import {
  JsonLogsSerializer,
  ProtobufLogsSerializer,
} from "@opentelemetry/otlp-transformer";
import { resourceFromAttributes } from "@opentelemetry/resources";
import type { RingfenceEvent } from "../sensors/events.ts";
import { VERSION } from "../version.ts";
import { DeliveryQueue, QueuedExporter, spoolName } from "./queue.ts";
import { postBatch } from "./webhook.ts";

type LogRecord = Parameters<typeof ProtobufLogsSerializer.serializeRequest>[0][
  number
];
type Attributes = Record<string, string | number | boolean>;

/** OTLP settings (`exporters: - otlp: {...}`). */
export interface OtlpOptions {
  endpoint: string;
  headers?: Record<string, string>;
  batch?: number;
  queue?: number;
  timeout?: number;
  encoding?: "protobuf" | "json";
  spoolDir: string;
  log?: (message: string) => void;
}

// OpenTelemetry SeverityNumber: INFO = 9, WARN = 13.
const INFO = 9, WARN = 13;

/** `2026-11-25T06:27:20.086249003Z` → [seconds, nanoseconds]. */
export function hrTimeOf(time: string): [number, number] {
  const match = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z$/.exec(time);
  if (!match) {
    const ms = Date.parse(time) || Date.now();
    return [Math.floor(ms / 1000), (ms % 1000) * 1e6];
  }
  const seconds = Date.parse(`${match[1]}Z`) / 1000;
  return [seconds, Number((match[2] ?? "").padEnd(9, "0"))];
}

/** The OTLP log record for one event (as its JSON line). */
export function logRecordOf(
  line: string,
  resource: LogRecord["resource"],
): LogRecord {
  const event = JSON.parse(line) as RingfenceEvent & {
    step?: { name: string; pid: number };
  };
  const attributes: Attributes = {
    "ringfence.type": event.type,
    "ringfence.kind": event.kind,
    "process.pid": event.pid,
    "process.parent_pid": event.ppid,
    "process.command": event.comm,
    "process.owner.uid": event.uid,
  };
  let severity = INFO;
  if (event.type === "network_event") {
    attributes["ringfence.verdict"] = event.verdict;
    attributes["ringfence.reason"] = event.reason;
    attributes["network.protocol.name"] = event.protocol;
    if (event.daddr) attributes["destination.address"] = event.daddr;
    if (event.dport) attributes["destination.port"] = event.dport;
    if (event.query) attributes["dns.question.name"] = event.query;
    if (event.exe) attributes["process.executable.path"] = event.exe;
    if (event.verdict !== "allow") severity = WARN;
  } else if (event.type === "process_event" && event.kind === "exec") {
    if (event.path) attributes["process.executable.path"] = event.path;
  }
  if (event.step) {
    attributes["ringfence.step.name"] = event.step.name;
    attributes["ringfence.step.pid"] = event.step.pid;
  }
  const hrTime = hrTimeOf(event.time);
  return {
    hrTime,
    hrTimeObserved: hrTime,
    severityNumber: severity,
    severityText: severity === WARN ? "WARN" : "INFO",
    body: line,
    eventName: `ringfence.${event.type}.${event.kind}`,
    resource,
    instrumentationScope: { name: "ringfence", version: VERSION },
    attributes,
    droppedAttributesCount: 0,
  };
}

/** Sends events to an OpenTelemetry collector as logs. */
export class OtlpExporter extends QueuedExporter {
  readonly name = "otlp";
  readonly queue: DeliveryQueue;

  constructor(options: OtlpOptions) {
    super();
    const url = options.endpoint.replace(/\/+$/, "").endsWith("/v1/logs")
      ? options.endpoint
      : `${options.endpoint.replace(/\/+$/, "")}/v1/logs`;
    const json = options.encoding === "json";
    const serializer = json ? JsonLogsSerializer : ProtobufLogsSerializer;
    const resource = resourceFromAttributes({
      "service.name": "ringfence",
      "service.version": VERSION,
      "host.name": Deno.hostname(),
    });
    const headers = {
      "content-type": json ? "application/json" : "application/x-protobuf",
      "user-agent": `ringfence/${VERSION}`,
      ...options.headers,
    };
    this.queue = new DeliveryQueue({
      label: `otlp ${new URL(url).origin}`,
      batch: options.batch ?? 512,
      memory: options.queue ?? 10_000,
      spoolFile: `${options.spoolDir}/${spoolName("otlp", url)}`,
      send: (lines) => {
        const body = serializer.serializeRequest(
          lines.map((line) => logRecordOf(line, resource)),
        );
        if (!body) return Promise.reject(new Error("OTLP encoding failed"));
        return postBatch(
          url,
          new Uint8Array(body),
          headers,
          options.timeout ?? 10,
        );
      },
      log: options.log,
    });
  }

  write(event: RingfenceEvent): void {
    this.queue.push(JSON.stringify(event));
  }
}
