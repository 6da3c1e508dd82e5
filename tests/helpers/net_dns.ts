/**
 * The test DNS server (net_dns_server.py) in a network namespace of the
 * test's own, for tests of sensor.network's DNS handling.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  DNS_SERVER,
  type NetHarness,
  PROBE,
  TestNetns,
} from "./net_harness.ts";

/** The resolver the test server plays: 127.0.0.53:53, as systemd-resolved. */
export const RESOLVER = {
  family: 4 as const,
  address: new Uint8Array([127, 0, 0, 53]),
  port: 53,
};

/** What else the namespace of {@linkcode withDns} gets. */
export interface DnsOptions {
  /** A file the server appends each query it receives to, as
   * "<name> <qtype> <udp|tcp>". */
  queryLog?: string;
  /** `ip` commands run in the namespace first. */
  setup?: string[][];
}

/**
 * A namespace with the test DNS server on 127.0.0.53:53, out of scope; it
 * plays the host's namespace, where the trusted resolvers answer from.
 */
export async function withDns(
  h: NetHarness,
  fn: (netns: TestNetns) => Promise<void>,
  { queryLog, setup = [] }: DnsOptions = {},
): Promise<void> {
  const netns = await TestNetns.create(setup);
  try {
    h.network.configure({ resolverNetns: await netns.cookie() });
    await Deno.mkdir(`/etc/netns/${netns.name}`, { recursive: true });
    await Deno.writeTextFile(
      `/etc/netns/${netns.name}/resolv.conf`,
      "nameserver 127.0.0.53\noptions attempts:1 timeout:2\n",
    );
    const server = h.spawnOutside(
      netns.exec([
        "python3",
        DNS_SERVER,
        "127.0.0.53",
        "53",
        ...(queryLog ? [queryLog] : []),
      ]),
    );
    assert.equal(await h.firstLine(server), "ready");
    await fn(netns);
  } finally {
    await netns.close();
  }
}

/**
 * The probe's `dig` of `name` at the test resolver (127.0.0.53:53), by
 * query type number and transport: it prints the answer's addresses, or
 * why there was none.
 */
export function digCommand(
  name: string,
  qtype = "1",
  transport: "udp" | "tcp" = "udp",
): string[] {
  return ["python3", PROBE, "dig", "127.0.0.53", "53", name, qtype, transport];
}
