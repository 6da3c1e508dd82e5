/**
 * An HTTP endpoint for live events, on loopback by default:
 *
 * - `GET /events`: the live stream from the moment of the request, as JSON
 *   lines (`application/x-ndjson`), or as server-sent events when the
 *   request accepts `text/event-stream` (`id:` is the event's sequence).
 * - `GET /health`: `{"status":"ok", ...}` with counters.
 * - with `pages`, those paths serve their HTML (the live view's page).
 *
 * With a token, every request but the pages needs `Authorization: Bearer
 * <token>`; otherwise 401. The pages hold no job data: a browser cannot send
 * a header when it loads a page, so the page reads the token from its URL's
 * fragment (never sent to the server) and sends it with its stream request.
 * With `replay`, a client that connects late first gets the events so far
 * (the first and the latest, bounded), then the live ones. A client that does not keep up loses events (counted),
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
  /**
   * Events kept for clients that connect late (0, the default: none). Past
   * this many, the first half and the latest half are kept: the job's
   * start names its processes, the latest are what is happening.
   */
  replay?: number;
  /** HTML served without the token at these paths (`GET`). */
  pages?: Record<string, string>;
  /** What the listening line and bind errors call this server. */
  label?: string;
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
  readonly #pages: Record<string, string>;
  readonly #replay: Replay | undefined;
  #sequence = 0;
  #dropped = 0;

  /** @throws {Error} when the address cannot be bound. */
  constructor(options: HttpOptions) {
    this.#token = options.token;
    this.#limit = options.clientQueue ?? 10_000;
    this.#pages = options.pages ?? {};
    if (options.replay) this.#replay = new Replay(options.replay);
    const label = options.label ?? "http exporter";
    try {
      this.#server = Deno.serve({
        hostname: options.listen.hostname,
        port: options.listen.port,
        onListen: () => {},
      }, (request) => this.#handle(request));
    } catch (error) {
      throw new Error(
        `${label}: cannot listen on ${options.listen.hostname}:${options.listen.port}: ${
          (error as Error).message
        }`,
      );
    }
    options.log?.(`${label} listening on ${this.address}`);
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
    if (!this.#clients.size && !this.#replay) return;
    const json = JSON.stringify(event);
    this.#replay?.add(seq, json);
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

  get #replaySize(): number {
    return this.#replay?.size ?? 0;
  }

  #handle(request: Request): Response {
    const { pathname } = new URL(request.url);
    const html = this.#pages[pathname];
    if (html !== undefined && request.method === "GET") {
      return new Response(html, {
        headers: {
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "referrer-policy": "no-referrer",
        },
      });
    }
    if (pathname !== "/events" && pathname !== "/health") {
      // A browser asks for /favicon.ico on its own, without the token.
      return pathname === "/favicon.ico" && Object.keys(this.#pages).length
        ? new Response(null, { status: 204 })
        : new Response("not found\n", { status: 404 });
    }
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
    const sse = (request.headers.get("accept") ?? "").includes(
      "text/event-stream",
    );
    let client: Client;
    const body = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          client = { controller, sse };
          this.#clients.add(client);
          if (sse) controller.enqueue(encoder.encode(": ringfence\n\n"));
          for (const [seq, json] of this.#replay?.events() ?? []) {
            controller.enqueue(encoder.encode(
              sse ? `id: ${seq}\ndata: ${json}\n\n` : json + "\n",
            ));
          }
        },
        cancel: () => {
          this.#clients.delete(client);
        },
      },
      new CountQueuingStrategy({
        highWaterMark: this.#limit + this.#replaySize,
      }),
    );
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

/**
 * The events kept for late clients: the first `limit / 2` and a ring of the
 * latest `limit / 2`, as `[sequence, JSON]`.
 */
class Replay {
  readonly #head: [number, string][] = [];
  readonly #tail: [number, string][] = [];
  readonly #half: number;
  #next = 0;

  constructor(limit: number) {
    this.#half = Math.max(1, Math.floor(limit / 2));
  }

  get size(): number {
    return this.#head.length + this.#tail.length;
  }

  add(seq: number, json: string): void {
    if (this.#head.length < this.#half) {
      this.#head.push([seq, json]);
    } else if (this.#tail.length < this.#half) {
      this.#tail.push([seq, json]);
    } else {
      this.#tail[this.#next] = [seq, json];
      this.#next = (this.#next + 1) % this.#half;
    }
  }

  /** The kept events in order. */
  events(): [number, string][] {
    return [
      ...this.#head,
      ...this.#tail.slice(this.#next),
      ...this.#tail.slice(0, this.#next),
    ];
  }
}
