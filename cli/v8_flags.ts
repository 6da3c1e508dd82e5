/**
 * The V8 flags the agent runs with, and the restart that gives them to an
 * agent started without them (`deno run -A main.ts start`, `deno run -A
 * ringfence.js run`).
 *
 * V8 takes flags only at start (`node:v8`'s `setFlagsFromString` is a
 * no-op once its flags are frozen), so the compiled binaries embed them,
 * the bundle's shebang and the deno tasks pass them, and any other way of
 * starting an agent comes back here through execve with `DENO_V8_FLAGS`:
 * the same pid, the same arguments.
 *
 * @module
 */

import { AGENT_V8_FLAGS } from "../agent/v8_flags.ts";
import { execve } from "../sensors/libc.ts";

/** The commands that run an agent for a while. */
const AGENT_COMMANDS = new Set(["start", "run"]);

/**
 * Restarts this process with {@linkcode AGENT_V8_FLAGS} when `args` start
 * an agent and Deno was given no V8 flags; returns when nothing needs
 * doing or the restart is not possible.
 */
export function ensureAgentV8Flags(args: readonly string[]): void {
  if (!AGENT_COMMANDS.has(args[0])) return;
  try {
    if (Deno.env.get("DENO_V8_FLAGS") !== undefined) return;
    const exe = Deno.execPath();
    // A compiled binary is not `deno`, and carries its flags.
    if (!exe.endsWith("/deno")) return;
    const argv = Deno.readTextFileSync("/proc/self/cmdline").split("\0")
      .slice(0, -1);
    if (argv.some((arg) => arg.startsWith("--v8-flags"))) return;
    execve(exe, argv, {
      ...Deno.env.toObject(),
      DENO_V8_FLAGS: AGENT_V8_FLAGS,
    });
  } catch {
    // Without permission to read, to call libc or to exec: run as is.
  }
}
