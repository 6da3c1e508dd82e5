/**
 * dependencies.install_scripts, from the policy to the kernel: the rule's
 * bits in the network and file-system sensors' configs, the credential
 * files and workflow paths an install script may not touch, and the scope
 * flags that make a process one.
 *
 * The kernel marks a package manager's child SCOPE_DEP_PENDING at its
 * exec; until the agent has classified it (agent/dependencies.ts), it is
 * judged as an install script (fail closed), and its changes under bulk
 * directories are sent one by one. Once classified,
 * {@linkcode InstallScriptMarks.decide} clears the mark, sets
 * SCOPE_DEP_SCRIPT when it is a dependency's script (whose changes under
 * bulk directories stay one by one: the code a poisoned package runs), and
 * SCOPE_DEPENDENCY when the rule applies to that script's package: on the
 * process and on whatever it forked meanwhile, which inherited the pending
 * mark.
 *
 * @module
 */

import { compileGlob } from "../policy/glob.ts";
import type {
  InstallScriptsPolicy,
  PackageException,
  Policy,
} from "../policy/schema.ts";
import type { Dependency } from "../sensors/event.ts";
import type {
  FileSystemEvent,
  InstallScriptFiles,
  PathPattern,
} from "../sensors/file_system.ts";
import { InstallScriptRule } from "../sensors/install_scripts.ts";
import { type ProcessSensor, ScopeFlag } from "../sensors/process.ts";
import { literalPath, literalTree } from "./file_policy.ts";

/** Credential files by name, wherever they are (home or workspace). */
export const CREDENTIAL_NAMES: readonly string[] = Object.freeze([
  ".npmrc",
  ".netrc",
  ".pypirc",
  ".git-credentials",
]);

/** Credential trees and files under a home directory. */
export const HOME_CREDENTIAL_TREES: readonly string[] = Object.freeze([
  ".ssh",
  ".aws",
  ".config/gcloud",
]);

/** Credential files under a home directory (`~/.cargo/credentials*`). */
export const HOME_CREDENTIAL_FILES: readonly string[] = Object.freeze([
  ".docker/config.json",
  ".cargo/credentials",
  ".cargo/credentials.toml",
]);

/**
 * Whether `except` lists the package `name` at `version` (by name alone,
 * or by name and that exact version).
 */
export function isExcepted(
  except: readonly PackageException[],
  name: string,
  version?: string,
): boolean {
  return except.some((entry) =>
    entry.name === name &&
    (entry.version === undefined || entry.version === version)
  );
}

/** The bits of `install_scripts` in the sensors' configs; 0: no rule. */
export function installScriptRule(policy: Policy): number {
  const rule = policy.dependencies?.installScripts;
  if (!rule) return 0;
  return (rule.network === "deny"
    ? InstallScriptRule.networkDeny
    : InstallScriptRule.networkAllowList) |
    (rule.files === "protect-secrets" ? InstallScriptRule.filesProtect : 0) |
    (rule.action === "kill" ? InstallScriptRule.actionKill : 0) |
    (policy.mode === "block" ? InstallScriptRule.enforce : 0);
}

/** Whether the rule needs sensor.file-system (`files: protect-secrets`). */
export function installScriptsNeedFiles(policy: Policy): boolean {
  return policy.dependencies?.installScripts?.files === "protect-secrets";
}

/** Where the built-in paths are. */
export interface InstallScriptPlaces {
  /** Home directories whose credentials are protected. */
  homes: readonly string[];
  /** The job's workspace, whose `.github` is protected. */
  workspace: string;
}

/**
 * The homes and workspace of this machine: `$HOME`, `/root` and every
 * directory in `/home` (a job's user is rarely the agent's); the
 * workspace is `$GITHUB_WORKSPACE`, else the agent's working directory.
 */
export function installScriptPlaces(): InstallScriptPlaces {
  const homes = new Set<string>(["/root"]);
  const home = Deno.env.get("HOME");
  if (home?.startsWith("/")) homes.add(home);
  try {
    for (const entry of Deno.readDirSync("/home")) {
      if (entry.isDirectory) homes.add(`/home/${entry.name}`);
    }
  } catch { /* no /home */ }
  const workspace = Deno.env.get("GITHUB_WORKSPACE");
  return {
    homes: [...homes],
    workspace: workspace?.startsWith("/") ? workspace : Deno.cwd(),
  };
}

/**
 * The credential files an install script may not read: by name anywhere
 * (`.npmrc` in the workspace too), and the trees and files under each
 * home. Every one is a pattern the kernel matches exactly.
 */
export function credentialPatterns(homes: readonly string[]): PathPattern[] {
  const patterns = CREDENTIAL_NAMES.map((name) => compileGlob(`**/${name}`));
  for (const home of homes) {
    for (const tree of HOME_CREDENTIAL_TREES) {
      patterns.push(literalTree(`${home}/${tree}`)[1]);
    }
    for (const file of HOME_CREDENTIAL_FILES) {
      patterns.push(literalPath(`${home}/${file}`));
    }
  }
  return patterns;
}

/** The workspace's `.github` (workflows, actions): itself and its tree. */
export function workflowPatterns(workspace: string): PathPattern[] {
  return [
    literalPath(`${workspace}/.github`),
    literalTree(`${workspace}/.github`)[1],
  ];
}

/**
 * The file rules the policy's install-script rule adds, or undefined
 * when it has none (or `files: allow`).
 */
export function installScriptFiles(
  policy: Policy,
  places: InstallScriptPlaces = installScriptPlaces(),
): InstallScriptFiles | undefined {
  if (!installScriptsNeedFiles(policy)) return undefined;
  return {
    secrets: credentialPatterns(places.homes),
    protect: workflowPatterns(places.workspace),
    rule: installScriptRule(policy),
  };
}

/** The pids a process forked, and theirs, from /proc (threads' children too). */
export function procDescendants(pid: number): number[] {
  const found: number[] = [];
  const seen = new Set<number>([pid]);
  const stack = [pid];
  while (stack.length) {
    const parent = stack.pop()!;
    let tasks: string[] = [];
    try {
      tasks = [...Deno.readDirSync(`/proc/${parent}/task`)].map((t) => t.name);
    } catch { /* gone */ }
    for (const task of tasks) {
      let text = "";
      try {
        text = Deno.readTextFileSync(`/proc/${parent}/task/${task}/children`);
      } catch { /* gone */ }
      for (const word of text.split(" ")) {
        const child = Number(word);
        if (!word || !Number.isInteger(child) || seen.has(child)) continue;
        seen.add(child);
        found.push(child);
        stack.push(child);
      }
    }
  }
  return found;
}

/** What a decision did, for the caller's record. */
export interface Decision {
  /** The rule applies: SCOPE_DEPENDENCY set. */
  marked: boolean;
  /** The package is in `except`. */
  excepted: boolean;
  /** Processes whose flags changed (the script and its descendants). */
  pids: number[];
}

/**
 * Sets and clears the install-script flags in the scope map as the agent
 * classifies a package manager's children.
 */
export class InstallScriptMarks {
  readonly #process: ProcessSensor;
  readonly #rule: () => InstallScriptsPolicy | undefined;
  readonly #descendants: (pid: number) => number[];

  /**
   * `rule`: the policy's rule in force (read at each decision, so that a
   * reload applies to the next); `descendants`: what a process forked.
   */
  constructor(
    process: ProcessSensor,
    rule: () => InstallScriptsPolicy | undefined,
    descendants: (pid: number) => number[] = procDescendants,
  ) {
    this.#process = process;
    this.#rule = rule;
    this.#descendants = descendants;
  }

  /**
   * `pid` is classified: an install script of `dependency`, or none
   * (undefined). SCOPE_DEP_PENDING is cleared on it and on its pending
   * descendants; SCOPE_DEP_SCRIPT is set on them when it is a script, and
   * SCOPE_DEPENDENCY when the rule applies too.
   */
  decide(pid: number, dependency: Dependency | undefined): Decision {
    const rule = this.#rule();
    const excepted = !!dependency && !!rule &&
      isExcepted(rule.except, dependency.name, dependency.version);
    const marked = !!dependency && !!rule && !excepted;
    const pids: number[] = [];
    const update = (target: number, root: boolean) => {
      const entry = this.#process.scopeOf(target);
      if (!entry) return;
      // A descendant that is not pending was classified on its own (or
      // marked already): its flags are its decision's.
      if (!root && !(entry.flags & ScopeFlag.depPending)) return;
      let flags = entry.flags & ~ScopeFlag.depPending;
      if (dependency) flags |= ScopeFlag.depScript;
      if (marked) flags |= ScopeFlag.dependency;
      if (flags === entry.flags) return;
      this.#process.setScope(target, { ...entry, flags });
      pids.push(target);
    };
    update(pid, true);
    for (const child of this.#descendants(pid)) update(child, false);
    return { marked, excepted, pids };
  }
}

/**
 * Undoes what a killed install script's change left behind where the
 * kill came after the syscall: the file its open created (empty: it was
 * killed before writing), the directory it made, the name it linked or
 * renamed in. Sets `removed` on the event when it did.
 */
export function undoInstallScriptChange(event: FileSystemEvent): void {
  if (
    !event.killed || !event.reason.startsWith("dependencies.install_scripts")
  ) {
    return;
  }
  const target = event.kind === "rename" || event.kind === "link"
    ? event.new_path
    : event.kind === "create" || event.kind === "symlink" ||
        event.kind === "mkdir"
    ? event.path
    : undefined;
  if (!target) return;
  try {
    const info = Deno.lstatSync(target);
    // A created file is empty when its creator died at the open; anything
    // else there now is someone else's.
    if (event.kind === "create" && info.isFile && info.size !== 0) return;
    Deno.removeSync(target);
    event.removed = true;
  } catch { /* gone already, or not empty */ }
}
