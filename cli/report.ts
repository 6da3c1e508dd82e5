/**
 * `ringfence report EVENTS.jsonl`: the job report, or a policy that allows
 * what the events used, from a saved JSON-lines event file. `--format html`
 * writes the job as one self-contained web page (report/html.ts), the
 * suggested policy in it.
 *
 * @module
 */

import { forEachLine } from "./event_lines.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import {
  renderJson,
  renderMarkdown,
  ReportBuilder,
  SuggestionBuilder,
} from "../report/mod.ts";
import { parsePolicy } from "../policy/parse.ts";
import { policyText } from "./policy_source.ts";
import { JobModel, renderHtml } from "../report/html.ts";

async function sha256(text: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return [...new Uint8Array(digest)].map((byte) =>
    byte.toString(16).padStart(2, "0")
  ).join("");
}

async function writeStdout(text: string): Promise<void> {
  const bytes = new TextEncoder().encode(text);
  for (let written = 0; written < bytes.length;) {
    written += await Deno.stdout.write(bytes.subarray(written));
  }
}

/** Options of `ringfence report`. */
export interface ReportOptions {
  /** Markdown, the report's JSON, or the web page. */
  format: "md" | "json" | "html";
  /** Print a block-mode policy that allows what the events used. */
  suggestPolicy?: boolean;
  /** The audited policy the suggestion keeps the rest of (default: the
   * built-in one); html: also the mode and digest its header shows. */
  policy?: string;
  /** Write here instead of stdout (html: required, `-` for stdout). */
  out?: string;
}

/** `ringfence report EVENTS.jsonl`. */
export async function report(
  file: string,
  options: ReportOptions,
): Promise<number> {
  if (!["md", "json", "html"].includes(options.format)) {
    throw new Error(
      `--format must be md, json or html (got ${options.format})`,
    );
  }
  const html = options.format === "html";
  if (html && !options.out) {
    throw new Error("--format html needs --out FILE (or --out - for stdout)");
  }
  if (options.policy && !options.suggestPolicy && !html) {
    throw new Error("--policy is read with --suggest-policy only");
  }
  // The audited policy is read, and checked, before the events.
  const audited = options.suggestPolicy || html
    ? {
      text: await policyText(options.policy),
      name: options.policy ?? "the built-in policy",
    }
    : undefined;
  const policy = audited &&
    parsePolicy(audited.text, options.policy ?? "built-in policy");
  let input: Deno.FsFile;
  try {
    input = await Deno.open(file);
  } catch (error) {
    throw new Error(`${file}: ${(error as Error).message}`);
  }
  const builder = audited ? new SuggestionBuilder() : new ReportBuilder();
  const job = html
    ? new JobModel(
      options.policy
        ? {
          mode: policy!.mode,
          policy: { path: options.policy, sha256: await sha256(audited!.text) },
        }
        : {},
    )
    : undefined;
  await forEachLine(input, (line, lineNumber) => {
    if (!line.trim()) return;
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
    job?.add(event);
  });
  let output: string;
  if (job) {
    const suggested = (builder as SuggestionBuilder).suggest(audited!);
    parsePolicy(suggested, "suggested policy");
    job.suggestedPolicy = suggested;
    output = renderHtml(job.data(), `ringfence job report: ${file}`);
    if (options.out === "-") await writeStdout(output);
    else await Deno.writeTextFile(options.out!, output);
    return 0;
  } else if (builder instanceof SuggestionBuilder) {
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
