/**
 * The sections of a policy other than `exporters` (policy/exporters.ts):
 * `scope`, `network`, `process` and `files`, each checked against what the
 * kernel's maps can hold, so that a policy the sensors cannot apply is
 * refused at load time at the entry that breaks it.
 *
 * @module
 */

import { isScalar, type Node } from "./yaml.ts";
import {
  AllowListError,
  compileAllowList,
  parseAllowRule,
  parseResolver,
} from "./network.ts";
import {
  type AllowRule,
  DEFAULT_BULK_DIRS,
  DEFAULT_PROCESSES,
  DEFAULT_RUNNER_ALLOW,
  DEFAULT_RUNNER_PROCESSES,
  DENY_PRIVILEGED,
  type FilesPolicy,
  type NetworkAction,
  type NetworkPolicy,
  type Policy,
  PRIVILEGED_PRIMITIVES,
  type PrivilegedPolicy,
  type ProcessPolicy,
  type ResolverSpec,
  type RunnerScope,
  TASK_COMM_LEN,
} from "./schema.ts";
import { compileGlob, GlobError } from "./glob.ts";
import {
  DOMAINS_MAX,
  PREFIXES_MAX,
  RESOLVERS_MAX,
  RUNNER_DOMAINS_MAX,
  SCOPE_PROCESSES_MAX,
} from "./limits.ts";
import {
  blame,
  choice,
  type Context,
  describe,
  entry,
  expand,
  fail,
  type Field,
  section,
  strings,
} from "./document.ts";

const FILES_KEYS = [
  "watch",
  "protect",
  "secrets",
  "action",
  "restore",
  "detail",
  "bulk",
];
/** Entries of sensor.process's deny_exec_paths and deny_exec_names. */
const PROCESS_DENY_MAX = 1024;
/** Entries of sensor.file-system's fs_prefixes and fs_names. */
const FILES_PATTERNS_MAX = 4096;
const PROCESS_KEYS = ["deny", "action"];
const SCOPE_KEYS = ["processes", "cgroups", "runner"];
const SCOPE_RUNNER_KEYS = ["processes", "allow"];
/** Entries of sensor.process's scope_cgroups, some kept for the runner's. */
const SCOPE_CGROUPS_MAX = 192;
const NETWORK_KEYS = ["allow", "dns", "action", "loopback", "privileged"];
const DNS_KEYS = ["resolvers", "queries"];
const DNS_QUERIES: readonly NetworkPolicy["dns"]["queries"][] = [
  "allowed-only",
  "any",
];
const ACTIONS: readonly NetworkAction[] = ["deny", "kill"];

/**
 * The `scope` section: `processes`, and `cgroups` only when present, so
 * that policies without it keep their shape.
 */
export function scopePolicy(
  ctx: Context,
  field: Field | undefined,
): Policy["scope"] {
  const scope = section(ctx, field, "scope", SCOPE_KEYS);
  const cgroups = scope?.get("cgroups");
  const processes = scopeProcesses(ctx, scope?.get("processes"));
  return {
    processes,
    ...(cgroups && { cgroups: scopeCgroups(ctx, cgroups) }),
    runner: scopeRunner(ctx, field, processes),
  };
}

/**
 * `scope.cgroups`: cgroup v2 paths, as /proc/PID/cgroup shows them
 * (`/system.slice/runner.service`), relative to the cgroup2 mount, or
 * under it (`/sys/fs/cgroup/system.slice/runner.service`). Whether each
 * exists is checked when the agent starts, where the mount is known.
 */
function scopeCgroups(ctx: Context, list: Field): string[] {
  const items = strings(ctx, list, "scope.cgroups");
  if (items.length > SCOPE_CGROUPS_MAX) {
    fail(
      ctx,
      items[SCOPE_CGROUPS_MAX].node,
      `"scope.cgroups" has ${items.length} entries; at most ` +
        `${SCOPE_CGROUPS_MAX} fit in the kernel's map`,
    );
  }
  const paths = items.map(({ text, node }) => {
    const problem = cgroupPathProblem(text);
    if (problem) {
      fail(ctx, node, `cgroup ${JSON.stringify(text)} ${problem}`);
    }
    return text.length > 1 ? text.replace(/\/+$/, "") : text;
  });
  return [...new Set(paths)];
}

/** Why `path` cannot name a cgroup to scope, or undefined. */
function cgroupPathProblem(path: string): string | undefined {
  if (path === "") return "is empty";
  if (/[\0\n]/.test(path)) return "has a NUL or newline";
  if (path.length > 4096) return "is longer than PATH_MAX (4096 bytes)";
  const parts = path.replace(/^\/+|\/+$/g, "").split("/");
  if (parts.length === 1 && parts[0] === "") {
    return "is the root cgroup: every process of the machine would be in scope";
  }
  if (parts.some((part) => part === "")) return 'has an empty component ("//")';
  if (parts.some((part) => part === "." || part === "..")) {
    return 'has a "." or ".." component';
  }
  return undefined;
}

/**
 * Refuses the entry at `node`, the `count`th of `path`, when the kernel's
 * map holds only `max`.
 */
function withinMap(
  ctx: Context,
  node: Node,
  count: number,
  max: number,
  path: string,
): void {
  if (count > max) {
    fail(
      ctx,
      node,
      `"${path}" has more than ${max} entries, the most the kernel's map holds`,
    );
  }
}

/**
 * `scope.processes`: command names, each short enough for the kernel's
 * `comm` to hold, or the defaults when absent.
 */
function scopeProcesses(ctx: Context, list: Field | undefined): string[] {
  if (!list) return [...DEFAULT_PROCESSES];
  const items = strings(ctx, list, "scope.processes");
  if (items.length === 0) {
    fail(ctx, blame(list), '"scope.processes" must name at least one process');
  }
  const encoder = new TextEncoder();
  const seen = new Set<string>();
  for (const { text, node } of items) {
    if (text === "") fail(ctx, node, '"scope.processes" has an empty name');
    seen.add(text);
    withinMap(ctx, node, seen.size, SCOPE_PROCESSES_MAX, "scope.processes");
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

/**
 * `scope.runner`: which of the roots in `processes` are the CI runner
 * (default: those of {@linkcode DEFAULT_RUNNER_PROCESSES} listed), and
 * the destinations only they may reach besides `network.allow` (default:
 * {@linkcode DEFAULT_RUNNER_ALLOW}).
 */
function scopeRunner(
  ctx: Context,
  field: Field | undefined,
  processes: readonly string[],
): RunnerScope {
  const scope = section(ctx, field, "scope", SCOPE_KEYS);
  const runner = section(
    ctx,
    scope?.get("runner"),
    "scope.runner",
    SCOPE_RUNNER_KEYS,
  );
  const names = runner?.get("processes");
  let chosen = DEFAULT_RUNNER_PROCESSES.filter((name) =>
    processes.includes(name)
  );
  if (names) {
    const items = strings(ctx, names, "scope.runner.processes");
    for (const { text, node } of items) {
      if (!processes.includes(text)) {
        fail(
          ctx,
          node,
          `"scope.runner.processes": ${JSON.stringify(text)} is not in ` +
            `"scope.processes"; a runner is one of the scope roots`,
        );
      }
    }
    chosen = [...new Set(items.map((item) => item.text))];
  }
  const allow = runner?.get("allow");
  return {
    processes: chosen,
    allow: allow
      ? allowRules(ctx, allow, "scope.runner.allow")
      : DEFAULT_RUNNER_ALLOW.map(parseAllowRule),
  };
}

/** `network`, with defaults for what is absent. */
export function networkPolicy(
  ctx: Context,
  field: Field | undefined,
): NetworkPolicy {
  const fields = section(ctx, field, "network", NETWORK_KEYS);
  return {
    allow: allowRules(ctx, fields?.get("allow")),
    dns: dnsSettings(ctx, fields?.get("dns")),
    action: choice(ctx, fields?.get("action"), "network.action", ACTIONS) ??
      "deny",
    loopback: choice(
      ctx,
      fields?.get("loopback"),
      "network.loopback",
      ["allow", "deny"] as const,
    ) ?? "allow",
    privileged: privileged(ctx, fields?.get("privileged")),
  };
}

/** `network.privileged`: each primitive `allow` or `deny` (the default). */
function privileged(
  ctx: Context,
  field: Field | undefined,
): PrivilegedPolicy {
  const fields = section(
    ctx,
    field,
    "network.privileged",
    PRIVILEGED_PRIMITIVES,
  );
  const policy = {} as PrivilegedPolicy;
  for (const name of PRIVILEGED_PRIMITIVES) {
    policy[name] = choice(
      ctx,
      fields?.get(name),
      `network.privileged.${name}`,
      ["deny", "allow"] as const,
    ) ?? "deny";
  }
  return policy;
}

function allowRules(
  ctx: Context,
  field: Field | undefined,
  path = "network.allow",
): AllowRule[] {
  if (!field) return [];
  const nodes = new Map<AllowRule, Node>();
  for (const { text, node } of strings(ctx, field, path)) {
    nodes.set(entry(ctx, node, path, text, parseAllowRule), node);
  }
  const allow = [...nodes.keys()];
  // Compile once here so that a rule set the kernel maps cannot hold is
  // reported at load time, at the rule that broke it.
  let compiled;
  try {
    compiled = compileAllowList({
      allow,
      dns: { resolvers: [], queries: "any" },
      action: "deny",
      loopback: "allow",
      privileged: DENY_PRIVILEGED,
    });
  } catch (error) {
    if (!(error instanceof AllowListError)) throw error;
    fail(ctx, nodes.get(error.rule)!, error.message);
  }
  const domainsMax = path === "network.allow"
    ? DOMAINS_MAX
    : RUNNER_DOMAINS_MAX;
  if (compiled.domains.length > domainsMax) {
    fail(
      ctx,
      nodes.get(compiled.domains[domainsMax])!,
      `"${path}" has more than ${domainsMax} domain rules, the most the ` +
        `kernel's map holds`,
    );
  }
  for (const family of [4, 6] as const) {
    const entries = family === 4 ? compiled.v4 : compiled.v6;
    if (entries.length <= PREFIXES_MAX) continue;
    // Blame the last address rule of the family: the one that tipped it.
    const last = allow.findLast((rule) =>
      rule.kind === "cidr" && rule.family === family
    )!;
    fail(
      ctx,
      nodes.get(last)!,
      `"${path}" needs ${entries.length} IPv${family} prefixes, more than ` +
        `the ${PREFIXES_MAX} the kernel's map holds`,
    );
  }
  return allow;
}

function dnsSettings(
  ctx: Context,
  field: Field | undefined,
): NetworkPolicy["dns"] {
  const dns = section(ctx, field, "network.dns", DNS_KEYS);
  return {
    resolvers: resolvers(ctx, dns?.get("resolvers")),
    queries: choice(
      ctx,
      dns?.get("queries"),
      "network.dns.queries",
      DNS_QUERIES,
    ) ?? "allowed-only",
  };
}

function resolvers(ctx: Context, list: Field | undefined): ResolverSpec[] {
  if (!list) return [{ kind: "system" }];
  const unique = new Map<string, ResolverSpec>();
  for (const { text, node } of strings(ctx, list, "network.dns.resolvers")) {
    const spec = entry(ctx, node, "network.dns.resolvers", text, parseResolver);
    const key = spec.kind === "system"
      ? "system"
      : `${spec.address.join(",")}:${spec.port}`;
    if (!unique.has(key)) unique.set(key, spec);
    withinMap(ctx, node, unique.size, RESOLVERS_MAX, "network.dns.resolvers");
  }
  return [...unique.values()];
}

/**
 * `process.deny`: what the kernel can match at exec without a glob engine,
 * a full path or `**\/name`; anything else is refused rather than silently
 * never matching.
 */
export function processPolicy(
  ctx: Context,
  field: Field | undefined,
): ProcessPolicy {
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
      ["kill", "audit"] as const,
    ) ?? "kill",
  };
}

/** `true` or `false`, or undefined when the key is absent. */
function flag(
  ctx: Context,
  field: Field | undefined,
  path: string,
): boolean | undefined {
  if (!field) return undefined;
  const { value } = field;
  if (isScalar(value) && typeof value.value === "boolean") return value.value;
  fail(
    ctx,
    blame(field),
    `"${path}" must be true or false (got ${describe(value)})`,
  );
}

/**
 * `files`: globs with `${VAR}` expanded from the environment. An unset
 * variable is an error at the variable, not an empty string: "/**" is not
 * what "${GITHUB_WORKSPACE}/**" means.
 */
export function filesPolicy(
  ctx: Context,
  field: Field | undefined,
): FilesPolicy {
  const fields = section(ctx, field, "files", FILES_KEYS);
  let counted = 0;
  const globs = (key: "watch" | "protect" | "secrets"): string[] => {
    const list = fields?.get(key);
    if (!list) return [];
    const patterns = strings(ctx, list, `files.${key}`).map(
      ({ text, node }) => {
        const expanded = expand(ctx, node, `files.${key}`, text);
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
    restore: flag(ctx, fields?.get("restore"), "files.restore") ?? false,
    detail: choice(
      ctx,
      fields?.get("detail"),
      "files.detail",
      ["summary", "full"] as const,
    ) ?? "summary",
    bulk: bulkNames(ctx, fields?.get("bulk")),
  };
}

/** `files.bulk`: directory names, one path segment each. */
function bulkNames(ctx: Context, list: Field | undefined): string[] {
  if (!list) return [...DEFAULT_BULK_DIRS];
  const names = strings(ctx, list, "files.bulk").map(({ text, node }) => {
    if (
      text === "" || text === "." || text === ".." || text.includes("/") ||
      text.includes("\0") || /[*?[\]{}]/.test(text)
    ) {
      fail(
        ctx,
        node,
        `invalid "files.bulk" entry ${
          JSON.stringify(text)
        }: a directory name (one path segment, no glob), e.g. "node_modules"`,
      );
    }
    return text;
  });
  return [...new Set(names)];
}
