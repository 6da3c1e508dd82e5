/**
 * Reading sudoers(5) text far enough to tell whether a file grants a user
 * anything: its user specifications, the users and groups they name, and
 * `User_Alias` definitions; and which programs switch users. Pure (no
 * I/O), so that it is tested alone and the report can use it.
 *
 * It does not need to be complete: `runner.sudo: deny` also installs a
 * drop-in that denies the user everything and checks with `sudo -l` that
 * nothing still grants it; this only decides which files to move away.
 *
 * @module
 */

/** Who a user is, for matching sudoers user lists. */
export interface SudoIdentity {
  /** The login name. */
  name: string;
  /** The numeric user id. */
  uid: number;
  /** Names of every group the user is in (primary and supplementary). */
  groups: readonly string[];
  /** Ids of those groups. */
  gids: readonly number[];
}

/** Directives that are not user specifications. */
const NOT_USER_SPEC =
  /^(Defaults\b|Host_Alias\b|Runas_Alias\b|Cmnd_Alias\b|Cmd_Alias\b|User_Alias\b|[@#]include(dir)?\b)/;

/**
 * The logical lines of sudoers text: comments removed (a `#` followed by
 * digits is a uid, `#include` a directive), continuation lines joined.
 */
export function sudoersLines(text: string): string[] {
  const lines: string[] = [];
  let pending = "";
  for (const raw of text.split("\n")) {
    let line = raw;
    if (!/^\s*#include/.test(line)) {
      line = line.replace(/(^|[^\\])#(?!\d).*$/, "$1");
    }
    if (pending) line = line.trimStart();
    if (/\\\s*$/.test(line)) {
      pending += line.replace(/\s*\\\s*$/, " ");
      continue;
    }
    const whole = (pending + line).trim();
    pending = "";
    if (whole) lines.push(whole);
  }
  if (pending.trim()) lines.push(pending.trim());
  return lines;
}

/** `User_Alias` definitions in sudoers text: alias name → members. */
export function userAliases(text: string): Map<string, string[]> {
  const aliases = new Map<string, string[]>();
  for (const line of sudoersLines(text)) {
    const match = /^User_Alias\s+(.*)$/.exec(line);
    if (!match) continue;
    // `User_Alias A = x, y : B = z`
    for (const definition of match[1].split(":")) {
      const eq = definition.indexOf("=");
      if (eq < 0) continue;
      aliases.set(
        definition.slice(0, eq).trim(),
        splitList(definition.slice(eq + 1)),
      );
    }
  }
  return aliases;
}

function splitList(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter(Boolean);
}

/** Whether one user list item names `who` (an alias through `aliases`). */
function itemMatches(
  item: string,
  who: SudoIdentity,
  aliases: ReadonlyMap<string, string[]>,
  depth = 0,
): boolean {
  const name = item.replace(/^"(.*)"$/, "$1");
  if (name.startsWith("!")) return false; // an exclusion grants nothing
  if (name === "ALL" || name === who.name || name === `#${who.uid}`) {
    return true;
  }
  if (name.startsWith("%#")) return who.gids.includes(Number(name.slice(2)));
  if (name.startsWith("%:")) return false; // non-Unix group
  if (name.startsWith("%")) return who.groups.includes(name.slice(1));
  const members = aliases.get(name);
  return !!members && depth < 8 &&
    members.some((member) => itemMatches(member, who, aliases, depth + 1));
}

/**
 * Whether sudoers `text` has a user specification that names `who`: by
 * name, uid, a group it is in, `ALL`, or a `User_Alias` (from `aliases`,
 * which should hold every file's definitions) that does.
 */
export function grantsUser(
  text: string,
  who: SudoIdentity,
  aliases: ReadonlyMap<string, string[]> = userAliases(text),
): boolean {
  for (const line of sudoersLines(text)) {
    if (NOT_USER_SPEC.test(line)) continue;
    // The user list ends at the first blank that does not follow a comma.
    const match = /^((?:[^\s,]+\s*,\s*)*[^\s,]+)\s+\S/.exec(line);
    if (!match || !line.includes("=")) continue;
    if (splitList(match[1]).some((item) => itemMatches(item, who, aliases))) {
      return true;
    }
  }
  return false;
}

/**
 * Whether sudo reads a file of an `@includedir` with this name: sudo skips
 * names that end in `~` or contain a `.`.
 */
export function includedByDir(name: string): boolean {
  return !name.endsWith("~") && !name.includes(".");
}

/** The file name of the drop-in that denies `user` everything. */
export function denyDropInName(user: string): string {
  // sudo skips names with a dot; a user name may have one
  return `zz-ringfence-deny-${user.replaceAll(".", "_")}`;
}

/**
 * The drop-in's text: the last rule matching the user denies every
 * command as every user and group. `NOPASSWD` makes sudo refuse at once
 * instead of asking for a password first.
 */
export function denyDropIn(user: string): string {
  return [
    "# ringfence: sudo is taken away from this user while the agent runs",
    "# (runner.sudo: deny); the agent removes this file when it stops.",
    `${user} ALL=(ALL:ALL) NOPASSWD: !ALL`,
    "",
  ].join("\n");
}

/** Programs that switch to another user, by file name. */
export const PRIVILEGE_TOOLS: ReadonlySet<string> = new Set([
  "sudo",
  "sudoedit",
  "su",
  "pkexec",
  "doas",
  "run0",
]);

/**
 * The privilege tool an exec ran, by the file name of its path (argv[0]
 * when it has none); undefined for any other program.
 */
export function privilegeTool(
  event: { path?: string; argv?: string[] },
): string | undefined {
  const path = event.path ?? event.argv?.[0] ?? "";
  const name = path.slice(path.lastIndexOf("/") + 1);
  return PRIVILEGE_TOOLS.has(name) ? name : undefined;
}
