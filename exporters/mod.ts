/**
 * Builds the exporters a policy names and fans events out to them.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { ExporterConfig } from "../policy/schema.ts";
import type { Exporter } from "./exporter.ts";
import { HttpExporter } from "./http.ts";
import { JsonLinesExporter } from "./jsonl.ts";
import { WebhookExporter } from "./webhook.ts";
import { loadOptionalExporters } from "./optional_loader.ts";

export type { Exporter };

/** Options shared by every exporter. */
export interface OpenOptions {
  /** Where webhook and OTLP spool files go. */
  spoolDir: string;
  /** One line per notable exporter happening (listening, failing, ...). */
  log?: (message: string) => void;
}

/** Opens one exporter. @throws {Error} when it cannot start. */
export async function openExporter(
  config: ExporterConfig,
  options: OpenOptions,
): Promise<Exporter> {
  const { log, spoolDir } = options;
  switch (config.kind) {
    case "jsonl":
      return new JsonLinesExporter(config.path);
    case "webhook":
      return new WebhookExporter({ ...config, spoolDir, log });
    // gRPC and OTLP pull in large libraries: loaded only when configured,
    // so that start-up does not pay for them.
    case "otlp": {
      const { OtlpExporter } = await loadOptionalExporters();
      return new OtlpExporter({ ...config, spoolDir, log });
    }
    case "http":
      return new HttpExporter({ ...config, log });
    case "grpc": {
      const { GrpcExporter } = await loadOptionalExporters();
      return await GrpcExporter.start({ ...config, log });
    }
  }
}

/** Sends every event to several exporters; one failing does not stop the rest. */
export class Fanout implements Exporter {
  readonly name = "fanout";
  readonly exporters: Exporter[];
  #errors = 0;

  constructor(exporters: Exporter[], readonly log?: (m: string) => void) {
    this.exporters = exporters;
  }

  /**
   * Opens every configured exporter; when one fails, those already open are
   * closed and the error is thrown.
   */
  static async open(
    configs: readonly ExporterConfig[],
    options: OpenOptions,
  ): Promise<Fanout> {
    const opened: Exporter[] = [];
    try {
      for (const config of configs) {
        opened.push(await openExporter(config, options));
      }
    } catch (error) {
      await Promise.allSettled(opened.map((exporter) => exporter.close()));
      throw error;
    }
    return new Fanout(opened, options.log);
  }

  write(event: RingfenceEvent): void {
    for (const exporter of this.exporters) {
      try {
        exporter.write(event);
      } catch (error) {
        if (this.#errors++ < 10) {
          this.log?.(`${exporter.name}: ${(error as Error).message}`);
        }
      }
    }
  }

  /** Writes out synchronously what each exporter can (a file's lines). */
  commit(): void {
    for (const exporter of this.exporters) exporter.commit?.();
  }

  async flush(): Promise<void> {
    await Promise.allSettled(
      this.exporters.map((exporter) => exporter.flush()),
    );
  }

  async close(): Promise<void> {
    await Promise.allSettled(
      this.exporters.map((exporter) => exporter.close()),
    );
  }

  /** Events lost per exporter name (only those that lost some). */
  dropped(): Record<string, number> {
    const lost: Record<string, number> = {};
    for (const exporter of this.exporters) {
      const count = (exporter as { dropped?: number }).dropped ?? 0;
      if (count) lost[exporter.name] = (lost[exporter.name] ?? 0) + count;
    }
    if (this.#errors) lost.errors = this.#errors;
    return lost;
  }

  /** Events kept in spool files for the next start. */
  spooled(): number {
    let total = 0;
    for (const exporter of this.exporters) {
      total +=
        (exporter as { queue?: { stats: { spooled: number } } }).queue?.stats
          .spooled ?? 0;
    }
    return total;
  }
}
