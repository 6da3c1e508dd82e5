/**
 * Reads and validates a policy file: the entry point of the policy layer.
 * Every error names the file, line and column of the offending YAML node
 * (policy/document.ts); each section's meaning is in policy/sections.ts and
 * policy/exporters.ts.
 *
 * @module
 */

import { isScalar } from "./yaml.ts";
import type { Mode, Policy } from "./schema.ts";
import { parseExporters } from "./exporters.ts";
import {
  filesPolicy,
  networkPolicy,
  processPolicy,
  scopePolicy,
} from "./sections.ts";
import { runnerPolicy } from "./runner.ts";
import { dependenciesPolicy } from "./dependencies.ts";
import {
  blame,
  checkKeys,
  choice,
  type Context,
  fail,
  type Field,
  fieldsOf,
  openDocument,
  resolve,
} from "./document.ts";
import { PolicyError, readPolicyText } from "./source.ts";

export { PolicyError, readPolicyText } from "./source.ts";

const TOP_KEYS = [
  "version",
  "mode",
  "scope",
  "network",
  "exporters",
  "process",
  "files",
  "runner",
  "dependencies",
];
const MODES: readonly Mode[] = ["audit", "block"];

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
  const ctx = openDocument(text, file);
  const root = resolve(ctx, ctx.doc.contents);
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
    scope: scopePolicy(ctx, top.get("scope")),
    network: networkPolicy(ctx, top.get("network")),
    // Only when present, so that policies without them keep their shape.
    ...(top.has("exporters") && {
      exporters: parseExporters(ctx, top.get("exporters")!),
    }),
    ...(top.has("process") && {
      process: processPolicy(ctx, top.get("process")),
    }),
    ...(top.has("files") && {
      files: filesPolicy(ctx, top.get("files")),
    }),
    runner: runnerPolicy(ctx, top.get("runner")),
    ...(top.has("dependencies") && {
      dependencies: dependenciesPolicy(ctx, top.get("dependencies")),
    }),
    source: { file },
  };
}

/** `scope`: the root names, and which of them are the CI runner. */
function checkVersion(ctx: Context, field: Field): void {
  const { value } = field;
  // The integer 1 as written: not "1", 1.0 or 0x1.
  if (isScalar(value) && value.value === 1 && value.source === "1") return;
  fail(ctx, blame(field), '"version" must be 1');
}
