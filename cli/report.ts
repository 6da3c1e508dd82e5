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
  SuggestionBuilder,
} from "../report/mod.ts";
import { parsePolicy } from "../policy/parse.ts";
import { policyText } from "./policy_source.ts";

/** Options of `ringfence report`. */
export interface ReportOptions {
  /** Markdown, or the report's JSON. */
  format: "md" | "json";
  /** Print a block-mode policy that allows what the events used. */
  suggestPolicy?: boolean;
  /** The audited policy the suggestion keeps the rest of (default: the
   * built-in one). */
  policy?: string;
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
  if (options.policy && !options.suggestPolicy) {
    throw new Error("--policy is read with --suggest-policy only");
  }
  // The audited policy is read, and checked, before the events.
  const audited = options.suggestPolicy
    ? {
      text: await policyText(options.policy),
      name: options.policy ?? "the built-in policy",
    }
    : undefined;
  if (audited) parsePolicy(audited.text, options.policy ?? "built-in policy");
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
  const builder = audited ? new SuggestionBuilder() : new ReportBuilder();
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
  let output: string;
  if (builder instanceof SuggestionBuilder) {
    output = builder.suggest(audited!);
    // What is suggested must be accepted as it is.
    parsePolicy(output, "suggested policy");
  } else if (options.format === "json") {
    output = renderJson(builder.build());
  } else output = renderMarkdown(builder.build());
  if (options.out) await Deno.writeTextFile(options.out, output);
  else console.log(output.replace(/\n$/, ""));
  return 0;
}
