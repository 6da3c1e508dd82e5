/**
 * What sensor.network holds in its maps, and their bytes: the config, the
 * allow tries (`allow_v4`, `allow_v6`), the trusted resolvers, the allowed
 * domains and the addresses DNS answers admitted (bpf/network.h).
 *
 * The input types here are the sensor's own: agent/network_policy.ts maps
 * a policy onto them.
 *
 * @module
 */

import { formatAddress } from "./address.ts";
import {
  arrayLength,
  decodeStruct,
  encodeStruct,
  type MapLayout,
  struct,
  type StructInput,
} from "./layout.ts";
import type { MapEntry } from "./sensor.ts";

/** `struct network_config`: the one value of the `net_config` array map. */
export const NETWORK_CONFIG = struct("network_config", 48, {
  mode: [0, "u32"],
  action: [4, "u32"],
  allow_loopback: [8, "u32"],
  generation: [12, "u32"],
  dns_min_ttl: [16, "u32"],
  dns_max_ttl: [20, "u32"],
  dns_queries: [24, "u32"],
  privileged: [28, "u32"],
  resolver_netns: [32, "u64"],
  install_scripts: [40, "u32"],
  resolver_port: [44, "u16"],
  pad: [46, "u16"],
});

/** `struct allow_ports`: the ports an address or a domain is allowed on. */
export const ALLOW_PORTS = struct("allow_ports", 20, {
  count: [0, "u16"],
  ports: [2, ["u16", 8]],
  udp: [18, "u16"],
});

/** `struct allow_key_v4`: key of the IPv4 allow trie. */
export const ALLOW_KEY_V4 = struct("allow_key_v4", 8, {
  prefixlen: [0, "u32"],
  addr: [4, ["u8", 4]],
});

/** `struct allow_key_v6`: key of the IPv6 allow trie. */
export const ALLOW_KEY_V6 = struct("allow_key_v6", 20, {
  prefixlen: [0, "u32"],
  addr: [4, ["u8", 16]],
});

/** `struct resolver_key`: key of the `resolvers` maps. */
export const RESOLVER_KEY = struct("resolver_key", 20, {
  family: [0, "u8"],
  pad: [1, "u8"],
  port: [2, "u16"],
  addr: [4, ["u8", 16]],
});

/** `struct domain_key`: key of the `domains` maps. */
export const DOMAIN_KEY = struct("domain_key", 132, {
  wildcard: [0, "u32"],
  name: [4, ["u8", 128]],
});

/** `struct dns_allow`: value of `dns_allow_v4` / `dns_allow_v6`. */
export const DNS_ALLOW = struct("dns_allow", 32, {
  expires_ns: [0, "u64"],
  ports: [8, ALLOW_PORTS],
});

/** `struct dns_key_v6`: key of `dns_allow_v6` (that of `dns_allow_v4` is a __u32). */
export const DNS_KEY_V6 = struct("dns_key_v6", 16, {
  addr: [0, ["u8", 16]],
});

/** The maps the loader reads and writes. */
export const NETWORK_MAPS = {
  net_config: { key: "u32", value: NETWORK_CONFIG },
  allow_v4: { key: ALLOW_KEY_V4, value: ALLOW_PORTS },
  allow_v4_gen1: { key: ALLOW_KEY_V4, value: ALLOW_PORTS },
  allow_v6: { key: ALLOW_KEY_V6, value: ALLOW_PORTS },
  allow_v6_gen1: { key: ALLOW_KEY_V6, value: ALLOW_PORTS },
  resolvers: { key: RESOLVER_KEY, value: "u32" },
  resolvers_gen1: { key: RESOLVER_KEY, value: "u32" },
  domains: { key: DOMAIN_KEY, value: ALLOW_PORTS },
  domains_gen1: { key: DOMAIN_KEY, value: ALLOW_PORTS },
  dns_allow_v4: { key: "u32", value: DNS_ALLOW },
  dns_allow_v6: { key: DNS_KEY_V6, value: DNS_ALLOW },
  runner_v4: { key: ALLOW_KEY_V4, value: ALLOW_PORTS },
  runner_v4_gen1: { key: ALLOW_KEY_V4, value: ALLOW_PORTS },
  runner_v6: { key: ALLOW_KEY_V6, value: ALLOW_PORTS },
  runner_v6_gen1: { key: ALLOW_KEY_V6, value: ALLOW_PORTS },
  dns_runner_v4: { key: "u32", value: DNS_ALLOW },
  dns_runner_v6: { key: DNS_KEY_V6, value: DNS_ALLOW },
} as const satisfies Record<string, MapLayout>;

/**
 * `enum domain_key_flag`: the bits of domain_key.wildcard, which names a
 * key stands for (the name, or its strict subdomains) and whose rule it
 * is (network.allow's, or scope.runner.allow's, for runner roots only).
 */
export const DomainKeyFlag = { wildcard: 1, runner: 2 } as const;

/** `enum network_mode`: network_config.mode. */
export const NetworkMode = { audit: 0, block: 1 } as const;

/** `enum network_action`: network_config.action. */
export const NetworkAction = { deny: 0, kill: 1 } as const;

/** `enum network_dns_queries`: network_config.dns_queries. */
export const NetworkDnsQueries = { allowedOnly: 0, any: 1 } as const;

/**
 * `enum network_privileged`: the bits of network_config.privileged, each
 * a primitive policed processes may use.
 */
export const NetworkPrivileged = {
  raw: 1,
  packet: 2,
  tun: 4,
  netfilter: 8,
} as const;

/**
 * A privileged network primitive: `raw` inet sockets, `packet` sockets,
 * `tun` (TUN/TAP attach) and `netfilter` (nftables/iptables-nft netlink).
 */
export type NetworkPrivileged = keyof typeof NetworkPrivileged;

/** How many ports one allow entry lists (`ALLOW_MAX_PORTS`). */
export const ALLOW_MAX_PORTS: number = arrayLength(ALLOW_PORTS, "ports");

/** Bytes of a domain name the sensor matches, in wire format. */
const DNS_NAME_MAX = arrayLength(DOMAIN_KEY, "name");

/** An address range the allow tries admit, and on which ports. */
export interface AllowPrefix {
  /** Significant leading bits of `address`. */
  prefixLength: number;
  /** 4 or 16 bytes in network order, host bits zeroed. */
  address: Uint8Array;
  /** Allowed destination ports; empty means any port. */
  ports: readonly number[];
}

/** A DNS server whose answers admit addresses for allowed names. */
export interface Resolver {
  /** 4 or 6. */
  family: 4 | 6;
  /** 4 or 16 bytes, network order. */
  address: Uint8Array;
  /** Usually 53. */
  port: number;
}

/**
 * An allowed domain: `name` (lower-case, no trailing dot, without `*.`),
 * `wildcard` (strict subdomains at any depth, not the name itself),
 * `port` (null or absent: any port) and `udp` (true: UDP too, not only
 * TCP, to the addresses its answers admit). Rules on the same name are
 * merged.
 */
export interface AllowedDomain {
  name: string;
  wildcard: boolean;
  port?: number | null;
  udp?: boolean;
}

/**
 * What runner roots may reach besides the rest of the policy
 * (scope.runner.allow): ranges in their own tries, domains in the domains
 * map under keys flagged {@linkcode DomainKeyFlag.runner}.
 */
export interface RunnerAllowMaps {
  /** IPv4 ranges. */
  v4: AllowPrefix[];
  /** IPv6 ranges. */
  v6: AllowPrefix[];
  /** Domains whose answers to a runner root admit their addresses to it. */
  domains: AllowedDomain[];
}

/** The whole policy the kernel holds; swapped at once by setPolicy(). */
export interface NetworkPolicyMaps {
  /** IPv4 ranges: the longest prefix containing an address answers. */
  v4: AllowPrefix[];
  /** IPv6 ranges, likewise. */
  v6: AllowPrefix[];
  /** Trusted resolvers; traffic to them (address and port) is allowed. */
  resolvers: Resolver[];
  /** Domains whose DNS answers admit their addresses. */
  domains: AllowedDomain[];
  /** What runner roots may reach besides; none when absent. */
  runner?: RunnerAllowMaps;
}

/** How the sensor acts on what it judges. */
export interface NetworkSettings {
  /** `audit` reports only; `block` makes connect()/sendto() fail (EPERM). */
  mode: "audit" | "block";
  /** In block mode, `kill` also sends SIGKILL to the process. Default deny. */
  action?: "deny" | "kill";
  /** Allow 127.0.0.0/8 and ::1 without a rule. Default true. */
  allowLoopback?: boolean;
  /** Seconds a DNS answer admits its addresses at least. Default 30. */
  dnsMinTtl?: number;
  /** ... and at most. Default 86400. */
  dnsMaxTtl?: number;
  /**
   * Which names a monitored process may ask a resolver: `allowed-only`
   * (those the allowed domains cover; others are refused in block mode,
   * reported in audit mode) or `any`. Default `allowed-only`.
   */
  dnsQueries?: "allowed-only" | "any";
  /**
   * The network namespace, by its cookie (SO_NETNS_COOKIE), whose
   * resolvers' answers admit addresses; 0n: the initial one. Default: the
   * loader's own namespace.
   */
  resolverNetns?: bigint;
  /**
   * The privileged primitives monitored processes may use; the others are
   * refused in block mode (raw sockets fail with EPERM, the rest kill the
   * caller) and reported as `audit` in audit mode. Default none.
   */
  allowPrivileged?: readonly NetworkPrivileged[];
  /**
   * dependencies.install_scripts as `InstallScriptRule` bits
   * (./install_scripts.ts); 0, the default: no rule.
   */
  installScripts?: number;
}

/** An address admitted by a DNS answer. */
export interface DnsAdmission {
  family: 4 | 6;
  address: string;
  /** Allowed ports; empty means any. */
  ports: number[];
  /** CLOCK_BOOTTIME nanoseconds when it lapses. */
  expiresNs: bigint;
}

/**
 * The `net_config` value for `settings` with policy maps `generation`
 * live, which hold `resolvers`.
 */
export function networkConfig(
  settings: Required<NetworkSettings>,
  generation: number,
  resolvers: readonly Resolver[] = [],
): StructInput<typeof NETWORK_CONFIG> {
  return {
    mode: NetworkMode[settings.mode],
    action: NetworkAction[settings.action],
    allow_loopback: settings.allowLoopback ? 1 : 0,
    generation,
    dns_min_ttl: settings.dnsMinTtl,
    dns_max_ttl: settings.dnsMaxTtl,
    dns_queries: settings.dnsQueries === "any"
      ? NetworkDnsQueries.any
      : NetworkDnsQueries.allowedOnly,
    privileged: settings.allowPrivileged.reduce(
      (bits, name) => bits | NetworkPrivileged[name],
      0,
    ),
    resolver_netns: settings.resolverNetns,
    install_scripts: settings.installScripts,
    resolver_port: resolverPort(resolvers),
  };
}

/**
 * The port all of `resolvers` answer on, 0 when they use more than one.
 * With none, any port will do: no packet is a resolver's.
 */
export function resolverPort(resolvers: readonly Resolver[]): number {
  const ports = new Set(resolvers.map((resolver) => resolver.port));
  if (ports.size === 0) return 53;
  return ports.size === 1 ? [...ports][0] : 0;
}

/**
 * Encodes an allow list: a count of 0 means any port, so pass `[]` for
 * that.
 *
 * @throws {RangeError} for more than {@linkcode ALLOW_MAX_PORTS} ports or
 *   a port outside 1-65535.
 */
export function encodeAllowPorts(
  ports: readonly number[],
  udp = 0,
): Uint8Array<ArrayBuffer> {
  if (ports.length > ALLOW_MAX_PORTS) {
    throw new RangeError(
      `at most ${ALLOW_MAX_PORTS} ports fit in one value, not ${ports.length}`,
    );
  }
  for (const port of ports) {
    if (!Number.isInteger(port) || port < 1 || port > 65535) {
      throw new RangeError(`invalid port ${port}`);
    }
  }
  return encodeStruct(ALLOW_PORTS, { count: ports.length, ports, udp });
}

/**
 * Encodes an allow trie key: the prefix length, then the address.
 *
 * @throws {RangeError} when the address or prefix does not fit `family`.
 */
export function encodeAllowKey(
  prefix: AllowPrefix,
  family: 4 | 6,
): Uint8Array<ArrayBuffer> {
  const layout = family === 4 ? ALLOW_KEY_V4 : ALLOW_KEY_V6;
  const size = arrayLength(layout, "addr");
  if (prefix.address.length !== size) {
    throw new RangeError(
      `an IPv${family} key needs ${size} address bytes, not ${prefix.address.length}`,
    );
  }
  const { prefixLength } = prefix;
  if (
    !Number.isInteger(prefixLength) || prefixLength < 0 ||
    prefixLength > 8 * size
  ) {
    throw new RangeError(`invalid IPv${family} prefix length ${prefixLength}`);
  }
  return encodeStruct(layout, {
    prefixlen: prefixLength,
    addr: prefix.address,
  });
}

/** The entries of an allow trie. */
export function allowEntries(
  prefixes: readonly AllowPrefix[],
  family: 4 | 6,
): MapEntry[] {
  return prefixes.map((prefix) => ({
    key: encodeAllowKey(prefix, family),
    value: encodeAllowPorts(prefix.ports),
  }));
}

/** Encodes a `resolvers` map key. */
export function encodeResolverKey(resolver: Resolver): Uint8Array<ArrayBuffer> {
  const size = resolver.family === 4 ? 4 : 16;
  if (resolver.address.length !== size) {
    throw new RangeError(
      `an IPv${resolver.family} resolver needs ${size} address bytes`,
    );
  }
  return encodeStruct(RESOLVER_KEY, {
    family: resolver.family,
    port: resolver.port,
    addr: resolver.address,
  });
}

/**
 * Encodes a domain name in DNS wire format, lowercased, with the final
 * zero byte: what the kernel compares the names of DNS answers with.
 *
 * @throws {RangeError} for an empty label, a label over 63 bytes or a name
 *   longer than the sensor matches, encoded.
 */
export function encodeDnsName(name: string): Uint8Array<ArrayBuffer> {
  const text = name.toLowerCase().replace(/\.$/, "");
  const labels = text === "" ? [] : text.split(".");
  const bytes: number[] = [];
  for (const label of labels) {
    const encoded = new TextEncoder().encode(label);
    if (encoded.length === 0 || encoded.length > 63) {
      throw new RangeError(`invalid label "${label}" in "${name}"`);
    }
    bytes.push(encoded.length, ...encoded);
  }
  bytes.push(0);
  if (bytes.length > DNS_NAME_MAX) {
    throw new RangeError(
      `"${name}" is ${bytes.length} bytes in DNS wire format; the sensor matches at most ${DNS_NAME_MAX}`,
    );
  }
  return new Uint8Array(bytes);
}

/**
 * Encodes the `domains` map contents: one entry per (name, wildcard), the
 * ports of rules on the same name merged (any port wins). UDP is allowed
 * on a port when a rule naming UDP lists it, and on any port only when an
 * any-port rule names UDP: an any-port rule for TCP alongside `port/udp`
 * rules keeps UDP refused, as one entry cannot say "any TCP, some UDP".
 *
 * @throws {RangeError} for a name too long for the sensor or more than
 *   {@linkcode ALLOW_MAX_PORTS} ports on one name.
 */
export function encodeDomains(
  domains: readonly AllowedDomain[],
  runner = false,
): MapEntry[] {
  const merged = new Map<
    string,
    {
      domain: AllowedDomain;
      ports: Set<number> | null;
      udpPorts: Set<number>;
      anyUdp: boolean;
    }
  >();
  for (const domain of domains) {
    const id = domainText(domain);
    const entry = merged.get(id) ??
      { domain, ports: new Set<number>(), udpPorts: new Set(), anyUdp: false };
    if (domain.port === null || domain.port === undefined) {
      entry.ports = null;
      entry.anyUdp ||= domain.udp === true;
    } else {
      entry.ports?.add(domain.port);
      if (domain.udp) entry.udpPorts.add(domain.port);
    }
    merged.set(id, entry);
  }
  return [...merged.values()].map(({ domain, ports, udpPorts, anyUdp }) => {
    const listed = ports ? [...ports].sort((a, b) => a - b) : [];
    const udp = ports
      ? listed.reduce(
        (bits, port, i) => udpPorts.has(port) ? bits | (1 << i) : bits,
        0,
      )
      : anyUdp
      ? 1
      : 0;
    return {
      key: encodeStruct(DOMAIN_KEY, {
        wildcard: (domain.wildcard ? DomainKeyFlag.wildcard : 0) |
          (runner ? DomainKeyFlag.runner : 0),
        name: encodeDnsName(domain.name),
      }),
      value: encodeAllowPorts(listed, udp),
    };
  });
}

/** Whether two domain lists admit the same names on the same ports. */
export function sameDomains(
  a: readonly AllowedDomain[],
  b: readonly AllowedDomain[],
): boolean {
  const text = (domains: readonly AllowedDomain[]) =>
    JSON.stringify(
      domains.map((d) =>
        `${domainText(d)}:${d.port ?? "any"}${d.udp ? "/udp" : ""}`
      ).sort(),
    );
  return text(a) === text(b);
}

function domainText(domain: AllowedDomain): string {
  return `${domain.wildcard ? "*." : ""}${domain.name}`;
}

/** Decodes a `dns_allow_v4` / `dns_allow_v6` entry. */
export function decodeDnsAdmission(
  family: 4 | 6,
  key: Uint8Array,
  value: Uint8Array,
): DnsAdmission {
  const { expires_ns, ports } = decodeStruct(DNS_ALLOW, value);
  return {
    family,
    address: formatAddress(family, key),
    ports: ports.ports.slice(0, Math.min(ports.count, ALLOW_MAX_PORTS)),
    expiresNs: expires_ns,
  };
}
