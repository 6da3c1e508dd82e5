/**
 * Servers of the tests' own, on 127.0.0.1: a webhook receiver that can be
 * taken down and brought back on the same port, an OTLP/HTTP logs receiver
 * that decodes what it gets with the official field numbers, and readers
 * for the HTTP and gRPC exporters.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import protobuf from "protobufjs";
import { loadSync } from "@grpc/proto-loader";

/** A webhook receiver recording every JSON line POSTed, in order. */
export class WebhookReceiver {
  readonly lines: Record<string, unknown>[] = [];
  requests = 0;
  port = 0;
  #server: Deno.HttpServer<Deno.NetAddr> | undefined;

  /** Starts on `port` (0: any free port). */
  start(port = this.port): void {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port, onListen: () => {} },
      async (request) => {
        this.requests++;
        const text = await request.text();
        for (const line of text.split("\n")) {
          if (line) this.lines.push(JSON.parse(line));
        }
        return new Response("ok");
      },
    );
    this.port = this.#server.addr.port;
  }

  /** Takes it down (connections are then refused). */
  async stop(): Promise<void> {
    await this.#server?.shutdown();
    this.#server = undefined;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}/hook`;
  }

  /** Waits until `count` lines arrived (bounded). */
  async waitFor(count: number, timeoutMs = 20_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length < count && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }
}

const OTLP = protobuf.loadSync(
  new URL("./otlp_logs.proto", import.meta.url).pathname,
).lookupType("opentelemetry.proto.collector.logs.v1.ExportLogsServiceRequest");

/** One decoded log record, flattened. */
export interface DecodedLog {
  body: string;
  timeUnixNano: bigint;
  severityText: string;
  eventName: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
  scope: string;
}

function flatten(
  list: { key: string; value: Record<string, unknown> }[] = [],
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list) {
    out[key] = value.stringValue ?? value.intValue ?? value.boolValue ??
      value.doubleValue;
  }
  return out;
}

/** An OTLP/HTTP logs receiver: POST /v1/logs, protobuf. */
export class OtlpReceiver {
  readonly logs: DecodedLog[] = [];
  readonly contentTypes = new Set<string>();
  readonly #server: Deno.HttpServer<Deno.NetAddr>;

  constructor() {
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        if (new URL(request.url).pathname !== "/v1/logs") {
          return new Response("", { status: 404 });
        }
        this.contentTypes.add(request.headers.get("content-type") ?? "");
        const bytes = new Uint8Array(await request.arrayBuffer());
        // Throws on anything that is not a valid message.
        const message = OTLP.toObject(OTLP.decode(bytes), {
          longs: BigInt,
        }) as {
          resourceLogs: {
            resource: { attributes: [] };
            scopeLogs: {
              scope: { name: string };
              logRecords: {
                body: { stringValue: string };
                timeUnixNano: bigint;
                severityText: string;
                eventName: string;
                attributes: [];
              }[];
            }[];
          }[];
        };
        for (const resourceLogs of message.resourceLogs) {
          for (const scopeLogs of resourceLogs.scopeLogs) {
            for (const record of scopeLogs.logRecords) {
              this.logs.push({
                body: record.body.stringValue,
                timeUnixNano: BigInt(record.timeUnixNano),
                severityText: record.severityText,
                eventName: record.eventName,
                attributes: flatten(record.attributes),
                resource: flatten(resourceLogs.resource.attributes),
                scope: scopeLogs.scope.name,
              });
            }
          }
        }
        return new Response(new Uint8Array(0), {
          headers: { "content-type": "application/x-protobuf" },
        });
      },
    );
  }

  get endpoint(): string {
    return `http://127.0.0.1:${this.#server.addr.port}`;
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
  }
}

/** Reads `/events` as JSON lines into `events` until aborted. */
export async function readHttpEvents(
  url: string,
  token: string,
  events: Record<string, unknown>[],
  signal: AbortSignal,
): Promise<Response> {
  const response = await fetch(url, {
    headers: { authorization: `Bearer ${token}` },
    signal,
  });
  if (!response.ok || !response.body) return response;
  (async () => {
    let buffer = "";
    const decoder = new TextDecoder();
    try {
      for await (const chunk of response.body!) {
        buffer += decoder.decode(chunk, { stream: true });
        let newline;
        while ((newline = buffer.indexOf("\n")) !== -1) {
          events.push(JSON.parse(buffer.slice(0, newline)));
          buffer = buffer.slice(newline + 1);
        }
      }
    } catch { /* aborted */ }
  })();
  return response;
}

/** A gRPC client of ringfence.v1.EventService, built from the .proto. */
export function grpcClient(address: string): grpc.Client & {
  Events(
    request: Record<string, unknown>,
    metadata: grpc.Metadata,
  ): grpc.ClientReadableStream<Record<string, unknown>>;
} {
  // The .proto file in the repository, as any client would use it.
  const definition = loadSync(
    new URL("../../exporters/ringfence.proto", import.meta.url).pathname,
    { keepCase: true, longs: Number },
  );
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    ringfence: { v1: { EventService: grpc.ServiceClientConstructor } };
  };
  return new pkg.ringfence.v1.EventService(
    address,
    grpc.credentials.createInsecure(),
  ) as unknown as ReturnType<typeof grpcClient>;
}
