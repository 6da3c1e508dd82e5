/**
 * `runner.sudo: deny`: takes the runner user's sudo rights away while the
 * agent runs, and gives them back exactly when it stops.
 *
 * Taking: every file of /etc/sudoers.d that grants the user (by name, uid,
 * a group it is in, `ALL` or a `User_Alias`) is moved into a root-only
 * backup directory, and a drop-in that sorts last denies the user every
 * command (sudoers: the last matching rule wins), which covers grants in
 * /etc/sudoers itself. The drop-in is checked with `visudo -cf` before it
 * is put in place, the whole configuration with `visudo -c` after, and
 * `sudo -l -U` must then refuse the user a shell; otherwise everything is
 * put back and the start fails.
 *
 * Giving back: the backup directory holds a manifest (written before any
 * file moves) naming the agent that took the rights (pid and start time).
 * The agent gives them back when it stops; when it died instead,
 * `ringfence stop`, `ringfence restore-sudo` (the job-completed hook) or
 * the next agent denying the same user (which adopts the manifest) finds
 * it. Files move by rename(2), so content, mode, owner and inode come back
 * as they were; across file systems they are copied with mode and owner.
 *
 * @module
 */

import {
  denyDropIn,
  denyDropInName,
  grantsUser,
  includedByDir,
  type SudoIdentity,
  userAliases,
} from "./sudoers.ts";
import { processStart } from "./procfs.ts";

/** Where sudo's configuration and the backups are. */
export interface SudoPaths {
  /** The main sudoers file. */
  sudoers: string;
  /** The directory sudo's `@includedir` reads. */
  sudoersDir: string;
  /** Root-only directory of backups, one subdirectory per user. */
  backupRoot: string;
}

/** The paths of a standard Linux host. */
export const SUDO_PATHS: SudoPaths = {
  sudoers: "/etc/sudoers",
  sudoersDir: "/etc/sudoers.d",
  backupRoot: "/var/lib/ringfence/sudo",
};

/** A process, identified so that pid reuse cannot pass for it. */
export interface ProcessIdentity {
  pid: number;
  /** Field 22 of /proc/PID/stat: start time in clock ticks after boot. */
  start: number;
}

/** A file moved out of the sudoers directory. */
interface MovedFile {
  name: string;
  mode: number;
  uid: number;
  gid: number;
}

/** What the backup directory records (manifest.json). */
interface Manifest {
  version: 1;
  user: string;
  agent: ProcessIdentity;
  /** Files of the sudoers directory moved into `files/`. */
  moved: MovedFile[];
  /** The deny drop-in's name in the sudoers directory. */
  dropIn: string;
}

/** This process, as a manifest names its owner. */
export function selfIdentity(): ProcessIdentity {
  return { pid: Deno.pid, start: processStart(Deno.pid) ?? 0 };
}

/** Whether the process still runs (same pid, same start time). */
export function isRunning(identity: ProcessIdentity): boolean {
  return processStart(identity.pid) === identity.start;
}

function command(
  program: string,
  args: string[],
): { code: number; stdout: string; stderr: string } {
  try {
    const output = new Deno.Command(program, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      // sudo -l and visudo need no environment of the agent's
      env: { PATH: "/usr/sbin:/usr/bin:/sbin:/bin", LC_ALL: "C" },
      clearEnv: true,
    }).outputSync();
    const decoder = new TextDecoder();
    return {
      code: output.code,
      stdout: decoder.decode(output.stdout),
      stderr: decoder.decode(output.stderr),
    };
  } catch (error) {
    return { code: 127, stdout: "", stderr: (error as Error).message };
  }
}

/** The user's uid and groups, from the system's user database. */
export function sudoIdentity(user: string): SudoIdentity | undefined {
  const uid = command("id", ["-u", user]);
  if (uid.code !== 0) return undefined;
  const groups = command("id", ["-Gn", user]).stdout.trim().split(/\s+/);
  const gids = command("id", ["-G", user]).stdout.trim().split(/\s+/).map(
    Number,
  );
  return {
    name: user,
    uid: Number(uid.stdout.trim()),
    groups: groups.filter(Boolean),
    gids: gids.filter(Number.isInteger),
  };
}

/** The user name of a uid; undefined when it has none. */
function userOfUid(uid: number): string | undefined {
  const result = command("id", ["-nu", String(uid)]);
  return result.code === 0 ? result.stdout.trim() || undefined : undefined;
}

/** The real uid of a process, from /proc/PID/status. */
function realUid(pid: number | string): number | undefined {
  try {
    const status = Deno.readTextFileSync(`/proc/${pid}/status`);
    const match = /^Uid:\s+(\d+)/m.exec(status);
    return match ? Number(match[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Running processes whose comm is one of `names`, with their identity. */
export function runningRoots(names: readonly string[]): ProcessIdentity[] {
  const roots: ProcessIdentity[] = [];
  if (!names.length) return roots;
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    let comm: string;
    try {
      comm = Deno.readTextFileSync(`/proc/${entry.name}/comm`).trimEnd();
    } catch {
      continue;
    }
    if (!names.includes(comm)) continue;
    const start = processStart(Number(entry.name));
    if (start !== undefined) roots.push({ pid: Number(entry.name), start });
  }
  return roots.sort((a, b) => a.pid - b.pid);
}

/**
 * Whose sudo rights to take: `configured` (runner.user), else the owner
 * (real uid, not root) of a running scope root, else $SUDO_USER, else a
 * user named `runner`. Throws with a one-line message when none is found
 * or the configured user does not exist.
 */
export function resolveSudoUser(
  configured: string | undefined,
  rootNames: readonly string[],
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string {
  if (configured) {
    if (!sudoIdentity(configured)) {
      throw new Error(
        `runner.sudo: deny: runner.user "${configured}" does not exist on this host`,
      );
    }
    return configured;
  }
  for (const root of runningRoots(rootNames)) {
    const uid = realUid(root.pid);
    if (uid === undefined || uid === 0) continue;
    const user = userOfUid(uid);
    if (user) return user;
  }
  const sudoUser = env("SUDO_USER");
  if (sudoUser && sudoUser !== "root" && sudoIdentity(sudoUser)) {
    return sudoUser;
  }
  if (sudoIdentity("runner")) return "runner";
  throw new Error(
    "runner.sudo: deny: cannot tell whose sudo rights to take (no runner.user, no scope root running as a user, no $SUDO_USER, no user named runner); set runner.user",
  );
}

/** The backup directory of `user`'s sudo rights. */
function backupDir(paths: SudoPaths, user: string): string {
  return `${paths.backupRoot}/${user}`;
}

function readManifest(dir: string): Manifest | undefined {
  try {
    const manifest = JSON.parse(
      Deno.readTextFileSync(`${dir}/manifest.json`),
    ) as Manifest;
    return manifest.version === 1 ? manifest : undefined;
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return undefined;
    throw new Error(
      `${dir}/manifest.json cannot be read: ${(error as Error).message}`,
    );
  }
}

/** Writes the manifest whole or not at all (a temporary file, renamed). */
function writeManifest(dir: string, manifest: Manifest): void {
  const temporary = `${dir}/manifest.json.tmp`;
  const file = Deno.openSync(temporary, {
    write: true,
    create: true,
    truncate: true,
    mode: 0o600,
  });
  try {
    file.writeSync(
      new TextEncoder().encode(JSON.stringify(manifest, null, 2) + "\n"),
    );
    file.syncSync();
  } finally {
    file.close();
  }
  Deno.renameSync(temporary, `${dir}/manifest.json`);
}

/** Makes `path` a directory only root can enter (mode 0700, owner root). */
function privateDir(path: string): void {
  Deno.mkdirSync(path, { recursive: true, mode: 0o700 });
  Deno.chownSync(path, 0, 0);
  Deno.chmodSync(path, 0o700);
}

/**
 * Moves a file, keeping content, mode and owner: rename(2) when both are
 * on one file system; otherwise a copy under a name sudo skips (it has a
 * dot), renamed into place, then the source removed.
 */
function moveFile(from: string, to: string, info: MovedFile): void {
  try {
    Deno.renameSync(from, to);
    return;
  } catch (error) {
    if ((error as { code?: string }).code !== "EXDEV") throw error;
  }
  const slash = to.lastIndexOf("/");
  const temporary = `${to.slice(0, slash)}/.ringfence-${to.slice(slash + 1)}`;
  Deno.writeFileSync(temporary, Deno.readFileSync(from), { mode: 0o600 });
  Deno.chownSync(temporary, info.uid, info.gid);
  Deno.chmodSync(temporary, info.mode);
  Deno.renameSync(temporary, to);
  Deno.removeSync(from);
}

/** Every User_Alias of the configuration (the main file and the drop-ins). */
function allAliases(paths: SudoPaths): Map<string, string[]> {
  const aliases = new Map<string, string[]>();
  const texts = [paths.sudoers];
  try {
    for (const entry of Deno.readDirSync(paths.sudoersDir)) {
      texts.push(`${paths.sudoersDir}/${entry.name}`);
    }
  } catch { /* no drop-in directory */ }
  for (const path of texts) {
    try {
      for (const [name, members] of userAliases(Deno.readTextFileSync(path))) {
        aliases.set(name, members);
      }
    } catch { /* unreadable: its grants are covered by the drop-in */ }
  }
  return aliases;
}

/** The drop-ins sudo reads that grant `who` something, sorted by name. */
function grantingFiles(paths: SudoPaths, who: SudoIdentity): string[] {
  const aliases = allAliases(paths);
  const names: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(paths.sudoersDir)];
  } catch {
    return names;
  }
  for (const entry of entries) {
    if (!entry.isFile || !includedByDir(entry.name)) continue;
    if (entry.name === denyDropInName(who.name)) continue;
    let text: string;
    try {
      text = Deno.readTextFileSync(`${paths.sudoersDir}/${entry.name}`);
    } catch {
      continue;
    }
    if (grantsUser(text, who, aliases)) names.push(entry.name);
  }
  return names.sort();
}

/** Whether sudo's whole configuration parses (`visudo -c`). */
function configValid(paths: SudoPaths): boolean {
  return command("visudo", ["-c", "-q", "-f", paths.sudoers]).code === 0;
}

/** Whether sudo would let `user` run a shell as root (`sudo -l -U`). */
function sudoGrantsShell(user: string): boolean {
  return command("sudo", ["-n", "-l", "-U", user, "/bin/sh"]).code === 0;
}

/** Whether the sudo binary is installed. */
export function sudoInstalled(): boolean {
  return command("sudo", ["-V"]).code === 0;
}

/** What {@linkcode takeSudo} did, for the agent's start-up line. */
export interface SudoTaken {
  user: string;
  /** The drop-ins moved to the backup directory. */
  moved: string[];
  /** The deny drop-in installed. */
  dropIn: string;
  /** The backup directory (manifest.json and files/). */
  backup: string;
  /** The agent that took them before, whose backup this one adopted. */
  adopted?: ProcessIdentity;
}

/**
 * Takes `user`'s sudo rights away on behalf of `owner` (this agent). A
 * manifest left by an agent that has died is adopted; one of an agent
 * still running is an error. Throws with a one-line message, and puts
 * back what it changed, when the rights cannot be taken.
 */
export function takeSudo(
  user: string,
  owner: ProcessIdentity = selfIdentity(),
  paths: SudoPaths = SUDO_PATHS,
): SudoTaken {
  const who = sudoIdentity(user);
  if (!who) throw new Error(`runner.sudo: deny: no user "${user}"`);
  if (!sudoInstalled()) {
    throw new Error(
      "runner.sudo: deny: sudo is not installed here, so visudo cannot check the deny rule",
    );
  }
  privateDir(paths.backupRoot);
  const dir = backupDir(paths, user);
  const previous = readManifest(dir);
  if (
    previous && isRunning(previous.agent) &&
    previous.agent.pid !== owner.pid
  ) {
    throw new Error(
      `runner.sudo: deny: ${user}'s sudo rights are already held by the agent with pid ${previous.agent.pid}`,
    );
  }
  privateDir(dir);
  privateDir(`${dir}/files`);
  const wasValid = configValid(paths);
  const manifest: Manifest = {
    version: 1,
    user,
    agent: owner,
    moved: previous?.moved ?? [],
    dropIn: denyDropInName(user),
  };
  const planned = grantingFiles(paths, who).filter((name) =>
    !manifest.moved.some((moved) => moved.name === name)
  );
  for (const name of planned) {
    const info = Deno.statSync(`${paths.sudoersDir}/${name}`);
    manifest.moved.push({
      name,
      mode: info.mode! & 0o7777,
      uid: info.uid!,
      gid: info.gid!,
    });
  }
  // Recorded before anything moves: whoever gives the rights back finds
  // every file, however far this gets.
  writeManifest(dir, manifest);
  try {
    for (const moved of manifest.moved) {
      const from = `${paths.sudoersDir}/${moved.name}`;
      const to = `${dir}/files/${moved.name}`;
      if (exists(to)) continue; // moved by the agent adopted
      if (exists(from)) moveFile(from, to, moved);
    }
    installDropIn(paths, user);
    if (wasValid && !configValid(paths)) {
      throw new Error(
        "runner.sudo: deny: the sudoers configuration does not parse with the deny rule",
      );
    }
    if (sudoGrantsShell(user)) {
      throw new Error(
        `runner.sudo: deny: a sudoers rule read after ${paths.sudoersDir}/${manifest.dropIn} still grants ${user} a root shell`,
      );
    }
  } catch (error) {
    restoreFrom(dir, paths);
    throw error;
  }
  return {
    user,
    moved: planned,
    dropIn: `${paths.sudoersDir}/${manifest.dropIn}`,
    backup: dir,
    ...(previous ? { adopted: previous.agent } : {}),
  };
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Writes the deny drop-in under a name sudo skips, checks it with
 * `visudo -cf`, and renames it into place.
 */
function installDropIn(paths: SudoPaths, user: string): void {
  const target = `${paths.sudoersDir}/${denyDropInName(user)}`;
  const temporary = `${paths.sudoersDir}/.ringfence-${denyDropInName(user)}`;
  Deno.mkdirSync(paths.sudoersDir, { recursive: true, mode: 0o755 });
  Deno.writeTextFileSync(temporary, denyDropIn(user), { mode: 0o440 });
  Deno.chownSync(temporary, 0, 0);
  Deno.chmodSync(temporary, 0o440);
  const check = command("visudo", ["-c", "-q", "-f", temporary]);
  if (check.code !== 0) {
    Deno.removeSync(temporary);
    throw new Error(
      `runner.sudo: deny: visudo refuses the deny rule: ${
        (check.stderr || check.stdout).trim().split("\n")[0]
      }`,
    );
  }
  Deno.renameSync(temporary, target);
}

/** What {@linkcode restoreFrom} gave back. */
export interface SudoRestored {
  user: string;
  /** Files put back in the sudoers directory. */
  restored: string[];
  /** Files left in the backup because one of the same name is back. */
  kept: string[];
  /** The agent that had taken them. */
  agent: ProcessIdentity;
}

/**
 * Gives back what the manifest in `dir` records: the deny drop-in goes,
 * each moved file comes back (one that has reappeared in the meantime is
 * not overwritten: its backup stays), then the manifest and directory go.
 */
function restoreFrom(
  dir: string,
  paths: SudoPaths,
): SudoRestored | undefined {
  const manifest = readManifest(dir);
  if (!manifest) return undefined;
  const restored: string[] = [], kept: string[] = [];
  try {
    Deno.removeSync(`${paths.sudoersDir}/${manifest.dropIn}`);
  } catch { /* not installed yet */ }
  for (const moved of manifest.moved) {
    const from = `${dir}/files/${moved.name}`;
    const to = `${paths.sudoersDir}/${moved.name}`;
    if (!exists(from)) continue; // never moved
    if (exists(to)) {
      kept.push(moved.name);
      continue;
    }
    moveFile(from, to, moved);
    restored.push(moved.name);
  }
  if (kept.length === 0) Deno.removeSync(dir, { recursive: true });
  else {
    manifest.moved = manifest.moved.filter((m) => kept.includes(m.name));
    writeManifest(dir, manifest);
  }
  return { user: manifest.user, restored, kept, agent: manifest.agent };
}

/** Gives back the rights {@linkcode takeSudo} took for `user`. */
export function giveBackSudo(
  user: string,
  paths: SudoPaths = SUDO_PATHS,
): SudoRestored | undefined {
  return restoreFrom(backupDir(paths, user), paths);
}

/**
 * Gives back every user's sudo rights whose taker is no longer running
 * (an agent killed, or one that died): what `ringfence stop` and the
 * job-completed hook do after the agent has gone.
 */
export function giveBackAbandoned(
  paths: SudoPaths = SUDO_PATHS,
): SudoRestored[] {
  const done: SudoRestored[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(paths.backupRoot)];
  } catch {
    return done;
  }
  for (const entry of entries) {
    if (!entry.isDirectory) continue;
    const dir = `${paths.backupRoot}/${entry.name}`;
    const manifest = readManifest(dir);
    if (!manifest || isRunning(manifest.agent)) continue;
    const result = restoreFrom(dir, paths);
    if (result) done.push(result);
  }
  return done;
}

/** The line that says what a give-back did. */
export function restoredLine(result: SudoRestored, died: boolean): string {
  const files = result.restored.length
    ? ` (${result.restored.join(", ")} back in place)`
    : "";
  const kept = result.kept.length
    ? `; ${
      result.kept.join(", ")
    } left in the backup: a file of that name is back`
    : "";
  return `sudo rights of ${result.user} given back${files}${
    died ? ` after the agent (pid ${result.agent.pid}) had died` : ""
  }${kept}`;
}
