/**
 * Turns a policy's `files` section into the rules sensor.file-system
 * applies: the compiled patterns and whether protected writes are stopped.
 *
 * @module
 */

import { compileGlob } from "../policy/glob.ts";
import type { FilesPolicy, Mode } from "../policy/schema.ts";
import {
  type FileRulesConfig,
  FileSystemRules,
} from "../sensors/file_system.ts";

/** The sensor's rules for `files` (already validated by the policy parser). */
export function fileRulesConfig(
  files: FilesPolicy | undefined,
  mode: Mode,
): FileRulesConfig {
  return {
    watch: (files?.watch ?? []).map(compileGlob),
    protect: (files?.protect ?? []).map(compileGlob),
    secrets: (files?.secrets ?? []).map(compileGlob),
    enforce: mode === "block" && files?.action === "kill",
  };
}

/** A policy's `files` rules, as sensor.file-system applies them. */
export class FileRules extends FileSystemRules {
  /** Compiles `files` under `mode`. */
  constructor(files: FilesPolicy | undefined, mode: Mode) {
    super(fileRulesConfig(files, mode));
  }
}
