// Shared by the action's main and post steps: inputs, the state directory
// and running the runner hooks as root.
import { spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository checkout of the action (for scripts/). */
export const ACTION_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The post step's script, as the runner runs it (`node <path>`). */
export const POST_SCRIPT = join(ACTION_ROOT, "action", "post.mjs");

/** Where the agent's pid, events, log, policy and binary go. */
export const STATE_DIR = join(process.env.RUNNER_TEMP ?? "/tmp", "ringfence");

/** An input as the runner passes it (INPUT_<NAME>). */
export function input(name) {
  const key = `INPUT_${name.replace(/ /g, "_").toUpperCase()}`;
  return (process.env[key] ?? "").trim();
}

/** Sets a step output. */
export function setOutput(name, value) {
  if (process.env.GITHUB_OUTPUT) {
    appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`);
  }
}

/** Runs a shell script as root (through sudo unless already root). */
export function runAsRoot(script, args, env) {
  const root = typeof process.getuid === "function" && process.getuid() === 0;
  const command = root ? "sh" : "sudo";
  const assignments = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  const argv = root
    ? [script, ...args]
    : ["-n", "env", ...assignments, "sh", script, ...args];
  const result = spawnSync(command, argv, {
    stdio: "inherit",
    env: { ...process.env, ...env },
  });
  if (result.error) throw result.error;
  return result.status ?? 1;
}
