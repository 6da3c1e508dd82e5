/**
 * The YAML side of reading a policy: parsing the document and walking its
 * nodes, with every error placed at the file, line and column of the node
 * at fault, because a policy that is silently misread is worse than none.
 * The section parsers (policy/sections.ts, policy/exporters.ts) say what
 * each key means; this module says where a problem is.
 *
 * @module
 */

import {
  type Alias,
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
  visit,
} from "./yaml.ts";
import { EnvError, expandEnv } from "./env.ts";
import { PolicyError } from "./source.ts";

/** A parsed policy document and what placing an error in it needs. */
export interface Context {
  /** The file name messages start with. */
  file: string;
  /** The YAML source, to place `${VAR}` errors at the variable. */
  text: string;
  lines: LineCounter;
  doc: Document;
  /** Each alias's anchored node, found in one walk of the document. */
  aliases?: Map<Alias, Node | undefined>;
}

/** A mapping entry: the key node (for positions) and its value. */
export interface Field {
  key: Node;
  value: Node | null;
}

/**
 * Parses `text` as one YAML document.
 *
 * @throws {PolicyError} `invalid YAML: <reason>` at the yaml library's
 *   position.
 */
export function openDocument(text: string, file: string): Context {
  const lines = new LineCounter();
  // Keys are checked for duplicates where a mapping is read (fieldsOf):
  // the library's own check compares each key with all before it.
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: false });
  const [error] = doc.errors;
  if (error) {
    const { line, col } = error.linePos?.[0] ?? lines.linePos(error.pos[0]);
    throw new PolicyError(
      file,
      line,
      col,
      `invalid YAML: ${yamlReason(error)}`,
    );
  }
  const ctx: Context = { file, text, lines, doc, aliases: anchorsOf(doc) };
  if (ctx.aliases!.size > ALIASES_MAX) {
    fail(
      ctx,
      [...ctx.aliases!.keys()][ALIASES_MAX],
      `more than ${ALIASES_MAX} aliases in one policy`,
    );
  }
  return ctx;
}

/** Aliases a policy may use: enough for any sane one, few enough to walk. */
const ALIASES_MAX = 1000;

/** The yaml library's reason, without its own position and excerpt. */
function yamlReason(error: Error): string {
  const [first] = error.message.split("\n");
  return first.replace(/ at line \d+, column \d+:?$/, "");
}

/** Throws a {@linkcode PolicyError} at `node`. */
export function fail(ctx: Context, node: Node, problem: string): never {
  const { line, col } = ctx.lines.linePos(node.range?.[0] ?? 0);
  throw new PolicyError(ctx.file, line, col, problem);
}

/** Follows `*alias` references to the anchored node. */
export function resolve(ctx: Context, node: unknown): Node | null {
  if (!isAlias(node)) return (node as Node | null | undefined) ?? null;
  // The library's own resolve() walks the whole document for each alias:
  // thousands of aliases would stall the agent's reload.
  ctx.aliases ??= anchorsOf(ctx.doc);
  const target = ctx.aliases.get(node);
  // The yaml library only notices a dangling alias when converting to JS.
  if (!target) fail(ctx, node, `alias "*${node.source}" has no anchor`);
  return target;
}

/** Every alias of `doc` and the node it names: the last anchor before it. */
function anchorsOf(doc: Document): Map<Alias, Node | undefined> {
  const last = new Map<string, Node>();
  const aliases = new Map<Alias, Node | undefined>();
  visit(doc, {
    Node: (_key, node) => {
      if (isAlias(node)) aliases.set(node, last.get(node.source));
      else if (node.anchor) last.set(node.anchor, node);
    },
  });
  return aliases;
}

/** An empty value has no text of its own, so errors point at its key. */
export function blame(field: Field): Node {
  const { value } = field;
  return value === null || isEmpty(value) ? field.key : value;
}

/** A key with nothing after it (`key:`), as opposed to `~` or `null`. */
export function isEmpty(node: Node): boolean {
  return isScalar(node) && node.value === null && node.source === "";
}

/** What a node is, for "must be X (got Y)" messages. */
export function describe(node: Node | null): string {
  if (node === null || isEmpty(node)) return "an empty value";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    if (node.value === null) return "null";
    if (typeof node.value === "string") return "a string";
    if (typeof node.value === "number") return "a number";
    if (typeof node.value === "boolean") return "a boolean";
  }
  return "something else";
}

/** `policy` is the document itself; everything else is a quoted path. */
function subject(path: string): string {
  return path === "policy" ? "policy" : `"${path}"`;
}

/** The entries of a mapping by key; `at` is blamed if it is not one. */
export function fieldsOf(
  ctx: Context,
  node: Node | null,
  at: Node,
  path: string,
): Map<string, Field> {
  if (!isMap(node)) {
    const what = path === "policy" ? "the policy" : `"${path}"`;
    fail(ctx, at, `${what} must be a mapping (got ${describe(node)})`);
  }
  const fields = new Map<string, Field>();
  for (const pair of node.items) {
    const key = pair.key as Node;
    if (!isScalar(key)) {
      fail(ctx, key, `keys in ${subject(path)} must be strings`);
    }
    const name = typeof key.value === "string"
      ? key.value
      : key.source ?? String(key.value);
    if (fields.has(name)) {
      fail(
        ctx,
        key,
        `duplicate key ${JSON.stringify(name)} in ${subject(path)}`,
      );
    }
    fields.set(name, { key, value: resolve(ctx, pair.value) });
  }
  return fields;
}

/** Refuses the first key not in `expected`, naming the ones that are. */
export function checkKeys(
  ctx: Context,
  fields: Map<string, Field>,
  path: string,
  expected: readonly string[],
): void {
  for (const [name, field] of fields) {
    if (expected.includes(name)) continue;
    fail(
      ctx,
      field.key,
      `unknown key ${JSON.stringify(name)} in ${subject(path)} ` +
        `(expected one of: ${expected.join(", ")})`,
    );
  }
}

/** A nested section's fields, or null when the section is absent. */
export function section(
  ctx: Context,
  field: Field | undefined,
  path: string,
  expected: readonly string[],
): Map<string, Field> | null {
  if (!field) return null;
  const fields = fieldsOf(ctx, field.value, blame(field), path);
  checkKeys(ctx, fields, path, expected);
  return fields;
}

/** One of `options`, or undefined when the key is absent. */
export function choice<T extends string>(
  ctx: Context,
  field: Field | undefined,
  path: string,
  options: readonly T[],
): T | undefined {
  if (!field) return undefined;
  const { value } = field;
  const text = isScalar(value) ? value.value : undefined;
  if (typeof text === "string" && options.includes(text as T)) return text as T;
  const got = typeof text === "string" ? JSON.stringify(text) : describe(value);
  fail(
    ctx,
    blame(field),
    `"${path}" must be one of ${options.join(", ")} (got ${got})`,
  );
}

/** A list of strings, each with its node for later errors. */
export function strings(
  ctx: Context,
  field: Field,
  path: string,
): { text: string; node: Node }[] {
  const problem = (node: Node | null) =>
    `"${path}" must be a list of strings (got ${describe(node)})`;
  if (!isSeq(field.value)) fail(ctx, blame(field), problem(field.value));
  return field.value.items.map((item) => {
    const node = resolve(ctx, item);
    if (!isScalar(node) || typeof node.value !== "string") {
      fail(ctx, node ?? field.value!, problem(node));
    }
    return { text: node.value as string, node };
  });
}

/** Runs an entry parser, turning its short reason into a located error. */
export function entry<T>(
  ctx: Context,
  node: Node,
  path: string,
  text: string,
  parse: (text: string) => T,
): T {
  try {
    return parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    fail(
      ctx,
      node,
      `invalid "${path}" entry ${JSON.stringify(text)}: ${reason}`,
    );
  }
}

/**
 * `text` (the string of `node`) with `${VAR}` expanded from the
 * environment. An unset variable is an error at the variable itself when
 * the source spells the value as is, at the node otherwise.
 */
export function expand(
  ctx: Context,
  node: Node,
  path: string,
  text: string,
): string {
  try {
    return expandEnv(text, (name) => Deno.env.get(name));
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    const [start, end] = node.range ?? [0, 0];
    const found = ctx.text.slice(start, end).indexOf("${" + error.variable);
    const { line, col } = ctx.lines.linePos(
      start + (found === -1 ? 0 : found),
    );
    throw new PolicyError(ctx.file, line, col, `"${path}": ${error.message}`);
  }
}
