/**
 * Path globs of the `files` section, and what the kernel can do with each.
 *
 * - `*` matches any characters within one path segment, `?` one character.
 * - `**` as a whole segment matches any number of segments: zero in the
 *   middle or at the start (`/a/**\/b` matches `/a/b`, `**\/x` matches
 *   `/x`), at least one at the end (`/a/**` matches what is under `/a`,
 *   not `/a` itself).
 * - A pattern is absolute (`/...`) or starts with `**`; everything else is
 *   literal. Paths are matched after lexical normalisation.
 *
 * The kernel filters on what can be told without a glob engine (see
 * bpf/sensor.file-system.bpf.c): the literal prefix of a pattern (an LPM
 * trie) or, for `**\/.../name`, the literal last segment. The user-space
 * match here is the final word, except where {@linkcode KernelPlan.exact}
 * says the kernel's own match is already exact.
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

/** How the kernel narrows the paths a pattern may match. */
export type KernelPlan =
  /** Paths starting with `prefix` (a literal path ends in "\0"). */
  | { kind: "prefix"; prefix: string; exact: boolean }
  /** Paths whose last segment is `name`. */
  | { kind: "name"; name: string; exact: boolean }
  /** No literal part the kernel can use: every path is sent. */
  | { kind: "all"; exact: false };

/** A compiled pattern. */
export interface Glob {
  /** The pattern as given (after `${VAR}` expansion). */
  readonly text: string;
  /** Whether a normalised absolute path matches. */
  matches(path: string): boolean;
  /** The kernel's share of the match. */
  readonly kernel: KernelPlan;
}

/** Bytes of a prefix the kernel's LPM trie compares. */
export const KERNEL_PREFIX_MAX = 256;
/** Bytes of a name the kernel's name map holds, with its NUL. */
export const KERNEL_NAME_MAX = 64;

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
 * @throws {GlobError} for a relative pattern, an empty segment, or `**`
 *   inside a segment.
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
    kernel: kernelPlan(segments),
  };
}

function kernelPlan(segments: string[]): KernelPlan {
  const firstWild = segments.findIndex((segment) => WILD.test(segment));
  const encoder = new TextEncoder();
  if (firstWild === -1) {
    const path = "/" + segments.join("/") + "\0";
    return encoder.encode(path).length <= KERNEL_PREFIX_MAX
      ? { kind: "prefix", prefix: path, exact: true }
      : { kind: "prefix", prefix: cut(path, KERNEL_PREFIX_MAX), exact: false };
  }
  if (firstWild > 0) {
    const prefix = "/" + segments.slice(0, firstWild).join("/") + "/";
    const exact = firstWild === segments.length - 1 &&
      segments[firstWild] === "**";
    return encoder.encode(prefix).length <= KERNEL_PREFIX_MAX
      ? { kind: "prefix", prefix, exact }
      : {
        kind: "prefix",
        prefix: cut(prefix, KERNEL_PREFIX_MAX),
        exact: false,
      };
  }
  const last = segments[segments.length - 1];
  if (
    segments[0] === "**" && !WILD.test(last) &&
    encoder.encode(last).length < KERNEL_NAME_MAX
  ) {
    return { kind: "name", name: last, exact: segments.length === 2 };
  }
  return { kind: "all", exact: false };
}

/** The longest prefix of `text` of at most `bytes` UTF-8 bytes. */
function cut(text: string, bytes: number): string {
  const encoded = new TextEncoder().encode(text);
  if (encoded.length <= bytes) return text;
  let end = bytes;
  // Back off to a character boundary.
  while (end > 0 && (encoded[end] & 0xc0) === 0x80) end--;
  return new TextDecoder().decode(encoded.subarray(0, end));
}

/**
 * Lexical normalisation of an absolute path: `//` and `.` dropped, `..`
 * takes one segment off (never above `/`). Symlinks are not followed.
 */
export function normalizePath(path: string): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") out.pop();
    else out.push(segment);
  }
  return "/" + out.join("/");
}
