/**
 * Turns a policy's `files` section into the rules sensor.file-system
 * applies: the compiled patterns and whether protected writes are stopped.
 *
 * Besides the policy's own `files.protect`, what the agent's integrity
 * rests on is always protected while the sensor is loaded: the sysctls
 * that make the kernel run a program outside any scope
 * (`kernel.core_pattern`, `kernel.modprobe`), the agents' root-only
 * records (/run/ringfence), and the paths the agent is given (its policy
 * file and state directory, see {@linkcode integrityPaths}). A policed
 * write to them is reported as a protected write, and in block mode with
 * `files.action: kill` its writer is killed as the open returns, before
 * it writes a byte.
 *
 * @module
 */

import { compileGlob } from "../policy/glob.ts";
import {
  DEFAULT_BULK_DIRS,
  type FilesPolicy,
  type Mode,
} from "../policy/schema.ts";
import {
  type FileRulesConfig,
  FileSystemRules,
  type InstallScriptFiles,
  type PathPattern,
} from "../sensors/file_system.ts";
import { normalizePath } from "../sensors/file_system_rules.ts";
import { absolutePath, RUN_DIR } from "./instance.ts";
import { GUARDED_SYSCTLS } from "./sysctl_guard.ts";

/** One literal path, no glob characters read into it. */
export function literalPath(path: string): PathPattern {
  const normal = normalizePath(path);
  return {
    text: normal,
    matches: (candidate) => candidate === normal,
    literal: { kind: "path", path: normal },
  };
}

/**
 * A directory and everything under it, no glob characters read into it.
 * The directory itself (a rename or removal of it) is matched in user
 * space, and left out of the protected files whose state is compared at
 * the stop: its mtime changes with every file written in it.
 */
export function literalTree(dir: string): PathPattern[] {
  const normal = normalizePath(dir);
  const prefix = normal === "/" ? "/" : `${normal}/`;
  return [{
    text: normal,
    matches: (candidate) => candidate === normal,
    literal: { kind: "prefix", prefix: normal, exact: false },
  }, {
    text: `${prefix}**`,
    matches: (candidate) => candidate.startsWith(prefix),
    literal: { kind: "prefix", prefix, exact: true },
  }];
}

/** What the agent is given to protect besides the fixed paths. */
export interface IntegrityPaths {
  /** The policy file in force. */
  policyFile?: string;
  /** The state directory of `ringfence start`. */
  stateDir?: string;
}

/**
 * The protected patterns the agent adds to every policy: the guarded
 * sysctls, /run/ringfence, and the policy file and state directory. A
 * state directory of fewer than two levels (`/`, `/tmp`) is left out: it
 * is shared with everything else.
 */
export function integrityPaths(paths: IntegrityPaths = {}): PathPattern[] {
  const patterns = [
    ...Object.values(GUARDED_SYSCTLS).map(literalPath),
    ...literalTree(RUN_DIR),
  ];
  if (paths.policyFile) {
    patterns.push(literalPath(absolutePath(paths.policyFile)));
  }
  if (paths.stateDir) {
    const dir = absolutePath(paths.stateDir);
    if (dir.split("/").filter(Boolean).length >= 2) {
      patterns.push(...literalTree(dir));
    }
  }
  return patterns;
}

/** The sensor's rules for `files` (already validated by the policy parser). */
export function fileRulesConfig(
  files: FilesPolicy | undefined,
  mode: Mode,
  implicit: readonly PathPattern[] = [],
  installScripts?: InstallScriptFiles,
): FileRulesConfig {
  return {
    watch: (files?.watch ?? []).map(compileGlob),
    protect: [...(files?.protect ?? []).map(compileGlob), ...implicit],
    secrets: (files?.secrets ?? []).map(compileGlob),
    enforce: mode === "block" && files?.action === "kill",
    summary: (files?.detail ?? "summary") === "summary",
    ...(installScripts && { installScripts }),
  };
}

/** A policy's `files` rules, as sensor.file-system applies them. */
export class FileRules extends FileSystemRules {
  /** The compiled patterns, the implicit protected ones last. */
  readonly config: FileRulesConfig;
  /** The policy's own `files.protect` patterns (not the implicit ones). */
  readonly ownProtect: readonly PathPattern[];
  /** `files.restore`: put a changed protected file back. */
  readonly restore: boolean;
  /** `files.bulk`: names of directories whose changes are summarised. */
  readonly bulk: readonly string[];

  /**
   * Compiles `files` under `mode`, with `implicit` protected patterns
   * ({@linkcode integrityPaths}) after the policy's own, and what
   * dependencies.install_scripts adds (agent/install_scripts.ts).
   */
  constructor(
    files: FilesPolicy | undefined,
    mode: Mode,
    implicit: readonly PathPattern[] = [],
    installScripts?: InstallScriptFiles,
  ) {
    const config = fileRulesConfig(files, mode, implicit, installScripts);
    super(config);
    this.config = config;
    this.ownProtect = config.protect.slice(
      0,
      config.protect.length - implicit.length,
    );
    this.restore = files?.restore ?? false;
    this.bulk = files?.bulk ?? DEFAULT_BULK_DIRS;
  }
}
