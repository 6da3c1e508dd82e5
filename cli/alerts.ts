/**
 * Prints blocks and kills as they happen (report/alerts.ts): one line each
 * on stderr and, under GitHub Actions, one `::error` workflow command each,
 * which the runner turns into an annotation of the job. `ringfence run`
 * prints them from the live agent; `ringfence stop` from the events file
 * of the detached agent, which cannot reach the job's log itself.
 *
 * @module
 */

import { writeAllSync } from "../exporters/jsonl.ts";
import {
  AlertLimiter,
  ANNOTATIONS_MAX,
  classify,
  LINES_MAX,
} from "../report/alerts.ts";
import type { RingfenceEvent } from "../sensors/events.ts";

const encoder = new TextEncoder();

/** Whether this process runs in a GitHub Actions job. */
export function underGitHubActions(): boolean {
  return Deno.env.get("GITHUB_ACTIONS") === "true";
}

/** Where workflow commands go: the runner reads them from both streams. */
export type AnnotationStream = "stdout" | "stderr";

/** Writes each block and kill as it comes, within the limits. */
export class AlertPrinter {
  readonly #limiter: AlertLimiter;
  readonly #annotations: { writeSync(bytes: Uint8Array): number } | undefined;
  readonly #processOf?: (pid: number) => string | undefined;

  /**
   * `annotate` (a stream) makes a workflow command of each alert too;
   * `processOf` names a pid's executable when an event carries none.
   */
  constructor(
    options: {
      annotate?: AnnotationStream;
      processOf?: (pid: number) => string | undefined;
    } = {},
  ) {
    this.#limiter = new AlertLimiter({
      lines: LINES_MAX,
      annotations: options.annotate ? ANNOTATIONS_MAX : 0,
    });
    this.#annotations = options.annotate === "stdout"
      ? Deno.stdout
      : options.annotate === "stderr"
      ? Deno.stderr
      : undefined;
    this.#processOf = options.processOf;
  }

  /** Blocks and kills seen, repeats included. */
  get total(): number {
    return this.#limiter.total;
  }

  /** Prints what `event` is, if it is a block or a kill. */
  write(event: RingfenceEvent): void {
    const alert = classify(event, this.#processOf);
    if (!alert) return;
    const out = this.#limiter.add(alert);
    // Written at once, unbuffered: the line is in the log when the
    // command's next line is.
    try {
      if (out.line) writeAllSync(Deno.stderr, encoder.encode(out.line + "\n"));
      if (out.notice) {
        writeAllSync(Deno.stderr, encoder.encode(out.notice + "\n"));
      }
      if (out.annotation && this.#annotations) {
        writeAllSync(this.#annotations, encoder.encode(out.annotation + "\n"));
      }
    } catch { /* a closed stream: the events file has it all */ }
  }

  /** The repeats, what was held back, and where all of it is. */
  end(where?: string): void {
    for (const line of this.#limiter.endLines(where)) console.error(line);
    const last = this.#limiter.endAnnotation(where);
    if (last && this.#annotations) {
      writeAllSync(this.#annotations, encoder.encode(last + "\n"));
    }
  }
}

/** What a block or kill has in its JSON line (JSON.stringify, no spaces). */
const MAYBE_ALERT =
  /"verdict":"(?:deny|audit)"|"killed":true|"action":"(?:killed|audit)"/;

/** Lines longer than this in an events file are no event of the agent's. */
const LINE_MAX = 1 << 20;

/**
 * Prints the blocks and kills of an events file, streamed (it can be
 * large): lines on stderr and, with `annotate`, workflow commands. A path
 * that is no regular file (a symlink a step left) is not read. Returns
 * the number of blocks and kills, or undefined when the file could not be
 * read.
 */
export async function alertsFromFile(
  path: string,
  annotate?: AnnotationStream,
  skip?: (event: RingfenceEvent) => boolean,
): Promise<number | undefined> {
  try {
    if (!Deno.lstatSync(path).isFile) {
      console.error(
        `ringfence: ${path} is not a regular file: its blocks and kills are not listed here`,
      );
      return undefined;
    }
  } catch {
    return undefined;
  }
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch {
    return undefined;
  }
  const printer = new AlertPrinter({ annotate });
  const decoder = new TextDecoder();
  let pending = "";
  const take = (line: string) => {
    // Most lines are no block or kill: only those that can be are parsed.
    if (line[0] !== "{" || !MAYBE_ALERT.test(line)) return;
    try {
      const event = JSON.parse(line);
      if (
        typeof event === "object" && event !== null && "type" in event &&
        !skip?.(event as RingfenceEvent)
      ) {
        printer.write(event as RingfenceEvent);
      }
    } catch { /* a torn or foreign line */ }
  };
  for await (const chunk of file.readable) {
    pending += decoder.decode(chunk, { stream: true });
    let newline: number;
    while ((newline = pending.indexOf("\n")) !== -1) {
      take(pending.slice(0, newline));
      pending = pending.slice(newline + 1);
    }
    if (pending.length > LINE_MAX) pending = "";
  }
  take(pending + decoder.decode());
  printer.end(path);
  return printer.total;
}
