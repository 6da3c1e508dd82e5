/**
 * Where a running agent's events go: the JSON-lines output (`--output`),
 * the exporters the policy names, and the job report, which aggregates
 * them as they come.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import {
  type Report,
  ReportBuilder,
  type ReportCounters,
} from "../report/mod.ts";
import { Fanout } from "../exporters/mod.ts";
import type { Exporter } from "../exporters/exporter.ts";
import { JsonLinesExporter } from "../exporters/jsonl.ts";
import type { Policy } from "../policy/schema.ts";
import { log } from "./command.ts";
import { stateDir } from "./state.ts";

/** The JSON-lines output, the policy's exporters and the report, as one. */
export class Outputs implements Exporter {
  readonly name = "outputs";
  readonly report = new ReportBuilder();
  readonly #jsonl: JsonLinesExporter;
  readonly #fanout: Fanout;

  private constructor(jsonl: JsonLinesExporter, fanout: Fanout) {
    this.#jsonl = jsonl;
    this.#fanout = fanout;
  }

  /** Opens `--output` and every exporter of the policy. */
  static async open(
    policy: Policy,
    output: string,
    dir: string = stateDir(),
  ): Promise<Outputs> {
    const jsonl = new JsonLinesExporter(output);
    try {
      const fanout = await Fanout.open(policy.exporters ?? [], {
        spoolDir: `${dir}/spool`,
        log,
      });
      return new Outputs(jsonl, fanout);
    } catch (error) {
      await jsonl.close();
      throw error;
    }
  }

  write(event: RingfenceEvent): void {
    this.#jsonl.write(event);
    this.#fanout.write(event);
    this.report.add(event);
  }

  async flush(): Promise<void> {
    await this.#jsonl.flush();
    await this.#fanout.flush();
  }

  async close(): Promise<void> {
    await this.#jsonl.close();
    await this.#fanout.close();
  }

  /** Events exporters lost, by exporter. */
  dropped(): Record<string, number> {
    return this.#fanout.dropped();
  }

  /** Extra parts of the summary line: what exporters lost or kept. */
  summaryParts(): string[] {
    const parts = Object.entries(this.dropped()).map(([name, count]) =>
      `${count} not exported (${name})`
    );
    const spooled = this.#fanout.spooled();
    if (spooled) parts.push(`${spooled} spooled for later`);
    return parts;
  }

  /** The report with the agent's counters. */
  build(counters: ReportCounters): Report {
    return this.report.build({ ...counters, exporterDrops: this.dropped() });
  }
}
