/**
 * Where a finished agent's markdown report goes: $GITHUB_STEP_SUMMARY (the
 * job summary of GitHub Actions), a file, a commit comment, or stdout.
 * Failures are reported on stderr, never thrown: the job's result must not
 * depend on them.
 *
 * @module
 */

import { log } from "./command.ts";

/** The flags of `run` and `stop` that say where the report goes. */
export interface PublishFlags {
  /** Write the markdown here (besides $GITHUB_STEP_SUMMARY). */
  report?: string;
  /** Post it as a commit comment (needs GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_SHA). */
  commitComment?: boolean;
}

/** How a report is published. */
export interface PublishOptions extends PublishFlags {
  /** Print it on stdout when it goes nowhere else. */
  printIfNowhere?: boolean;
}

/**
 * The most a step's summary file may hold: the runner drops a larger one
 * whole ("$GITHUB_STEP_SUMMARY upload aborted"), so that a job summary
 * would show nothing of the report.
 */
export const STEP_SUMMARY_MAX = 1024 * 1024;

/**
 * The markdown cut to fit `room` bytes of a step summary, with a note
 * saying where the whole report is; the markdown itself when it fits.
 */
export function fitSummary(
  markdown: string,
  room: number,
  whole = "report.md in the state directory",
): string {
  const bytes = new TextEncoder().encode(markdown);
  if (bytes.length <= room) return markdown;
  const note =
    `\n\n… the report is cut here: the job summary holds at most 1 MiB; the whole report is ${whole}\n`;
  const keep = Math.max(0, room - new TextEncoder().encode(note).length - 8);
  // Whole lines, and a code block left open is closed.
  let head = new TextDecoder().decode(bytes.slice(0, keep));
  head = head.slice(0, Math.max(0, head.lastIndexOf("\n")));
  const fences = head.match(/^```/gm)?.length ?? 0;
  return head + (fences % 2 ? "\n```" : "") + note;
}

/**
 * Appends the markdown to $GITHUB_STEP_SUMMARY when set (cut to what the
 * runner accepts), writes it to `report`, posts it as a commit comment
 * when asked.
 */
export async function publishReport(
  markdown: string,
  options: PublishOptions,
): Promise<void> {
  const summary = Deno.env.get("GITHUB_STEP_SUMMARY");
  if (summary) {
    try {
      let used = 0;
      try {
        used = (await Deno.stat(summary)).size;
      } catch { /* a new file */ }
      const text = fitSummary(markdown, STEP_SUMMARY_MAX - used - 1);
      if (text !== markdown) {
        log(
          `the report (${markdown.length} characters) is cut to fit the job summary's 1 MiB`,
        );
      }
      await Deno.writeTextFile(summary, text + "\n", { append: true });
    } catch (error) {
      log(`cannot write $GITHUB_STEP_SUMMARY: ${(error as Error).message}`);
    }
  }
  if (options.report) await writeReport(options.report, markdown);
  if (!summary && !options.report && options.printIfNowhere) {
    console.log(markdown);
  }
  if (options.commitComment) await postCommitComment(markdown);
}

/** Writes the markdown report to `path`. */
export async function writeReport(
  path: string,
  markdown: string,
): Promise<void> {
  try {
    await Deno.writeTextFile(path, markdown);
  } catch (error) {
    log(`cannot write ${path}: ${(error as Error).message}`);
  }
}

/** GitHub's limit on a comment body. */
const MAX_COMMENT = 65_000;

/**
 * POST /repos/{owner}/{repo}/commits/{sha}/comments on GITHUB_API_URL
 * (default https://api.github.com). Returns whether it was posted.
 */
export async function postCommitComment(markdown: string): Promise<boolean> {
  const env = (name: string) => Deno.env.get(name) ?? "";
  const token = env("GITHUB_TOKEN"), repository = env("GITHUB_REPOSITORY");
  const sha = env("GITHUB_SHA");
  const missing = [
    ["GITHUB_TOKEN", token],
    ["GITHUB_REPOSITORY", repository],
    ["GITHUB_SHA", sha],
  ].filter(([, value]) => !value).map(([name]) => name);
  if (missing.length) {
    log(`no commit comment: ${missing.join(", ")} not set`);
    return false;
  }
  if (
    !/^[\w.-]+\/[\w.-]+$/.test(repository) || !/^[0-9a-f]{7,64}$/i.test(sha)
  ) {
    log("no commit comment: GITHUB_REPOSITORY or GITHUB_SHA is malformed");
    return false;
  }
  const api = (env("GITHUB_API_URL") || "https://api.github.com").replace(
    /\/+$/,
    "",
  );
  const body = markdown.length > MAX_COMMENT
    ? markdown.slice(0, MAX_COMMENT) + "\n\n… (truncated)"
    : markdown;
  try {
    const response = await fetch(
      `${api}/repos/${repository}/commits/${sha}/comments`,
      {
        method: "POST",
        headers: {
          authorization: `Bearer ${token}`,
          accept: "application/vnd.github+json",
          "x-github-api-version": "2022-11-28",
          "content-type": "application/json",
          "user-agent": "ringfence",
        },
        body: JSON.stringify({ body }),
        signal: AbortSignal.timeout(15_000),
      },
    );
    const text = await response.text();
    if (!response.ok) {
      log(
        `commit comment failed: HTTP ${response.status} ${text.slice(0, 200)}`,
      );
      return false;
    }
    return true;
  } catch (error) {
    log(`commit comment failed: ${(error as Error).message}`);
    return false;
  }
}
