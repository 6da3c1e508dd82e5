/**
 * Where a `ringfence start` keeps its pid file, report and exporter spool.
 *
 * @module
 */

/** The state directory: $RINGFENCE_STATE_DIR, or /var/lib/ringfence. */
export function stateDir(): string {
  return Deno.env.get("RINGFENCE_STATE_DIR") || "/var/lib/ringfence";
}
