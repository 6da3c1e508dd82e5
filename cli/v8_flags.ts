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

import { execve } from "../sensors/libc.ts";

/**
 * The V8 flags the agent runs with in every form: `deno task start` and
 * `deno task run`, the bundle's shebang, the compiled executables, the
 * bench (so it measures what users run), and through
 * {@linkcode ensureAgentV8Flags} any other start.
 *
 * Under an exec burst V8's defaults let the agent's heap grow to many times
 * what is live: 16 MB semi-spaces promote every record still held across
 * two scavenges, and the old generation may grow to four times its live
 * size between mark-compacts. 1 MB semi-spaces and 20 % growth keep the
 * peak near the live size, lose no record, and start and decode as fast.
 * `--max-opt=2` stops at Maglev, V8's mid-tier compiler: TurboFan compiles
 * on a second thread that competes with the traced workload for a small
 * runner's cores, and its code and memory buy no speed for this agent.
 * `deno task bench` guards all three; docs/performance.md has the figures.
 */
export const AGENT_V8_FLAGS =
  "--max-semi-space-size=1,--heap-growing-percent=20,--max-opt=2";

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
