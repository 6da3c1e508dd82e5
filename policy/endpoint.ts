/**
 * How a policy spells a destination, as `network.allow` and
 * `network.dns.resolvers` read it (policy/network.ts): an IPv6 address in
 * brackets when a port follows, so that its colons are not read as one.
 *
 * @module
 */

/** `host:port`, `[v6]:port`, or the host alone for port 0 (any port). */
export function endpoint(host: string, port: number): string {
  const shown = host.includes(":") ? `[${host}]` : host;
  return port ? `${shown}:${port}` : shown;
}
