/**
 * gRPC: a server-streaming `Events` RPC (exporters/ringfence.proto) served by
 * `@grpc/grpc-js` on loopback by default. With a token, a call without
 * `authorization: Bearer <token>` metadata ends with UNAUTHENTICATED.
 *
 * @module
 */

import * as grpc from "@grpc/grpc-js";
import { fromJSON } from "@grpc/proto-loader";
import protobuf from "protobufjs";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { ListenAddress } from "../policy/schema.ts";
import type { Exporter } from "./exporter.ts";
import { sameSecret } from "./http.ts";
import PROTO from "./ringfence.proto" with { type: "text" };

/** gRPC endpoint settings. */
export interface GrpcOptions {
  listen: ListenAddress;
  token?: string;
  /** Messages buffered per client before that client loses events. */
  clientQueue?: number;
  log?: (message: string) => void;
}

/** The proto's package definition, from the text carried in the module graph. */
export function eventServiceDefinition(): grpc.GrpcObject {
  const json = protobuf.parse(PROTO, { keepCase: true }).root.toJSON();
  return grpc.loadPackageDefinition(
    fromJSON(json, { keepCase: true, longs: Number, defaults: true }),
  );
}

/** The proto file, for clients. */
export const PROTO_TEXT: string = PROTO;

interface Call {
  stream: grpc.ServerWritableStream<{ types?: string[] }, unknown>;
  types: Set<string>;
}

/** Serves `ringfence.v1.EventService/Events`. */
export class GrpcExporter implements Exporter {
  readonly name = "grpc";
  readonly #server = new grpc.Server();
  readonly #calls = new Set<Call>();
  readonly #limit: number;
  #sequence = 0;
  #dropped = 0;
  #port = 0;
  readonly #hostname: string;

  private constructor(options: GrpcOptions) {
    this.#limit = options.clientQueue ?? 10_000;
    this.#hostname = options.listen.hostname;
    const pkg = eventServiceDefinition() as unknown as {
      ringfence: { v1: { EventService: grpc.ServiceClientConstructor } };
    };
    this.#server.addService(pkg.ringfence.v1.EventService.service, {
      Events: (stream: Call["stream"]) => {
        if (options.token !== undefined) {
          const [given] = stream.metadata.get("authorization");
          const match = /^Bearer\s+(.+)$/i.exec(String(given ?? ""));
          if (!match || !sameSecret(match[1].trim(), options.token)) {
            stream.emit("error", {
              code: grpc.status.UNAUTHENTICATED,
              details: "missing or wrong bearer token",
            });
            return;
          }
        }
        const call: Call = { stream, types: new Set(stream.request.types) };
        this.#calls.add(call);
        const forget = () => this.#calls.delete(call);
        stream.on("cancelled", forget);
        stream.on("close", forget);
        stream.on("error", forget);
      },
    });
  }

  /** Binds and starts serving. @throws {Error} when the port is taken. */
  static async start(options: GrpcOptions): Promise<GrpcExporter> {
    const exporter = new GrpcExporter(options);
    const { hostname, port } = options.listen;
    const host = hostname.includes(":") ? `[${hostname}]` : hostname;
    exporter.#port = await new Promise<number>((resolve, reject) =>
      exporter.#server.bindAsync(
        `${host}:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (error, bound) => error ? reject(error) : resolve(bound),
      )
    ).catch((error) => {
      exporter.#server.forceShutdown();
      throw new Error(
        `grpc exporter: cannot listen on ${host}:${port}: ${error.message}`,
      );
    });
    options.log?.(`grpc exporter listening on ${exporter.address}`);
    return exporter;
  }

  /** `host:port` actually bound. */
  get address(): string {
    const host = this.#hostname.includes(":")
      ? `[${this.#hostname}]`
      : this.#hostname;
    return `${host}:${this.#port}`;
  }

  /** Events a slow client lost. */
  get dropped(): number {
    return this.#dropped;
  }

  write(event: RingfenceEvent): void {
    const seq = ++this.#sequence;
    if (!this.#calls.size) return;
    let message: Record<string, unknown> | undefined;
    for (const call of this.#calls) {
      if (call.types.size && !call.types.has(event.type)) continue;
      if (call.stream.writableLength >= this.#limit) {
        this.#dropped++;
        continue;
      }
      message ??= {
        seq,
        type: event.type,
        kind: event.kind,
        time: event.time,
        pid: event.pid,
        ppid: event.ppid,
        uid: event.uid,
        comm: event.comm,
        json: JSON.stringify(event),
      };
      call.stream.write(message);
    }
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    for (const call of this.#calls) call.stream.end();
    this.#calls.clear();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#server.forceShutdown();
        resolve();
      }, 2_000);
      this.#server.tryShutdown(() => {
        clearTimeout(timer);
        resolve();
      });
    });
  }
}
