/**
 * What the CLI does around the agent for integrations: opens the policy's
 * exporters next to the JSON-lines output, aggregates the job report,
 * publishes it (GitHub step summary, a file, a commit comment), and the
 * `stop` and `report` commands.
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { ProtectedChange } from "../agent/tamper.ts";
import {
  renderMarkdown,
  type Report,
  ReportBuilder,
  type ReportCounters,
  suggestPolicy,
} from "../report/mod.ts";
import { Fanout } from "../exporters/mod.ts";
import type { Exporter } from "../exporters/exporter.ts";
import { JsonLinesExporter } from "../exporters/jsonl.ts";
import { stateDir } from "./state_dir.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { Policy } from "../policy/schema.ts";

export { stateDir };

const log = (message: string) => console.error(`ringfence: ${message}`);

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

/** How a report is published. */
export interface PublishOptions {
  /** Write the markdown here (besides $GITHUB_STEP_SUMMARY). */
  report?: string;
  /** Post it as a commit comment (needs GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_SHA). */
  commitComment?: boolean;
  /** Print it on stdout when it goes nowhere else. */
  printIfNowhere?: boolean;
}

/**
 * Appends the markdown to $GITHUB_STEP_SUMMARY when set, writes it to
 * `report`, posts it as a commit comment when asked. Failures are reported
 * on stderr, never thrown: the job's result must not depend on them.
 */
export async function publishReport(
  markdown: string,
  options: PublishOptions,
): Promise<void> {
  const summary = Deno.env.get("GITHUB_STEP_SUMMARY");
  if (summary) {
    try {
      await Deno.writeTextFile(summary, markdown + "\n", { append: true });
    } catch (error) {
      log(`cannot write $GITHUB_STEP_SUMMARY: ${(error as Error).message}`);
    }
  }
  if (options.report) {
    try {
      await Deno.writeTextFile(options.report, markdown);
    } catch (error) {
      log(`cannot write ${options.report}: ${(error as Error).message}`);
    }
  }
  if (!summary && !options.report && options.printIfNowhere) {
    console.log(markdown);
  }
  if (options.commitComment) await postCommitComment(markdown);
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

/** Files `ringfence start` keeps in its state directory. */
export function stateFiles(dir: string = stateDir()) {
  return {
    pid: `${dir}/ringfence.pid`,
    report: `${dir}/report.md`,
    json: `${dir}/report.json`,
  };
}

/** `start`: records the pid so that `ringfence stop` finds the agent. */
export function writePidFile(dir: string): void {
  try {
    // Synchronous: Deno's first asynchronous text write loads its streams
    // (about 3 ms, on the way from armed to ready).
    Deno.mkdirSync(dir, { recursive: true });
    Deno.writeTextFileSync(stateFiles(dir).pid, `${Deno.pid}\n`);
  } catch (error) {
    log(
      `cannot write ${
        stateFiles(dir).pid
      } (ringfence stop will not find this agent): ${(error as Error).message}`,
    );
  }
}

/** `start` at stop: saves the report for `ringfence stop` to publish. */
export async function saveReport(dir: string, report: Report): Promise<void> {
  const files = stateFiles(dir);
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(files.report, renderMarkdown(report));
    await Deno.writeTextFile(files.json, JSON.stringify(report, null, 2));
  } catch (error) {
    log(`cannot save the report: ${(error as Error).message}`);
  }
  await Deno.remove(files.pid).catch(() => {});
}

function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(
      stat.lastIndexOf(")") + 2,
      stat.lastIndexOf(")") + 3,
    );
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/** Options of `ringfence stop`. */
export interface StopOptions extends PublishOptions {
  stateDir?: string;
  pidFile?: string;
  /** Seconds to wait for the agent after SIGTERM. */
  timeout: string;
}

/**
 * `ringfence stop`: SIGTERM to the agent of the pid file, waits until it has
 * gone (its report is then saved), and publishes the report.
 */
export async function stopAgent(options: StopOptions): Promise<number> {
  const dir = options.stateDir ?? stateDir();
  const files = stateFiles(dir);
  const pidFile = options.pidFile ?? files.pid;
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile)).trim().split("\n")[0]);
  } catch {
    throw new Error(`no agent to stop: ${pidFile} does not exist`);
  }
  if (!Number.isInteger(pid) || pid <= 1) {
    throw new Error(`${pidFile} does not hold a pid`);
  }
  const comm = (() => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll(
        "\0",
        " ",
      );
    } catch {
      return "";
    }
  })();
  if (!alive(pid)) {
    log(`the agent (pid ${pid}) is not running`);
  } else if (!/ringfence|main\.ts|deno/.test(comm)) {
    throw new Error(
      `pid ${pid} from ${pidFile} is not a ringfence agent (${comm.trim()})`,
    );
  } else {
    Deno.kill(pid, "SIGTERM");
    const seconds = Number(options.timeout);
    const deadline = Date.now() + (seconds > 0 ? seconds : 30) * 1000;
    while (alive(pid) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (alive(pid)) {
      throw new Error(
        `the agent (pid ${pid}) did not stop within ${options.timeout}s`,
      );
    }
  }
  let markdown: string;
  try {
    markdown = await Deno.readTextFile(files.report);
  } catch {
    log(`no report in ${files.report}`);
    return 1;
  }
  await publishReport(markdown, { ...options, printIfNowhere: true });
  return 0;
}

/** Options of `ringfence report`. */
export interface ReportOptions {
  format: string;
  suggestPolicy?: boolean;
  out?: string;
}

/** `ringfence report EVENTS.jsonl`. */
export async function reportCommand(
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
    output = JSON.stringify(report, null, 2) + "\n";
  } else output = renderMarkdown(report);
  if (options.out) await Deno.writeTextFile(options.out, output);
  else console.log(output.replace(/\n$/, ""));
  return 0;
}

/** The report of a finished agent, from its counters. */
export function finalReport(
  outputs: Outputs,
  stats: { drops: number; scopeFull: number },
  protectedChanges: ProtectedChange[] = [],
): Report {
  return outputs.build({
    kernelDrops: stats.drops,
    scopeFull: stats.scopeFull,
    protectedChanges,
  });
}

/** `start` at stop: the report to the state directory and `--report`. */
export async function finishStart(
  report: Report,
  options: { stateDir?: string; report?: string },
): Promise<void> {
  await saveReport(options.stateDir ?? stateDir(), report);
  if (options.report) {
    await Deno.writeTextFile(options.report, renderMarkdown(report)).catch(
      (error) => log(`cannot write ${options.report}: ${error.message}`),
    );
  }
}
