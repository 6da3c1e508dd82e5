/**
 * Path globs of the `files` section, and the literal part of each.
 *
 * - `*` matches any characters within one path segment, `?` one character.
 * - `**` as a whole segment matches any number of segments: zero in the
 *   middle or at the start (`/a/**\/b` matches `/a/b`, `**\/x` matches
 *   `/x`), at least one at the end (`/a/**` matches what is under `/a`,
 *   not `/a` itself).
 * - A pattern is absolute (`/...`) or starts with `**`; everything else is
 *   literal. Paths are matched after lexical normalisation.
 *
 * Each pattern also names its {@linkcode Literal} part, what a filter can
 * test without a glob engine: the whole path, the literal directories it
 * starts with, or, for `**\/.../name`, the last segment. sensor.file-system
 * filters on it in the kernel; {@linkcode Glob.matches} is the final word.
 *
 * @module
 */

/** A pattern that cannot be compiled; `message` is a short reason. */
export class GlobError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "GlobError";
  }
}

/**
 * The literal part of a pattern. `exact`: every path the literal part
 * admits matches the pattern, so a filter on it needs no second look.
 */
export type Literal =
  /** The pattern is this one path. */
  | { kind: "path"; path: string }
  /** Paths under the directory `prefix` (it ends in "/"); exact for `/dir/**`. */
  | { kind: "prefix"; prefix: string; exact: boolean }
  /** Paths whose last segment is `name`; exact for `**\/name`. */
  | { kind: "name"; name: string; exact: boolean }
  /** Nothing literal: any path may match. */
  | { kind: "none" };

/** A compiled pattern. */
export interface Glob {
  /** The pattern as given (after `${VAR}` expansion). */
  readonly text: string;
  /** Whether a normalised absolute path matches. */
  matches(path: string): boolean;
  /** The pattern's literal part. */
  readonly literal: Literal;
}

const WILD = /[*?]/;

function segmentSource(segment: string): string {
  let source = "";
  for (const char of segment) {
    if (char === "*") source += "[^/]*";
    else if (char === "?") source += "[^/]";
    else source += char.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return source;
}

/**
 * Compiles `pattern`.
 *
 * @throws {GlobError} for a relative pattern, an empty segment, a `.` or
 *   `..` segment, a NUL, or `**` inside a segment.
 */
export function compileGlob(pattern: string): Glob {
  if (pattern === "") throw new GlobError("empty pattern");
  if (!pattern.startsWith("/") && !pattern.startsWith("**")) {
    throw new GlobError('a pattern starts with "/" or "**"');
  }
  const absolute = pattern.startsWith("/") ? pattern : `/${pattern}`;
  const segments = absolute.slice(1).split("/");
  if (segments.some((segment) => segment === "")) {
    throw new GlobError(
      absolute.endsWith("/")
        ? "a pattern must not end with /"
        : "empty path segment (//)",
    );
  }
  const odd = segments.find((segment) =>
    segment === "." || segment === ".." || segment.includes("\0")
  );
  if (odd !== undefined) {
    // Paths are matched after normalisation, so such a pattern never
    // matches: refusing it keeps a protect rule from failing open.
    throw new GlobError(
      odd.includes("\0")
        ? "a pattern must not contain NUL"
        : `${JSON.stringify(odd)} segment: write the path without it${
          suggestion(segments)
        }`,
    );
  }
  if (segments.some((segment) => segment.includes("**") && segment !== "**")) {
    throw new GlobError('"**" must be a whole path segment');
  }
  let source = "^";
  segments.forEach((segment, index) => {
    if (segment !== "**") source += "/" + segmentSource(segment);
    else if (index === segments.length - 1) source += "(?:/[^/]+)+";
    else source += "(?:/[^/]+)*";
  });
  const regexp = new RegExp(source + "$", "u");
  return {
    text: pattern,
    matches: (path) => regexp.test(path),
    literal: literalPart(segments),
  };
}

/** `(did you mean "/a/b"?)` for segments with "." and "..", or "". */
function suggestion(segments: readonly string[]): string {
  const out: string[] = [];
  for (const segment of segments) {
    if (segment === "..") {
      if (!out.length || out[out.length - 1] === "**") return "";
      out.pop();
    } else if (segment !== ".") out.push(segment);
  }
  return ` (did you mean ${JSON.stringify("/" + out.join("/"))}?)`;
}

function literalPart(segments: string[]): Literal {
  const firstWild = segments.findIndex((segment) => WILD.test(segment));
  if (firstWild === -1) return { kind: "path", path: "/" + segments.join("/") };
  if (firstWild > 0) {
    return {
      kind: "prefix",
      prefix: "/" + segments.slice(0, firstWild).join("/") + "/",
      exact: firstWild === segments.length - 1 && segments[firstWild] === "**",
    };
  }
  const last = segments[segments.length - 1];
  if (segments[0] === "**" && !WILD.test(last)) {
    return { kind: "name", name: last, exact: segments.length === 2 };
  }
  return { kind: "none" };
}
