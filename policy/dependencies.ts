/**
 * The `dependencies` section: `install_scripts`, the rule for what a
 * dependency's install script may do (network, secrets, the workspace's
 * workflows), with the packages it does not apply to.
 *
 * @module
 */

import type {
  DependenciesPolicy,
  InstallScriptsPolicy,
  PackageException,
} from "./schema.ts";
import {
  choice,
  type Context,
  fail,
  type Field,
  section,
  strings,
} from "./document.ts";

const DEPENDENCIES_KEYS = ["install_scripts"];
const INSTALL_SCRIPTS_KEYS = ["network", "files", "action", "except"];
const PATH = "dependencies.install_scripts";

/** `dependencies`, with defaults for what `install_scripts` leaves out. */
export function dependenciesPolicy(
  ctx: Context,
  field: Field | undefined,
): DependenciesPolicy {
  const fields = section(ctx, field, "dependencies", DEPENDENCIES_KEYS);
  const installScripts = fields?.get("install_scripts");
  return installScripts
    ? { installScripts: installScriptsPolicy(ctx, installScripts) }
    : {};
}

/**
 * `dependencies.install_scripts`. Present, it protects: `network: deny`,
 * `files: protect-secrets`, `action: deny` unless it says otherwise.
 */
function installScriptsPolicy(
  ctx: Context,
  field: Field,
): InstallScriptsPolicy {
  const fields = section(ctx, field, PATH, INSTALL_SCRIPTS_KEYS);
  const except = fields?.get("except");
  return {
    network: choice(
      ctx,
      fields?.get("network"),
      `${PATH}.network`,
      ["deny", "allow-list"] as const,
    ) ?? "deny",
    files: choice(
      ctx,
      fields?.get("files"),
      `${PATH}.files`,
      ["protect-secrets", "allow"] as const,
    ) ?? "protect-secrets",
    action: choice(
      ctx,
      fields?.get("action"),
      `${PATH}.action`,
      ["deny", "kill"] as const,
    ) ?? "deny",
    except: except ? exceptions(ctx, except) : [],
  };
}

/** `except`: `name` or `name@version`, scoped names (`@scope/pkg`) too. */
function exceptions(ctx: Context, field: Field): PackageException[] {
  const seen = new Set<string>();
  const out: PackageException[] = [];
  for (const { text, node } of strings(ctx, field, `${PATH}.except`)) {
    const parsed = parseException(text);
    if (typeof parsed === "string") {
      fail(
        ctx,
        node,
        `invalid "${PATH}.except" entry ${JSON.stringify(text)}: ${parsed}`,
      );
    }
    if (seen.has(text)) continue;
    seen.add(text);
    out.push(parsed);
  }
  return out;
}

/** Characters no package name or version of a supported registry has
 * (besides control characters). */
const FORBIDDEN = /[\s"'`\\*?]/;

/** A `name[@version]` entry, or why it is not one. */
export function parseException(text: string): PackageException | string {
  if (text === "") return "empty package name";
  if (FORBIDDEN.test(text) || [...text].some((c) => c < " " || c === "\x7f")) {
    return "a package name has no spaces, quotes, backslashes or wildcards";
  }
  // `@scope/pkg@1.0.0`: the version's "@" is the one after the first char.
  const at = text.indexOf("@", 1);
  const name = at === -1 ? text : text.slice(0, at);
  const version = at === -1 ? undefined : text.slice(at + 1);
  if (name.startsWith("@") && !/^@[^/@]+\/[^/@]+$/.test(name)) {
    return 'a scoped name is "@scope/name"';
  }
  if (!name.startsWith("@") && /[/@]/.test(name)) {
    return 'a name has no "/" or "@" unless it is scoped ("@scope/name")';
  }
  if (version !== undefined && (version === "" || version.includes("@"))) {
    return 'the version after "@" is one exact version ("1.2.3")';
  }
  return version === undefined ? { name, text } : { name, version, text };
}
