/**
 * `process.deny` → what sensor.process matches: a path rule becomes the
 * file it names (device and inode, so that any path to it matches: a
 * symlink, a hard link, "//", "/./", a relative name, an fd) and the full
 * paths the kernel may resolve an exec of it to; a `**\/name` rule stays a
 * name.
 *
 * @module
 */

import type { ProcessPolicy } from "../policy/schema.ts";
import type { ExecDenyRule } from "../sensors/process.ts";

/** `path` with its symlinks resolved, or undefined when it does not exist. */
function realPath(path: string): string | undefined {
  try {
    return Deno.realPathSync(path);
  } catch {
    return undefined;
  }
}

/**
 * The kernel's rules for one forbidden path. A path that does not exist
 * yet (a tool the step may install) still matches by the path it will
 * resolve to: its directory's symlinks resolved ("/bin/nc" is
 * "/usr/bin/nc" where /bin links to usr/bin).
 */
function pathRule(rule: string): ExecDenyRule {
  const paths = new Set([rule]);
  const files: ExecDenyRule["files"] = [];
  const real = realPath(rule);
  if (real) {
    paths.add(real);
    const { dev, ino } = Deno.statSync(real);
    if (ino !== null) files.push({ dev, ino });
  } else {
    const slash = rule.lastIndexOf("/");
    const dir = realPath(rule.slice(0, slash) || "/");
    if (dir) paths.add(`${dir === "/" ? "" : dir}/${rule.slice(slash + 1)}`);
  }
  return { rule, files, paths: [...paths], names: [] };
}

/** The rules sensor.process matches for a policy's `process` section. */
export function execDenyRules(policy?: ProcessPolicy): ExecDenyRule[] {
  return [
    ...(policy?.denyPaths ?? []).map(pathRule),
    ...(policy?.denyNames ?? []).map((name) => ({
      rule: `**/${name}`,
      files: [],
      paths: [],
      names: [name],
    })),
  ];
}
