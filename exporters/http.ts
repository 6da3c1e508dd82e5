/**
 * An HTTP endpoint for live events, on loopback by default:
 *
 * - `GET /events`: the live stream from the moment of the request, as JSON
 *   lines (`application/x-ndjson`), or as server-sent events when the
 *   request accepts `text/event-stream` (`id:` is the event's sequence).
 * - `GET /health`: `{"status":"ok", ...}` with counters.
 *
 * With a token, every request needs `Authorization: Bearer <token>`;
 * otherwise 401. A client that does not keep up loses events (counted),
 * never the agent's time.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { ListenAddress } from "../policy/schema.ts";
import type { Exporter } from "./exporter.ts";

/** HTTP endpoint settings. */
export interface HttpOptions {
  listen: ListenAddress;
  token?: string;
  /** Events queued per client before that client loses events. */
  clientQueue?: number;
  log?: (message: string) => void;
}

interface Client {
  controller: ReadableStreamDefaultController<Uint8Array>;
  sse: boolean;
}

const encoder = new TextEncoder();

/** Constant-time comparison of two strings. */
export function sameSecret(a: string, b: string): boolean {
  const x = encoder.encode(a), y = encoder.encode(b);
  let diff = x.length ^ y.length;
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    diff |= (x[i] ?? 0) ^ (y[i] ?? 0);
  }
  return diff === 0;
}

/** Serves `/events` and `/health`. */
export class HttpExporter implements Exporter {
  readonly name = "http";
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #clients = new Set<Client>();
  readonly #token: string | undefined;
  readonly #limit: number;
  #sequence = 0;
  #dropped = 0;

  /** @throws {Error} when the address cannot be bound. */
  constructor(options: HttpOptions) {
    this.#token = options.token;
    this.#limit = options.clientQueue ?? 10_000;
    try {
      this.#server = Deno.serve({
        hostname: options.listen.hostname,
        port: options.listen.port,
        onListen: () => {},
      }, (request) => this.#handle(request));
    } catch (error) {
      throw new Error(
        `http exporter: cannot listen on ${options.listen.hostname}:${options.listen.port}: ${
          (error as Error).message
        }`,
      );
    }
    options.log?.(`http exporter listening on ${this.address}`);
  }

  /** `host:port` actually bound. */
  get address(): string {
    const { hostname, port } = this.#server.addr;
    return hostname.includes(":")
      ? `[${hostname}]:${port}`
      : `${hostname}:${port}`;
  }

  /** Events a slow client lost. */
  get dropped(): number {
    return this.#dropped;
  }

  write(event: RingfenceEvent): void {
    const seq = ++this.#sequence;
    if (!this.#clients.size) return;
    const json = JSON.stringify(event);
    let ndjson: Uint8Array | undefined, sse: Uint8Array | undefined;
    for (const client of this.#clients) {
      if ((client.controller.desiredSize ?? 0) <= 0) {
        this.#dropped++;
        continue;
      }
      const chunk = client.sse
        ? (sse ??= encoder.encode(`id: ${seq}\ndata: ${json}\n\n`))
        : (ndjson ??= encoder.encode(json + "\n"));
      client.controller.enqueue(chunk);
    }
  }

  flush(): Promise<void> {
    return Promise.resolve();
  }

  async close(): Promise<void> {
    for (const client of this.#clients) {
      try {
        client.controller.close();
      } catch { /* cancelled */ }
    }
    this.#clients.clear();
    await this.#server.shutdown();
  }

  #handle(request: Request): Response {
    if (this.#token !== undefined) {
      const given = request.headers.get("authorization") ?? "";
      const match = /^Bearer\s+(.+)$/i.exec(given);
      if (!match || !sameSecret(match[1].trim(), this.#token)) {
        return new Response("unauthorized\n", {
          status: 401,
          headers: { "www-authenticate": 'Bearer realm="ringfence"' },
        });
      }
    }
    const { pathname } = new URL(request.url);
    if (request.method !== "GET" && request.method !== "HEAD") {
      return new Response("method not allowed\n", {
        status: 405,
        headers: { allow: "GET" },
      });
    }
    if (pathname === "/health") {
      return Response.json({
        status: "ok",
        clients: this.#clients.size,
        events: this.#sequence,
        dropped: this.#dropped,
      });
    }
    if (pathname !== "/events") {
      return new Response("not found\n", { status: 404 });
    }
    const sse = (request.headers.get("accept") ?? "").includes(
      "text/event-stream",
    );
    let client: Client;
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => {
        client = { controller, sse };
        this.#clients.add(client);
        if (sse) controller.enqueue(encoder.encode(": ringfence\n\n"));
      },
      cancel: () => {
        this.#clients.delete(client);
      },
    }, new CountQueuingStrategy({ highWaterMark: this.#limit }));
    request.signal.addEventListener("abort", () => {
      this.#clients.delete(client);
    });
    return new Response(body, {
      headers: {
        "content-type": sse ? "text/event-stream" : "application/x-ndjson",
        "cache-control": "no-store",
      },
    });
  }
}
