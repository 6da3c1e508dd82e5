/**
 * The report's "package" column: the dependency whose install or build
 * script a process descends from (`dependency` on every event of it).
 *
 * @module
 */

import type { Dependency } from "../sensors/event.ts";

/**
 * A dependency as the report shows it: `name@version (script)`, e.g.
 * `left-pad@1.3.0 (postinstall)`; undefined without one.
 */
export function describeDependency(
  dependency: Dependency | undefined,
): string | undefined {
  if (!dependency || typeof dependency.name !== "string") return undefined;
  const version = dependency.version ? `@${dependency.version}` : "";
  const script = dependency.script ? ` (${dependency.script})` : "";
  return `${dependency.name}${version}${script}`;
}
