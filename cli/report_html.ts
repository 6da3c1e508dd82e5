/**
 * `report.html` beside `report.md` in the state directory at `ringfence
 * stop`: the job as one self-contained web page (report/html.ts), built
 * from the events file, for the Action's and the hooks' artifact.
 *
 * @module
 */

import type { JobModel } from "../report/html.ts";
import type { ReportHeader } from "../report/types.ts";
import { log } from "./command.ts";

/** The page being built from the events of `stop`'s pass over the file. */
export class HtmlReport {
  readonly #job: JobModel;
  readonly #render: (job: JobModel) => string;

  private constructor(job: JobModel, render: (job: JobModel) => string) {
    this.#job = job;
    this.#render = render;
  }

  /** A page for a job with `header` (the page's code is imported now). */
  static async create(header?: ReportHeader): Promise<HtmlReport> {
    const { JobModel, renderHtml } = await import("../report/html.ts");
    return new HtmlReport(
      new JobModel({
        mode: header?.mode,
        policy: header?.policy,
        version: header?.version,
      }),
      (job) => renderHtml(job.data(), "ringfence job report"),
    );
  }

  /** One parsed line of the events file. */
  add(event: unknown): void {
    if (typeof event === "object" && event !== null && "type" in event) {
      this.#job.add(event as Parameters<JobModel["add"]>[0]);
    }
  }

  /** Writes the page to `out`, a fresh file: a name a step left is not followed. */
  write(out: string): void {
    try {
      try {
        Deno.removeSync(out);
      } catch { /* absent */ }
      Deno.writeTextFileSync(out, this.#render(this.#job), { createNew: true });
    } catch (error) {
      log(`cannot write ${out}: ${(error as Error).message}`);
    }
  }
}
