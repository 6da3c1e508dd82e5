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
import { forEachLine, openRegular } from "./event_lines.ts";

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

/**
 * The blocks and kills of an events file, a line at a time: `ringfence
 * stop` hands it the lines of its one pass over the file.
 */
export class FileAlerts {
  readonly #printer: AlertPrinter;
  readonly #skip?: (event: RingfenceEvent) => boolean;

  /** `annotate` and `skip` as alertsFromFile() takes them. */
  constructor(
    annotate?: AnnotationStream,
    skip?: (event: RingfenceEvent) => boolean,
  ) {
    this.#printer = new AlertPrinter({ annotate });
    this.#skip = skip;
  }

  /**
   * Whether a line can be a block or kill: most are not, and are not
   * parsed for this.
   */
  static wants(line: string): boolean {
    return line[0] === "{" && MAYBE_ALERT.test(line);
  }

  /** Prints `event` if it is a block or kill (of a line wants() took). */
  add(event: unknown): void {
    if (
      typeof event === "object" && event !== null && "type" in event &&
      !this.#skip?.(event as RingfenceEvent)
    ) {
      this.#printer.write(event as RingfenceEvent);
    }
  }

  /** Prints the repeats; returns the blocks and kills seen. */
  end(path: string): number {
    this.#printer.end(path);
    return this.#printer.total;
  }
}

/** The sentence for an events path that is no regular file. */
export function notRegularFile(path: string): void {
  console.error(
    `ringfence: ${path} is not a regular file: its blocks and kills are not listed here`,
  );
}

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
  const file = await openRegular(path, notRegularFile);
  if (!file) return undefined;
  const alerts = new FileAlerts(annotate, skip);
  await forEachLine(file, (line) => {
    if (!FileAlerts.wants(line)) return;
    try {
      alerts.add(JSON.parse(line));
    } catch { /* a torn or foreign line */ }
  });
  return alerts.end(path);
}
