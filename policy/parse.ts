/**
 * Reads and validates a policy file. Every error names the file, line and
 * column of the offending YAML node, because a policy that is silently
 * misread is worse than none.
 *
 * @module
 */

import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  type Node,
  parseDocument,
} from "./yaml.ts";
import {
  AllowListError,
  compileAllowList,
  parseAllowRule,
  parseResolver,
} from "./network.ts";
import {
  type AllowRule,
  DEFAULT_PROCESSES,
  type FilesPolicy,
  type Mode,
  type NetworkAction,
  type NetworkPolicy,
  type Policy,
  type ProcessPolicy,
  type ResolverSpec,
  TASK_COMM_LEN,
} from "./schema.ts";
import { parseExporters } from "./exporters.ts";
import { EnvError, expandEnv } from "./env.ts";
import { compileGlob, GlobError } from "./glob.ts";
import { PolicyError, readPolicyText } from "./source.ts";

export { declaresFiles, PolicyError, readPolicyText } from "./source.ts";

/**
 * Reads a policy file (UTF-8 YAML) and validates it.
 *
 * @throws {PolicyError} `<path>: cannot read policy: <reason>` when the file
 *   cannot be read, or as {@link parsePolicy} when it is invalid.
 */
export async function loadPolicy(path: string): Promise<Policy> {
  return parsePolicy(await readPolicyText(path), path);
}

/**
 * Parses and validates a policy, filling in defaults.
 *
 * @param text the YAML source.
 * @param file the name to use in messages and `source.file`.
 * @throws {PolicyError} at the first problem found.
 */
export function parsePolicy(text: string, file: string): Policy {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, uniqueKeys: true });
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
  const ctx: Context = { file, lines, doc };
  const root = resolve(ctx, doc.contents);
  if (root === null || (isScalar(root) && root.value === null)) {
    throw new PolicyError(file, 1, 1, "policy is empty");
  }
  const top = fieldsOf(ctx, root, root, "policy");
  // Checked before unknown keys so that a newer schema is reported as an
  // unsupported version rather than as a list of unknown keys.
  const version = top.get("version");
  if (version) checkVersion(ctx, version);
  checkKeys(ctx, top, "policy", TOP_KEYS);
  if (!version) {
    throw new PolicyError(file, 1, 1, 'missing required key "version"');
  }
  return {
    version: 1,
    mode: choice(ctx, top.get("mode"), "mode", MODES) ?? "audit",
    scope: { processes: processes(ctx, top.get("scope")) },
    network: network(ctx, top.get("network")),
    // Only when present, so that policies without it keep their shape.
    ...(top.has("exporters") && {
      exporters: parseExporters(
        { ...ctx, text },
        top.get("exporters")!.key,
        top.get("exporters")!.value,
      ),
    }),
    ...(top.has("process") && {
      process: processPolicy(ctx, top.get("process")),
    }),
    ...(top.has("files") && {
      files: filesPolicy({ ...ctx, text }, top.get("files")),
    }),
    source: { file },
  };
}

/**
 * `process.deny`: what the kernel can match at exec without a glob engine,
 * a full path or `**\/name`; anything else is refused rather than silently
 * never matching.
 */
function processPolicy(ctx: Context, field: Field | undefined): ProcessPolicy {
  const fields = section(ctx, field, "process", PROCESS_KEYS);
  const denyPaths: string[] = [], denyNames: string[] = [];
  const list = fields?.get("deny");
  for (const { text, node } of list ? strings(ctx, list, "process.deny") : []) {
    const name = text.startsWith("**/") ? text.slice(3) : undefined;
    if (name !== undefined && name !== "" && !/[/*?[\]{}]/.test(name)) {
      const bytes = new TextEncoder().encode(name).length;
      if (bytes >= TASK_COMM_LEN) {
        fail(
          ctx,
          node,
          `"${text}": the kernel matches a name on the first ` +
            `${TASK_COMM_LEN - 1} bytes of the command name, and "${name}" ` +
            `is ${bytes}; give its full path instead`,
        );
      }
      denyNames.push(name);
    } else if (text.startsWith("/") && !/[*?[\]{}]/.test(text)) {
      denyPaths.push(text);
    } else {
      fail(
        ctx,
        node,
        `"${text}": process.deny takes a full path ("/usr/bin/nc") or ` +
          `"**/name" ("**/xmrig")`,
      );
    }
    // The kernel's maps (sensor.process deny_exec_*) hold this many each.
    if (Math.max(denyPaths.length, denyNames.length) > PROCESS_DENY_MAX) {
      fail(
        ctx,
        node,
        `process.deny: more than ${PROCESS_DENY_MAX} paths or names (the kernel's map holds ${PROCESS_DENY_MAX})`,
      );
    }
  }
  return {
    denyPaths: [...new Set(denyPaths)],
    denyNames: [...new Set(denyNames)],
    action: choice(
      ctx,
      fields?.get("action"),
      "process.action",
      [
        "kill",
        "audit",
      ] as const,
    ) ?? "kill",
  };
}

/**
 * `files`: globs with `${VAR}` expanded from the environment. An unset
 * variable is an error at the variable, not an empty string: "/**" is not
 * what "${GITHUB_WORKSPACE}/**" meant.
 */
function filesPolicy(
  ctx: Context & { text: string },
  field: Field | undefined,
): FilesPolicy {
  const fields = section(ctx, field, "files", FILES_KEYS);
  let counted = 0;
  const globs = (key: "watch" | "protect" | "secrets"): string[] => {
    const list = fields?.get(key);
    if (!list) return [];
    const patterns = strings(ctx, list, `files.${key}`).map(
      ({ text, node }) => {
        let expanded: string;
        try {
          expanded = expandEnv(text, (name) => Deno.env.get(name));
        } catch (error) {
          if (!(error instanceof EnvError)) throw error;
          // At the variable when the source spells the value as is.
          const [start, end] = node.range ?? [0, 0];
          const found = ctx.text.slice(start, end).indexOf(
            "${" + error.variable,
          );
          const { line, col } = ctx.lines.linePos(
            start + (found === -1 ? 0 : found),
          );
          throw new PolicyError(
            ctx.file,
            line,
            col,
            `"files.${key}": ${error.message}`,
          );
        }
        try {
          compileGlob(expanded);
        } catch (error) {
          if (!(error instanceof GlobError)) throw error;
          const shown = expanded === text
            ? JSON.stringify(text)
            : `${JSON.stringify(text)} (${JSON.stringify(expanded)})`;
          fail(
            ctx,
            node,
            `invalid "files.${key}" entry ${shown}: ${error.message}`,
          );
        }
        return expanded;
      },
    );
    const unique = [...new Set(patterns)];
    counted += unique.length;
    // Each pattern is at most one entry of the kernel's prefix or name map.
    if (counted > FILES_PATTERNS_MAX) {
      fail(
        ctx,
        list.key,
        `"files": more than ${FILES_PATTERNS_MAX} patterns (the kernel's maps hold ${FILES_PATTERNS_MAX})`,
      );
    }
    return unique;
  };
  return {
    watch: globs("watch"),
    protect: globs("protect"),
    secrets: globs("secrets"),
    action: choice(
      ctx,
      fields?.get("action"),
      "files.action",
      ["kill", "audit"] as const,
    ) ?? "kill",
  };
}

/** The yaml library's reason, without its own position and excerpt. */
function yamlReason(error: Error): string {
  const [first] = error.message.split("\n");
  return first.replace(/ at line \d+, column \d+:?$/, "");
}

const TOP_KEYS = [
  "version",
  "mode",
  "scope",
  "network",
  "exporters",
  "process",
  "files",
];
const FILES_KEYS = ["watch", "protect", "secrets", "action"];
/** Entries of sensor.process's deny_exec_paths and deny_exec_names. */
const PROCESS_DENY_MAX = 1024;
/** Entries of sensor.file-system's fs_prefixes and fs_names. */
const FILES_PATTERNS_MAX = 4096;
const PROCESS_KEYS = ["deny", "action"];
const SCOPE_KEYS = ["processes"];
const NETWORK_KEYS = ["allow", "dns", "action", "loopback"];
const DNS_KEYS = ["resolvers"];
const MODES: readonly Mode[] = ["audit", "block"];
const ACTIONS: readonly NetworkAction[] = ["deny", "kill"];

interface Context {
  file: string;
  lines: LineCounter;
  doc: Document;
}

/** A mapping entry: the key node (for positions) and its value. */
interface Field {
  key: Node;
  value: Node | null;
}

function fail(ctx: Context, node: Node, problem: string): never {
  const { line, col } = ctx.lines.linePos(node.range?.[0] ?? 0);
  throw new PolicyError(ctx.file, line, col, problem);
}

/** Follows `*alias` references to the anchored node. */
function resolve(ctx: Context, node: unknown): Node | null {
  if (!isAlias(node)) return (node as Node | null | undefined) ?? null;
  const target = node.resolve(ctx.doc);
  // The yaml library only notices a dangling alias when converting to JS.
  if (!target) fail(ctx, node, `alias "*${node.source}" has no anchor`);
  return target;
}

/** An empty value has no text of its own, so errors point at its key. */
function blame(field: Field): Node {
  const { value } = field;
  return value === null || isEmpty(value) ? field.key : value;
}

function isEmpty(node: Node): boolean {
  return isScalar(node) && node.value === null && node.source === "";
}

function describe(node: Node | null): string {
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
function fieldsOf(
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
    fields.set(name, { key, value: resolve(ctx, pair.value) });
  }
  return fields;
}

function checkKeys(
  ctx: Context,
  fields: Map<string, Field>,
  path: string,
  expected: string[],
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
function section(
  ctx: Context,
  field: Field | undefined,
  path: string,
  expected: string[],
): Map<string, Field> | null {
  if (!field) return null;
  const fields = fieldsOf(ctx, field.value, blame(field), path);
  checkKeys(ctx, fields, path, expected);
  return fields;
}

function checkVersion(ctx: Context, field: Field): void {
  const { value } = field;
  // The integer 1 as written: not "1", 1.0 or 0x1.
  if (isScalar(value) && value.value === 1 && value.source === "1") return;
  fail(ctx, blame(field), '"version" must be 1');
}

function choice<T extends string>(
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
function strings(
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

function processes(ctx: Context, field: Field | undefined): string[] {
  const scope = section(ctx, field, "scope", SCOPE_KEYS);
  const list = scope?.get("processes");
  if (!list) return [...DEFAULT_PROCESSES];
  const items = strings(ctx, list, "scope.processes");
  if (items.length === 0) {
    fail(ctx, blame(list), '"scope.processes" must name at least one process');
  }
  const encoder = new TextEncoder();
  for (const { text, node } of items) {
    if (text === "") fail(ctx, node, '"scope.processes" has an empty name');
    const bytes = encoder.encode(text).length;
    if (bytes >= TASK_COMM_LEN) {
      fail(
        ctx,
        node,
        `process name ${JSON.stringify(text)} is ${bytes} bytes, but the ` +
          `kernel keeps only the first ${TASK_COMM_LEN - 1} of a command ` +
          `name (TASK_COMM_LEN ${TASK_COMM_LEN}), so it would never match`,
      );
    }
  }
  return [...new Set(items.map((item) => item.text))];
}

function network(ctx: Context, field: Field | undefined): NetworkPolicy {
  const fields = section(ctx, field, "network", NETWORK_KEYS);
  return {
    allow: allowRules(ctx, fields?.get("allow")),
    dns: { resolvers: resolvers(ctx, fields?.get("dns")) },
    action: choice(ctx, fields?.get("action"), "network.action", ACTIONS) ??
      "deny",
    loopback: choice(
      ctx,
      fields?.get("loopback"),
      "network.loopback",
      [
        "allow",
        "deny",
      ] as const,
    ) ?? "allow",
  };
}

function allowRules(ctx: Context, field: Field | undefined): AllowRule[] {
  if (!field) return [];
  const nodes = new Map<AllowRule, Node>();
  for (const { text, node } of strings(ctx, field, "network.allow")) {
    nodes.set(entry(ctx, node, "network.allow", text, parseAllowRule), node);
  }
  const allow = [...nodes.keys()];
  // Compile once here so that a rule set the kernel maps cannot hold is
  // reported at load time, at the rule that broke it.
  try {
    compileAllowList({
      allow,
      dns: { resolvers: [] },
      action: "deny",
      loopback: "allow",
    });
  } catch (error) {
    if (!(error instanceof AllowListError)) throw error;
    fail(ctx, nodes.get(error.rule)!, error.message);
  }
  return allow;
}

function resolvers(ctx: Context, field: Field | undefined): ResolverSpec[] {
  const dns = section(ctx, field, "network.dns", DNS_KEYS);
  const list = dns?.get("resolvers");
  if (!list) return [{ kind: "system" }];
  const unique = new Map<string, ResolverSpec>();
  for (const { text, node } of strings(ctx, list, "network.dns.resolvers")) {
    const spec = entry(ctx, node, "network.dns.resolvers", text, parseResolver);
    const key = spec.kind === "system"
      ? "system"
      : `${spec.address.join(",")}:${spec.port}`;
    if (!unique.has(key)) unique.set(key, spec);
  }
  return [...unique.values()];
}

/** Runs an entry parser, turning its short reason into a located error. */
function entry<T>(
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
