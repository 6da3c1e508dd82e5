/**
 * `ringfence report EVENTS.jsonl`: the job report, or a policy that allows
 * what the events used, from a saved JSON-lines event file.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import {
  renderJson,
  renderMarkdown,
  ReportBuilder,
  suggestPolicy,
} from "../report/mod.ts";
import { parsePolicy } from "../policy/parse.ts";

/** Options of `ringfence report`. */
export interface ReportOptions {
  /** Markdown, or the report's JSON. */
  format: "md" | "json";
  /** Print a block-mode policy that allows what the events used. */
  suggestPolicy?: boolean;
  /** Write here instead of stdout. */
  out?: string;
}

/** `ringfence report EVENTS.jsonl`. */
export async function report(
  file: string,
  options: ReportOptions,
): Promise<number> {
  if (!["md", "json"].includes(options.format)) {
    throw new Error(`--format must be md or json (got ${options.format})`);
  }
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
  const builder = new ReportBuilder();
  let lineNumber = 0;
  for (const line of text.split("\n")) {
    lineNumber++;
    if (!line.trim()) continue;
    let event: RingfenceEvent;
    try {
      event = JSON.parse(line);
    } catch {
      throw new Error(`${file}:${lineNumber}: not a JSON line`);
    }
    if (typeof event !== "object" || event === null || !("type" in event)) {
      throw new Error(`${file}:${lineNumber}: not a ringfence event`);
    }
    builder.add(event);
  }
  const report = builder.build();
  let output: string;
  if (options.suggestPolicy) {
    output = suggestPolicy(report);
    // What is suggested must be accepted as it is.
    parsePolicy(output, "suggested policy");
  } else if (options.format === "json") {
    output = renderJson(report);
  } else output = renderMarkdown(report);
  if (options.out) await Deno.writeTextFile(options.out, output);
  else console.log(output.replace(/\n$/, ""));
  return 0;
}
