// Shared by the action's pre, main and post steps: inputs, step state, the
// state directory and running the runner hooks as root. Plain Node (20 and
// 24), no npm dependencies: the runner runs these files as they are.
import { spawnSync } from "node:child_process";
import { appendFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository checkout of the action (for scripts/). */
export const ACTION_ROOT = join(dirname(fileURLToPath(import.meta.url)), "..");

/** The main step's script, as the runner runs it (`node <path>`). */
export const MAIN_SCRIPT = join(ACTION_ROOT, "action", "main.mjs");

/** The post step's script, as the runner runs it (`node <path>`). */
export const POST_SCRIPT = join(ACTION_ROOT, "action", "post.mjs");

/**
 * The job's state directory: the agent's pid, events, log, report, policy
 * and binary. The rule of `ringfence start`/`stop` and the runner hooks:
 * $RINGFENCE_STATE_DIR, else $RUNNER_TEMP/ringfence, else
 * /var/lib/ringfence.
 */
export const STATE_DIR = process.env.RINGFENCE_STATE_DIR ||
  (process.env.RUNNER_TEMP
    ? join(process.env.RUNNER_TEMP, "ringfence")
    : "/var/lib/ringfence");

/** An input as the runner passes it (INPUT_<NAME>, hyphens kept). */
export function input(name) {
  const key = `INPUT_${name.replace(/ /g, "_").toUpperCase()}`;
  return (process.env[key] ?? "").trim();
}

/** A boolean input: `true` (any case) or not. */
export function flagInput(name) {
  return input(name).toLowerCase() === "true";
}

/** Sets a step output. */
export function setOutput(name, value) {
  if (process.env.GITHUB_OUTPUT) {
    appendFileSync(process.env.GITHUB_OUTPUT, `${name}=${value}\n`);
  }
}

/** Saves a value for the later steps of this action (STATE_<name>). */
export function saveState(name, value) {
  if (process.env.GITHUB_STATE) {
    appendFileSync(process.env.GITHUB_STATE, `${name}=${value}\n`);
  }
}

/** A value an earlier step of this action saved. */
export function getState(name) {
  return process.env[`STATE_${name}`] ?? "";
}

/** Text for a workflow command's message: one line, `%` escaped. */
export function escapeData(text) {
  return String(text).replace(/%/g, "%25").replace(/\r/g, "%0D").replace(
    /\n/g,
    "%0A",
  );
}

/** An `::error` annotation, then exit 1. */
export function fail(message) {
  console.log(`::error title=ringfence::${escapeData(message)}`);
  process.exit(1);
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
