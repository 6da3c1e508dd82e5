/**
 * Webhook: POSTs events in batches as JSON lines
 * (`Content-Type: application/x-ndjson`), in order. A 2xx answer delivers
 * the batch; network errors, timeouts, 408, 429 and 5xx are retried with
 * backoff (the batch and everything after it are kept, in memory and then
 * in the spool file); another 4xx drops the batch and counts it.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import {
  DeliveryQueue,
  PermanentError,
  QueuedExporter,
  spoolName,
} from "./queue.ts";

/** Webhook settings (`exporters: - webhook: {...}`). */
export interface WebhookOptions {
  url: string;
  headers?: Record<string, string>;
  batch?: number;
  queue?: number;
  /** Seconds per request. */
  timeout?: number;
  /** Directory for the spool file. */
  spoolDir: string;
  log?: (message: string) => void;
}

/** Sends a batch; throws PermanentError or a retryable Error. */
export async function postBatch(
  url: string,
  body: string | Uint8Array<ArrayBuffer>,
  headers: Record<string, string>,
  timeoutSeconds: number,
): Promise<void> {
  let response: Response;
  try {
    response = await fetch(url, {
      method: "POST",
      headers,
      body,
      signal: AbortSignal.timeout(timeoutSeconds * 1000),
    });
  } catch (error) {
    throw new Error(`POST ${url}: ${(error as Error).message}`);
  }
  await response.body?.cancel();
  if (response.ok) return;
  const { status } = response;
  const reason = `POST ${url}: HTTP ${status}`;
  if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
    throw new PermanentError(reason);
  }
  throw new Error(reason);
}

/** Posts events to a URL. */
export class WebhookExporter extends QueuedExporter {
  readonly name = "webhook";
  readonly queue: DeliveryQueue;
  #sequence = 0;
  /** This exporter's run: with `seq`, unique across restarts. */
  readonly run: string = runId();

  constructor(options: WebhookOptions) {
    super();
    const headers = {
      "content-type": "application/x-ndjson",
      "user-agent": "ringfence",
      ...options.headers,
    };
    const timeout = options.timeout ?? 10;
    this.queue = new DeliveryQueue({
      label: `webhook ${new URL(options.url).origin}`,
      batch: options.batch ?? 100,
      memory: options.queue ?? 10_000,
      spoolFile: `${options.spoolDir}/${spoolName("webhook", options.url)}`,
      send: (lines) =>
        postBatch(
          options.url,
          lines.join("\n") + "\n",
          {
            ...headers,
            // Receivers can drop a batch they have seen (a retry after a
            // lost answer, or a resend after a restart) by the run and
            // sequence of its first event.
            ...firstOf(lines[0]),
          },
          timeout,
        ),
      log: options.log,
    });
  }

  write(event: RingfenceEvent): void {
    // `run` and `seq` number events per exporter start so a receiver can
    // check order and drop duplicates; they are added to the copy sent,
    // not to the event.
    const line = JSON.stringify(event);
    this.queue.push(
      `{"run":"${this.run}","seq":${++this.#sequence},${line.slice(1)}`,
    );
  }
}

/** 16 hex digits, random: a new one each time an exporter starts. */
function runId(): string {
  return Array.from(
    crypto.getRandomValues(new Uint8Array(8)),
    (byte) => byte.toString(16).padStart(2, "0"),
  ).join("");
}

/** The `X-Ringfence-Run` and `X-Ringfence-First-Seq` of a batch. */
function firstOf(line: string): Record<string, string> {
  const { run, seq } = JSON.parse(line) as { run?: string; seq?: number };
  return {
    "x-ringfence-run": String(run ?? ""),
    "x-ringfence-first-seq": String(seq ?? ""),
  };
}
