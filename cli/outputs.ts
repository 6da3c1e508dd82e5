/**
 * Where a running agent's events go: the JSON-lines output (`--output`),
 * the exporters the policy names, and the job report, which aggregates
 * them as they come.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import { ReportBuilder } from "../report/build.ts";
import type { Report, ReportCounters } from "../report/types.ts";
import type { Fanout } from "../exporters/mod.ts";
import type { Exporter } from "../exporters/exporter.ts";
import { JsonLinesExporter } from "../exporters/jsonl.ts";
import type { ExporterConfig } from "../policy/schema.ts";
import { log } from "./command.ts";
import { stateDir } from "./state.ts";

/** The JSON-lines output, the policy's exporters and the report, as one. */
export class Outputs implements Exporter {
  readonly name = "outputs";
  readonly report = new ReportBuilder();
  readonly #jsonl: JsonLinesExporter;
  #fanout: Fanout | undefined;
  /** Exporters the command line adds (the live view), closed with these. */
  readonly #attached: Exporter[] = [];
  /** What the exporters are owed until {@linkcode Outputs.openExporters} ends. */
  #held: RingfenceEvent[] | undefined = [];

  /**
   * Opens `--output` (appending with `append`, else truncated); the
   * policy's exporters follow with
   * {@linkcode Outputs.openExporters}, and get every event written until then.
   */
  constructor(output: string, options: { append?: boolean } = {}) {
    this.#jsonl = new JsonLinesExporter(output, { ...options, log });
  }

  /**
   * Opens the exporters the policy names and hands them the events written
   * so far. When one fails, those already open are closed and the error is
   * thrown.
   */
  async openExporters(
    configs: readonly ExporterConfig[] = [],
    dir: string = stateDir(),
  ): Promise<void> {
    if (configs.length) {
      // Imported only for a policy with exporters: an agent without them
      // never loads their modules.
      const { Fanout } = await import("../exporters/mod.ts");
      const fanout = await Fanout.open(configs, {
        spoolDir: `${dir}/spool`,
        log,
      });
      for (const event of this.#held ?? []) fanout.write(event);
      this.#fanout = fanout;
    }
    this.#held = undefined;
  }

  /** Adds an exporter that gets every event from now on. */
  attach(exporter: Exporter): void {
    this.#attached.push(exporter);
  }

  write(event: RingfenceEvent): void {
    this.#jsonl.write(event);
    // An index loop: for-of allocates an iterator per event.
    const attached = this.#attached;
    for (let index = 0; index < attached.length; index++) {
      attached[index].write(event);
    }
    if (this.#fanout) this.#fanout.write(event);
    else this.#held?.push(event);
    this.report.add(event);
  }

  /**
   * Writes out synchronously the lines of what was written so far: the
   * agent calls it before it gives ring space back to the kernel.
   */
  commit(): void {
    this.#jsonl.commit();
    this.#fanout?.commit();
  }

  async flush(): Promise<void> {
    await this.#jsonl.flush();
    await this.#fanout?.flush();
  }

  async close(): Promise<void> {
    await this.#jsonl.close();
    await this.#fanout?.close();
    for (const exporter of this.#attached) await exporter.close();
  }

  /** Events exporters lost, by exporter. */
  dropped(): Record<string, number> {
    const dropped = { ...this.#fanout?.dropped() };
    if (this.#jsonl.lost) dropped.output = this.#jsonl.lost;
    return dropped;
  }

  /** Extra parts of the summary line: what exporters lost or kept, and the
   * memory access and tampering the guard reported. */
  summaryParts(): string[] {
    const parts = Object.entries(this.dropped()).map(([name, count]) =>
      name === "output"
        ? `${count} not written (--output)`
        : `${count} not exported (${name})`
    );
    const tampering = this.report.tampering;
    if (tampering.events) {
      parts.push(
        `${tampering.events} memory access or tampering (${tampering.killed} killed)`,
      );
    }
    const spooled = this.#fanout?.spooled();
    if (spooled) parts.push(`${spooled} spooled for later`);
    return parts;
  }

  /** The report with the agent's counters. */
  build(counters: ReportCounters): Report {
    return this.report.build({ ...counters, exporterDrops: this.dropped() });
  }
}
