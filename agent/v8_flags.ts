/**
 * The V8 flags an agent runs with, shared by the command line
 * (cli/v8_flags.ts), the bundle and binaries (scripts/) and the bench.
 *
 * @module
 */

/**
 * The V8 flags the agent runs with in every form: `deno task start` and
 * `deno task run`, the bundle's shebang, the compiled executables, the
 * bench (so it measures what users run), and through
 * `ensureAgentV8Flags` (cli/v8_flags.ts) any other start.
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
