/**
 * A policy's text before it is parsed: reading it, and what can be told
 * from it without the YAML parser, which the agent loads only while the
 * kernel verifies its sensors.
 *
 * @module
 */

/** Bytes of a policy file read: a parse stays within seconds. */
export const POLICY_MAX_BYTES = 4 << 20;

/** Characters of a quoted input a message keeps. */
const QUOTE_MAX = 80;
/** Characters of a problem kept: an echoed value must not fill a log. */
const PROBLEM_MAX = 400;
/** A JSON-quoted string in a message. */
const QUOTED = /"(?:[^"\\]|\\.)*"/g;

/**
 * `problem` with each quoted input cut to {@linkcode QUOTE_MAX} characters
 * and the whole to {@linkcode PROBLEM_MAX}.
 */
function shorten(problem: string): string {
  problem = problem.replace(
    QUOTED,
    (quoted) =>
      quoted.length <= QUOTE_MAX
        ? quoted
        : `${quoted.slice(0, QUOTE_MAX - 2)}…" (${
          quoted.length - 2
        } characters)`,
  );
  if (problem.length <= PROBLEM_MAX) return problem;
  const keep = (PROBLEM_MAX - 40) / 2;
  return `${problem.slice(0, keep)}… (${
    problem.length - 2 * keep
  } characters cut) …${problem.slice(-keep)}`;
}

/** A policy that cannot be read or is invalid; `message` is one line. */
export class PolicyError extends Error {
  /** The policy file, as given. */
  readonly file: string;
  /** 1-based line, or null when the file could not be read at all. */
  readonly line: number | null;
  /** 1-based column, or null when the file could not be read at all. */
  readonly column: number | null;

  /**
   * Builds `<file>:<line>:<column>: <problem>`, or `<file>: <problem>`
   * without a position.
   */
  constructor(
    file: string,
    line: number | null,
    column: number | null,
    problem: string,
  ) {
    const where = line === null ? file : `${file}:${line}:${column}`;
    super(`${where}: ${shorten(problem)}`);
    this.name = "PolicyError";
    this.file = file;
    this.line = line;
    this.column = column;
  }
}

/**
 * Reads a policy file's text.
 *
 * @throws {PolicyError} `<path>: cannot read policy: <reason>` when the file
 *   cannot be read or is not UTF-8.
 */
export async function readPolicyText(path: string): Promise<string> {
  const cannotRead = (reason: string) =>
    new PolicyError(path, null, null, `cannot read policy: ${reason}`);
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw cannotRead(readFailure(error));
  }
  if (bytes.length > POLICY_MAX_BYTES) {
    throw new PolicyError(
      path,
      null,
      null,
      `policy is ${bytes.length} bytes; the most accepted is ${POLICY_MAX_BYTES} (4 MiB)`,
    );
  }
  let text: string;
  try {
    // Fatal, so that a stray binary file is refused instead of being
    // parsed with U+FFFD in place of its bytes.
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    throw cannotRead("not valid UTF-8");
  }
  return text;
}

function readFailure(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "is a directory";
  return error instanceof Error ? error.message : String(error);
}
