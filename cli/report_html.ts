/**
 * `report.html` beside `report.md` in the state directory at `ringfence
 * stop`: the job as one self-contained web page (report/html.ts), built
 * from the events file, for the Action's and the hooks' artifact.
 *
 * @module
 */

import type { ReportHeader } from "../report/types.ts";
import { log } from "./command.ts";

/**
 * Writes `out` from the JSON-lines `events` (a fresh file: a name a step
 * left is not followed). A line that is not JSON is left out: the file of
 * an agent that was killed may end mid-line.
 */
export async function writeHtmlReport(
  events: string,
  out: string,
  header?: ReportHeader,
): Promise<void> {
  try {
    const { JobModel, renderHtml } = await import("../report/html.ts");
    const job = new JobModel({
      mode: header?.mode,
      policy: header?.policy,
      version: header?.version,
    });
    const text = await Deno.readTextFile(events);
    for (const line of text.split("\n")) {
      if (!line.trim()) continue;
      try {
        job.add(JSON.parse(line));
      } catch { /* a cut line */ }
    }
    try {
      Deno.removeSync(out);
    } catch { /* absent */ }
    Deno.writeTextFileSync(
      out,
      renderHtml(job.data(), "ringfence job report"),
      {
        createNew: true,
      },
    );
  } catch (error) {
    log(`cannot write ${out}: ${(error as Error).message}`);
  }
}
