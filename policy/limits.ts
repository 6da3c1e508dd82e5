/**
 * What the kernel's maps hold, for the parser to refuse a policy beyond
 * them at the entry that does not fit, before anything is loaded.
 * tests/layout_test.ts holds each figure to the `max_entries` of its map
 * in the compiled sensors.
 *
 * @module
 */

/** scope.processes: `scope_root_comms` (sensor.process). */
export const SCOPE_PROCESSES_MAX = 64;
/** network.dns.resolvers: `resolvers` (sensor.network). */
export const RESOLVERS_MAX = 64;
/** Domain rules of network.allow: `domains` (sensor.network). */
export const DOMAINS_MAX = 4096;
/** Domain rules of scope.runner.allow: `dns_runner_v4`/`_v6`. */
export const RUNNER_DOMAINS_MAX = 4096;
/** Trie entries per address family: `allow_v4`, `allow_v6`, `runner_*`. */
export const PREFIXES_MAX = 16384;
