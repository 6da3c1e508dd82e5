/**
 * The `exporters` section of a policy: where events go besides the JSON
 * lines of `--output`. Every entry is a one-key mapping naming the exporter
 * type; strings may use `${VAR}` (see ./env.ts), and every error carries
 * the file, line and column of the node (of the variable, for `${VAR}`).
 *
 * @module
 */

import {
  type Document,
  isAlias,
  isMap,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
} from "./yaml.ts";
import { EnvError, expandEnv } from "./env.ts";
import { PolicyError } from "./source.ts";
import type { ExporterConfig, ListenAddress } from "./schema.ts";

/** What the exporters parser needs from the policy parser. */
export interface ExportersContext {
  file: string;
  /** The YAML source, to place `${VAR}` errors at the variable. */
  text: string;
  lines: LineCounter;
  doc: Document;
  /** Looks up `${VAR}`; defaults to the process environment. */
  env?: (name: string) => string | undefined;
}

const TYPES = ["jsonl", "webhook", "http", "grpc", "otlp"] as const;
const KEYS: Record<(typeof TYPES)[number], string[]> = {
  jsonl: ["path"],
  webhook: ["url", "headers", "batch", "queue", "timeout"],
  http: ["listen", "token"],
  grpc: ["listen", "token"],
  otlp: ["endpoint", "headers", "batch", "queue", "timeout", "encoding"],
};
/** Default listen addresses: loopback only. */
export const DEFAULT_LISTEN = {
  http: { hostname: "127.0.0.1", port: 7070 },
  grpc: { hostname: "127.0.0.1", port: 7071 },
} as const;

/** Parses `exporters:`; absent means none. */
export function parseExporters(
  ctx: ExportersContext,
  key: Node | undefined,
  value: Node | null | undefined,
): ExporterConfig[] {
  if (!key) return [];
  const list = deref(ctx, value ?? null);
  if (!isSeq(list)) {
    fail(
      ctx,
      at(key, list),
      `"exporters" must be a list (got ${describe(list)})`,
    );
  }
  return list.items.map((item, index) =>
    exporter(ctx, deref(ctx, item as Node), list, index)
  );
}

function exporter(
  ctx: ExportersContext,
  node: Node | null,
  list: Node,
  index: number,
): ExporterConfig {
  const path = `exporters[${index}]`;
  if (!isMap(node) || node.items.length !== 1) {
    fail(
      ctx,
      node ?? list,
      `"${path}" must be a mapping with one key, the exporter type (one of: ${
        TYPES.join(", ")
      })`,
    );
  }
  const pair = node.items[0];
  const typeNode = pair.key as Node;
  const type = isScalar(typeNode) ? String(typeNode.value) : "";
  if (!(TYPES as readonly string[]).includes(type)) {
    fail(
      ctx,
      typeNode,
      `unknown exporter ${
        JSON.stringify(type)
      } in "${path}" (expected one of: ${TYPES.join(", ")})`,
    );
  }
  const kind = type as (typeof TYPES)[number];
  const body = deref(ctx, pair.value as Node | null);
  const where = `${path}.${kind}`;
  const settings = new Map<string, { key: Node; value: Node | null }>();
  if (body !== null && !(isScalar(body) && body.value === null)) {
    if (!isMap(body)) {
      fail(ctx, body, `"${where}" must be a mapping (got ${describe(body)})`);
    }
    for (const item of body.items) {
      const k = item.key as Node;
      const name = isScalar(k) ? String(k.value) : "";
      if (!KEYS[kind].includes(name)) {
        fail(
          ctx,
          k,
          `unknown key ${
            JSON.stringify(name)
          } in "${where}" (expected one of: ${KEYS[kind].join(", ")})`,
        );
      }
      settings.set(name, { key: k, value: deref(ctx, item.value as Node) });
    }
  }
  const str = (name: string) => {
    const field = settings.get(name);
    return field && string(ctx, field, `${where}.${name}`);
  };
  const need = (name: string) => {
    const text = str(name);
    if (text === undefined) {
      fail(ctx, typeNode, `"${where}" needs "${name}"`);
    }
    return text;
  };
  const int = (name: string, fallback: number, max: number) => {
    const field = settings.get(name);
    if (!field) return fallback;
    const value = field.value;
    if (
      !isScalar(value) || typeof value.value !== "number" ||
      !Number.isInteger(value.value) || value.value < 1 || value.value > max
    ) {
      fail(
        ctx,
        value ?? field.key,
        `"${where}.${name}" must be an integer from 1 to ${max}`,
      );
    }
    return value.value as number;
  };
  const url = (name: string) => {
    const text = need(name);
    const field = settings.get(name)!;
    let parsed: URL | undefined;
    try {
      parsed = new URL(text);
    } catch { /* below */ }
    if (!parsed || !["http:", "https:"].includes(parsed.protocol)) {
      fail(
        ctx,
        field.value ?? field.key,
        `"${where}.${name}" must be an http:// or https:// URL (got ${
          JSON.stringify(text)
        })`,
      );
    }
    return text;
  };
  switch (kind) {
    case "jsonl":
      return { kind, path: need("path") };
    case "webhook":
      return {
        kind,
        url: url("url"),
        headers: headers(ctx, settings.get("headers"), `${where}.headers`),
        batch: int("batch", 100, 10_000),
        queue: int("queue", 10_000, 10_000_000),
        timeout: int("timeout", 10, 600),
      };
    case "otlp": {
      const encodingField = settings.get("encoding");
      const encoding = str("encoding") ?? "protobuf";
      if (encoding !== "protobuf" && encoding !== "json") {
        fail(
          ctx,
          encodingField!.value ?? encodingField!.key,
          `"${where}.encoding" must be one of protobuf, json (got ${
            JSON.stringify(encoding)
          })`,
        );
      }
      return {
        kind,
        endpoint: url("endpoint"),
        headers: headers(ctx, settings.get("headers"), `${where}.headers`),
        batch: int("batch", 512, 10_000),
        queue: int("queue", 10_000, 10_000_000),
        timeout: int("timeout", 10, 600),
        encoding,
      };
    }
    case "http":
    case "grpc": {
      const field = settings.get("listen");
      const listen = field
        ? listenAddress(ctx, field, `${where}.listen`)
        : { ...DEFAULT_LISTEN[kind] };
      const token = str("token");
      if (token === "") {
        const t = settings.get("token")!;
        fail(ctx, t.value ?? t.key, `"${where}.token" is empty`);
      }
      return token === undefined ? { kind, listen } : { kind, listen, token };
    }
  }
}

function headers(
  ctx: ExportersContext,
  field: { key: Node; value: Node | null } | undefined,
  path: string,
): Record<string, string> {
  if (!field) return {};
  if (!isMap(field.value)) {
    fail(
      ctx,
      field.value ?? field.key,
      `"${path}" must be a mapping of header names to strings`,
    );
  }
  const result: Record<string, string> = {};
  for (const item of field.value.items) {
    const key = item.key as Node;
    const name = isScalar(key) ? String(key.value) : "";
    if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name)) {
      fail(
        ctx,
        key,
        `invalid header name ${JSON.stringify(name)} in "${path}"`,
      );
    }
    result[name] = string(
      ctx,
      { key, value: deref(ctx, item.value as Node) },
      `${path}.${name}`,
    );
  }
  return result;
}

/** `host:port`, `[v6]:port` or a bare port (loopback). */
function listenAddress(
  ctx: ExportersContext,
  field: { key: Node; value: Node | null },
  path: string,
): ListenAddress {
  const value = field.value;
  const text = isScalar(value) && typeof value.value === "number"
    ? String(value.value)
    : string(ctx, field, path);
  const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):(\d+)$/.exec(text) ??
    /^()()(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    fail(
      ctx,
      value ?? field.key,
      `"${path}" must be host:port, [IPv6]:port or a port (got ${
        JSON.stringify(text)
      })`,
    );
  }
  const hostname = match[1] ?? (match[2] || "127.0.0.1");
  return { hostname, port };
}

function string(
  ctx: ExportersContext,
  field: { key: Node; value: Node | null },
  path: string,
): string {
  const { value } = field;
  if (!isScalar(value) || typeof value.value !== "string") {
    fail(
      ctx,
      value ?? field.key,
      `"${path}" must be a string (got ${describe(value)})`,
    );
  }
  const env = ctx.env ?? ((name: string) => Deno.env.get(name));
  try {
    return expandEnv(value.value as string, env);
  } catch (error) {
    if (!(error instanceof EnvError)) throw error;
    // Place the error at the variable when the source spells it as is.
    const [start, end] = value.range ?? [0, 0];
    const raw = ctx.text.slice(start, end);
    const found = raw.indexOf("${" + error.variable);
    const offset = start + (found === -1 ? 0 : found);
    const { line, col } = ctx.lines.linePos(offset);
    throw new PolicyError(ctx.file, line, col, `"${path}": ${error.message}`);
  }
}

function deref(ctx: ExportersContext, node: Node | null): Node | null {
  if (!isAlias(node)) return node ?? null;
  const target = node.resolve(ctx.doc);
  if (!target) fail(ctx, node, `alias "*${node.source}" has no anchor`);
  return target;
}

function at(key: Node, value: Node | null): Node {
  return value === null || (isScalar(value) && value.source === "")
    ? key
    : value;
}

function describe(node: Node | null): string {
  if (node === null || (isScalar(node) && node.source === "")) {
    return "an empty value";
  }
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a list";
  if (isScalar(node)) {
    if (node.value === null) return "null";
    return `a ${typeof node.value}`;
  }
  return "something else";
}

function fail(ctx: ExportersContext, node: Node, problem: string): never {
  const { line, col } = ctx.lines.linePos(node.range?.[0] ?? 0);
  throw new PolicyError(ctx.file, line, col, problem);
}
