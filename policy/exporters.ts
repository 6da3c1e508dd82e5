/**
 * The `exporters` section of a policy: where events go besides the JSON
 * lines of `--output`. Every entry is a one-key mapping naming the exporter
 * type; strings may use `${VAR}` (see ./env.ts), and every error carries
 * the file, line and column of the node (of the variable, for `${VAR}`).
 *
 * @module
 */

import { isMap, isScalar, isSeq, type Node } from "./yaml.ts";
import type { ExporterConfig, ListenAddress } from "./schema.ts";
import {
  blame,
  checkKeys,
  type Context,
  describe,
  expand,
  fail,
  type Field,
  fieldsOf,
  resolve,
} from "./document.ts";

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

/** Parses `exporters:`, a list of one-key mappings. */
export function parseExporters(
  ctx: Context,
  field: Field,
): ExporterConfig[] {
  const list = field.value;
  if (!isSeq(list)) {
    fail(
      ctx,
      blame(field),
      `"exporters" must be a list (got ${describe(list)})`,
    );
  }
  return list.items.map((item, index) =>
    exporter(ctx, resolve(ctx, item), list, index)
  );
}

function exporter(
  ctx: Context,
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
  const body = resolve(ctx, pair.value);
  const where = `${path}.${kind}`;
  // `grpc:` alone (or `~`) takes every default.
  const settings = body === null || (isScalar(body) && body.value === null)
    ? new Map<string, Field>()
    : fieldsOf(ctx, body, body, where);
  checkKeys(ctx, settings, where, KEYS[kind]);
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
  ctx: Context,
  field: Field | undefined,
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
    if (Object.hasOwn(result, name)) {
      fail(ctx, key, `duplicate header ${JSON.stringify(name)} in "${path}"`);
    }
    const value = resolve(ctx, item.value);
    result[name] = string(ctx, { key, value }, `${path}.${name}`);
    // deno-lint-ignore no-control-regex
    if (/[\x00-\x08\x0a-\x1f\x7f]/.test(result[name])) {
      // A request with it fails every time: the queue would retry forever.
      fail(
        ctx,
        value ?? key,
        `header "${path}.${name}" must not contain control characters (CR, LF, NUL, ...)`,
      );
    }
  }
  return result;
}

/** `host:port`, `[v6]:port` or a bare port (loopback). */
function listenAddress(
  ctx: Context,
  field: Field,
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
  const hostname = match[1] || match[2] || "127.0.0.1";
  return { hostname, port };
}

function string(
  ctx: Context,
  field: Field,
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
  return expand(ctx, value, path, value.value as string);
}
