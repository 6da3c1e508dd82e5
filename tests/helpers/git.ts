/**
 * git for the tests that make a repository and clone it under an agent:
 * an identity on the command line, so that no global config is needed.
 *
 * @module
 */

import assert from "node:assert/strict";

/** The options every commit needs on a machine with no git identity. */
export const GIT = [
  "-c",
  "user.name=ci",
  "-c",
  "user.email=ci@example.invalid",
];

/** Runs `git ARGS` in `cwd`; fails the test with git's stderr. */
export async function git(cwd: string, ...args: string[]): Promise<void> {
  const output = await new Deno.Command("git", {
    args: [...GIT, ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}
