/**
 * sensor.network: outbound connections, UDP destinations, DNS queries,
 * listens and binds of the processes in scope, judged in the kernel
 * against an allow-list held in BPF maps (bpf/sensor.network.bpf.c).
 *
 * The policy maps exist in two generations; {@linkcode NetworkSensor}
 * writes the idle one and then flips `generation` in the config map, so a
 * policy swap (e.g. on SIGHUP) is atomic for the programs.
 *
 * @module
 */

import { formatAddress } from "../policy/address.ts";
import {
  type BaseEvent,
  decodeHeader,
  EVENT_HEADER,
  headerFlags,
  type StructLayout,
  type TimeFormatter,
} from "./event.ts";
import { BPF_ANY, mapDelete, mapKeys, mapLookup, mapUpdate } from "./libbpf.ts";
import { closeFd, openDirectory } from "./libc.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";
import { cgroup2Mount } from "./system.ts";

/** Bytes of a DNS name the sensor handles, in wire format (`DNS_NAME_MAX`). */
export const DNS_NAME_MAX = 128;

/** `struct network_event` (bpf/network.h). */
export const NETWORK_EVENT = {
  name: "network_event",
  size: 232,
  fields: {
    header: 0,
    protocol: 56,
    family: 57,
    verdict: 58,
    reason: 59,
    dport: 60,
    sport: 62,
    daddr: 64,
    saddr: 80,
    qtype: 96,
    query_size: 98,
    query: 100,
  },
} as const satisfies StructLayout;

/** `struct network_config`: the one value of the `net_config` array map. */
export const NETWORK_CONFIG = {
  name: "network_config",
  size: 24,
  fields: {
    mode: 0,
    action: 4,
    allow_loopback: 8,
    generation: 12,
    dns_min_ttl: 16,
    dns_max_ttl: 20,
  },
} as const satisfies StructLayout;

/** `struct allow_ports`: the value of the allow tries and domain map. */
export const ALLOW_PORTS = {
  name: "allow_ports",
  size: 18,
  fields: { count: 0, ports: 2 },
} as const satisfies StructLayout;

/** `struct resolver_key`: key of the `resolvers` maps. */
export const RESOLVER_KEY = {
  name: "resolver_key",
  size: 20,
  fields: { family: 0, pad: 1, port: 2, addr: 4 },
} as const satisfies StructLayout;

/** `struct domain_key`: key of the `domains` maps. */
export const DOMAIN_KEY = {
  name: "domain_key",
  size: 132,
  fields: { wildcard: 0, name: 4 },
} as const satisfies StructLayout;

/** `struct dns_allow`: value of `dns_allow_v4` / `dns_allow_v6`. */
export const DNS_ALLOW = {
  name: "dns_allow",
  size: 32,
  fields: { expires_ns: 0, ports: 8 },
} as const satisfies StructLayout;

/** `struct allow_key_v4` / `allow_key_v6`: keys of the LPM tries. */
export const ALLOW_KEY_V4 = {
  name: "allow_key_v4",
  size: 8,
  fields: { prefixlen: 0, addr: 4 },
} as const satisfies StructLayout;

/** See {@linkcode ALLOW_KEY_V4}. */
export const ALLOW_KEY_V6 = {
  name: "allow_key_v6",
  size: 20,
  fields: { prefixlen: 0, addr: 4 },
} as const satisfies StructLayout;

/** How many ports one allow entry lists (`ALLOW_MAX_PORTS`). */
export const ALLOW_MAX_PORTS = 8;

const KINDS = ["", "connect", "send", "dns", "listen", "bind"] as const;
const VERDICTS = ["", "allow", "deny", "audit"] as const;
const REASONS = [
  "none",
  "allowed_by_rule",
  "loopback",
  "resolver",
  "exempt_root",
  "not_in_allow_list",
  "dns_resolver_not_allowed",
  "sni_not_allowed",
  "allowed_by_dns",
  "port_not_allowed",
  "not_enforced",
] as const;
const FLAG_KILLED = 1;
const FLAG_QUERY_TRUNCATED = 2;

const PROTOCOLS: Readonly<Record<number, string>> = {
  1: "icmp",
  6: "tcp",
  17: "udp",
  58: "icmpv6",
  132: "sctp",
  136: "udplite",
  255: "raw",
};

const QTYPES: Readonly<Record<number, string>> = {
  1: "A",
  2: "NS",
  5: "CNAME",
  6: "SOA",
  12: "PTR",
  15: "MX",
  16: "TXT",
  28: "AAAA",
  33: "SRV",
  64: "SVCB",
  65: "HTTPS",
  255: "ANY",
};

/** What a network_event says happened. */
export type NetworkKind = "connect" | "send" | "dns" | "listen" | "bind";

/** `allow`; `deny` (blocked); `audit` (would have been denied in block mode). */
export type NetworkVerdict = "allow" | "deny" | "audit";

/** A network_event in the JSON-lines contract. */
export interface NetworkEvent extends BaseEvent {
  /** Which sensor's event. */
  type: "network_event";
  /** What the process did. */
  kind: NetworkKind;
  /** "tcp", "udp", "icmp", "icmpv6", ..., or the IP protocol number as text. */
  protocol: string;
  /** 4 or 6; an IPv4-mapped IPv6 peer (::ffff:a.b.c.d) is reported as 4. */
  family: 4 | 6;
  /** Destination address (listen, bind: the unspecified address). */
  daddr: string;
  /** Destination port, 0 when the protocol has none. */
  dport: number;
  /** Source address, when the socket had one. */
  saddr?: string;
  /** Source port, when the socket was bound. */
  sport?: number;
  /** What the policy made of it. */
  verdict: NetworkVerdict;
  /** Why: allowed_by_rule, loopback, resolver, allowed_by_dns, exempt_root,
   * not_in_allow_list, port_not_allowed, dns_resolver_not_allowed,
   * sni_not_allowed, not_enforced (listen, bind). */
  reason: string;
  /** dns: the name asked; sni_not_allowed: the TLS server name. */
  query?: string;
  /** dns: the query type, e.g. "A", "AAAA", or its number as text. */
  qtype?: string;
  /** dns: the name was longer than the sensor reads; `query` is absent. */
  query_truncated?: boolean;
  /** The process was sent SIGKILL for this (block mode, action kill). */
  killed?: boolean;
  /** The process's executable, from the agent's process tree. */
  exe?: string;
  /** The processes that led to it, nearest first (at most 8). */
  ancestors?: { pid: number; comm: string }[];
}

export { formatAddress };

/** Decodes a wire-format DNS name (length-prefixed labels) to dotted text. */
export function decodeDnsName(bytes: Uint8Array): string {
  const labels: string[] = [];
  let pos = 0;
  while (pos < bytes.length && bytes[pos] !== 0) {
    const length = bytes[pos];
    labels.push(
      String.fromCharCode(...bytes.subarray(pos + 1, pos + 1 + length)),
    );
    pos += 1 + length;
  }
  return labels.join(".");
}

/**
 * Encodes a domain name in DNS wire format, lowercased, with the final
 * zero byte: what the kernel compares the names of DNS answers with.
 *
 * @throws {RangeError} for an empty label, a label over 63 bytes or a name
 *   longer than {@linkcode DNS_NAME_MAX} bytes encoded.
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

const F = NETWORK_EVENT.fields;

/** Decodes one sensor.network record. */
export function decodeNetworkEvent(
  view: DataView,
  offset: number,
  time: TimeFormatter,
): NetworkEvent {
  const kind = KINDS[view.getUint8(offset + EVENT_HEADER.fields.kind)] ||
    "connect";
  const event = decodeHeader(
    view,
    offset,
    "network_event",
    kind,
    time,
  ) as NetworkEvent;
  const bytes = new Uint8Array(view.buffer, view.byteOffset);
  const family = view.getUint8(offset + F.family) === 6 ? 6 : 4;
  const protocolNumber = view.getUint8(offset + F.protocol);
  const addressLength = family === 4 ? 4 : 16;
  const daddr = bytes.subarray(
    offset + F.daddr,
    offset + F.daddr + addressLength,
  );
  const saddr = bytes.subarray(
    offset + F.saddr,
    offset + F.saddr + addressLength,
  );
  const sport = view.getUint16(offset + F.sport, true);
  const flags = headerFlags(view, offset);
  event.protocol = PROTOCOLS[protocolNumber] ?? String(protocolNumber);
  event.family = family;
  event.daddr = formatAddress(family, daddr);
  event.dport = view.getUint16(offset + F.dport, true);
  if (saddr.some((byte) => byte !== 0)) {
    event.saddr = formatAddress(family, saddr);
  }
  if (sport) event.sport = sport;
  event.verdict = VERDICTS[view.getUint8(offset + F.verdict)] || "allow";
  event.reason = REASONS[view.getUint8(offset + F.reason)] ??
    String(view.getUint8(offset + F.reason));
  if (kind === "dns") {
    const size = Math.min(
      view.getUint16(offset + F.query_size, true),
      DNS_NAME_MAX,
    );
    if (flags & FLAG_QUERY_TRUNCATED) {
      event.query_truncated = true;
    } else {
      event.query = decodeDnsName(
        bytes.subarray(offset + F.query, offset + F.query + size),
      );
      const qtype = view.getUint16(offset + F.qtype, true);
      event.qtype = QTYPES[qtype] ?? String(qtype);
    }
  } else if (view.getUint16(offset + F.query_size, true) > 0) {
    // sni_not_allowed: the server name the TLS hello asked for
    const size = Math.min(
      view.getUint16(offset + F.query_size, true),
      DNS_NAME_MAX,
    );
    event.query = decodeDnsName(
      bytes.subarray(offset + F.query, offset + F.query + size),
    );
  }
  if (flags & FLAG_KILLED) event.killed = true;
  return event;
}

/** One key/value pair of an allow trie, as policy/lpm.ts encodes them. */
export interface AllowEntry {
  /** `encodeLpmKey()`: u32 prefix length (LE), then the address bytes. */
  key: Uint8Array;
  /** `encodeLpmValue()`: u16 count, then 8 × u16 ports (LE). */
  value: Uint8Array;
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
 * An allowed domain, in the shape of policy's `DomainRule`: `name`
 * (lower-case, no trailing dot, without `*.`), `wildcard` (strict
 * subdomains at any depth, not the name itself) and `port` (null or
 * absent: any port). Rules on the same name are merged.
 */
export interface AllowedDomain {
  name: string;
  wildcard: boolean;
  port?: number | null;
}

/** The whole policy the kernel holds; swapped at once by setPolicy(). */
export interface NetworkPolicyMaps {
  /** IPv4 trie entries. */
  v4: AllowEntry[];
  /** IPv6 trie entries. */
  v6: AllowEntry[];
  /** Trusted resolvers; traffic to them (address and port) is allowed. */
  resolvers: Resolver[];
  /** Domains whose DNS answers admit their addresses. */
  domains: AllowedDomain[];
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
}

/** An address admitted by a DNS answer (see {@linkcode NetworkSensor.dnsAdmitted}). */
export interface DnsAdmission {
  family: 4 | 6;
  address: string;
  /** Allowed ports; empty means any. */
  ports: number[];
  /** CLOCK_BOOTTIME nanoseconds when it lapses. */
  expiresNs: bigint;
}

const GENERATION_MAPS = [
  {
    v4: "allow_v4",
    v6: "allow_v6",
    resolvers: "resolvers",
    domains: "domains",
  },
  {
    v4: "allow_v4_gen1",
    v6: "allow_v6_gen1",
    resolvers: "resolvers_gen1",
    domains: "domains_gen1",
  },
] as const;

/** The cgroup programs and how their links are named. */
const CGROUP_PROGRAMS = [
  ["sock_create", "cgroup/sock_create"],
  ["connect4", "cgroup/connect4"],
  ["connect6", "cgroup/connect6"],
  ["sendmsg4", "cgroup/sendmsg4"],
  ["sendmsg6", "cgroup/sendmsg6"],
  ["bind4", "cgroup/bind4"],
  ["bind6", "cgroup/bind6"],
  ["egress", "cgroup_skb/egress"],
  ["ingress", "cgroup_skb/ingress"],
] as const;

function portsValue(ports: readonly number[]): Uint8Array<ArrayBuffer> {
  if (ports.length > ALLOW_MAX_PORTS) {
    throw new RangeError(
      `at most ${ALLOW_MAX_PORTS} ports per entry, not ${ports.length}`,
    );
  }
  const value = new Uint8Array(ALLOW_PORTS.size);
  const view = new DataView(value.buffer);
  view.setUint16(0, ports.length, true);
  ports.forEach((port, i) => view.setUint16(2 + 2 * i, port, true));
  return value;
}

function readPorts(view: DataView, offset: number): number[] {
  const count = Math.min(view.getUint16(offset, true), ALLOW_MAX_PORTS);
  const ports: number[] = [];
  for (let i = 0; i < count; i++) {
    ports.push(view.getUint16(offset + 2 + 2 * i, true));
  }
  return ports;
}

/** Encodes a `resolvers` map key. */
export function encodeResolverKey(resolver: Resolver): Uint8Array<ArrayBuffer> {
  const size = resolver.family === 4 ? 4 : 16;
  if (resolver.address.length !== size) {
    throw new RangeError(
      `an IPv${resolver.family} resolver needs ${size} address bytes`,
    );
  }
  const key = new Uint8Array(RESOLVER_KEY.size);
  const view = new DataView(key.buffer);
  view.setUint8(0, resolver.family);
  view.setUint16(2, resolver.port, true);
  key.set(resolver.address, 4);
  return key;
}

/**
 * Encodes the `domains` map contents: one entry per (name, wildcard), the
 * ports of rules on the same name merged (any port wins).
 *
 * @throws {RangeError} for a name too long for the sensor or more than
 *   {@linkcode ALLOW_MAX_PORTS} ports on one name.
 */
export function encodeDomains(
  domains: readonly AllowedDomain[],
): Array<{ key: Uint8Array<ArrayBuffer>; value: Uint8Array<ArrayBuffer> }> {
  const merged = new Map<
    string,
    { domain: AllowedDomain; ports: Set<number> | null }
  >();
  for (const domain of domains) {
    const id = `${domain.wildcard ? "*." : ""}${domain.name}`;
    const entry = merged.get(id) ?? { domain, ports: new Set<number>() };
    if (domain.port === null || domain.port === undefined) entry.ports = null;
    else entry.ports?.add(domain.port);
    merged.set(id, entry);
  }
  return [...merged.values()].map(({ domain, ports }) => {
    const key = new Uint8Array(DOMAIN_KEY.size);
    new DataView(key.buffer).setUint32(0, domain.wildcard ? 1 : 0, true);
    key.set(encodeDnsName(domain.name), DOMAIN_KEY.fields.name);
    const list = ports ? [...ports].sort((a, b) => a - b) : [];
    return { key, value: portsValue(list) };
  });
}

function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  return new Uint8Array(bytes);
}

/**
 * The network sensor. Open it with the process sensor's `sharedMaps()`
 * so it sees the same scope, then {@linkcode Sensor.load},
 * {@linkcode NetworkSensor.configure}, {@linkcode NetworkSensor.setPolicy}
 * and {@linkcode NetworkSensor.attach}.
 */
export class NetworkSensor extends Sensor {
  #settings: Required<NetworkSettings> = {
    mode: "audit",
    action: "deny",
    allowLoopback: true,
    dnsMinTtl: 30,
    dnsMaxTtl: 86400,
  };
  #generation = 0;
  #policy: NetworkPolicyMaps = { v4: [], v6: [], resolvers: [], domains: [] };

  /** Opens sensor.network from its ELF bytes. */
  constructor(bytes: Uint8Array, options: SensorOptions = {}) {
    super("network", bytes, options);
  }

  /** Writes the config map once loaded; before attach. */
  protected override loaded(): void {
    super.loaded();
    this.#writeConfig();
  }

  /**
   * Attaches every cgroup program (multi-attach links) and the listen
   * raw tracepoint. `cgroupPath` defaults to the cgroup2 mount, read from
   * /proc/mounts. On failure, what was attached is detached by close().
   */
  attach(cgroupPath: string = cgroup2Mount()): void {
    const fd = openDirectory(cgroupPath);
    try {
      for (const [program, hook] of CGROUP_PROGRAMS) {
        this.adopt(
          this.object.program(program).attachCgroup(
            fd,
            `${hook} at ${cgroupPath}`,
          ),
        );
      }
    } finally {
      closeFd(fd);
    }
    this.attachBySection(["inet_sock_set_state"]);
  }

  /** Sets mode, action, loopback and DNS TTL bounds (takes effect at once). */
  configure(settings: NetworkSettings): void {
    this.#settings = { ...this.#settings, ...settings };
    this.#writeConfig();
  }

  /**
   * Replaces the policy in one step: writes the idle generation of the
   * maps, then makes it live. Parts not given keep their current value.
   * Addresses learned from DNS are forgotten when the domains change.
   *
   * @throws {import("./libbpf.ts").BpfError} when the kernel refuses an entry.
   */
  setPolicy(policy: Partial<NetworkPolicyMaps>): void {
    const next = { ...this.#policy, ...policy };
    const domains = encodeDomains(next.domains);
    const idle = 1 - this.#generation;
    const maps = GENERATION_MAPS[idle];
    this.#replace(
      maps.v4,
      8,
      next.v4.map(({ key, value }) => ({ key, value })),
    );
    this.#replace(maps.v6, 20, next.v6);
    this.#replace(
      maps.resolvers,
      RESOLVER_KEY.size,
      next.resolvers.map((resolver) => ({
        key: encodeResolverKey(resolver),
        value: new Uint8Array([1, 0, 0, 0]),
      })),
    );
    this.#replace(maps.domains, DOMAIN_KEY.size, domains);
    const domainsChanged = policy.domains !== undefined &&
      JSON.stringify(encodeDomainsText(this.#policy.domains)) !==
        JSON.stringify(encodeDomainsText(next.domains));
    this.#generation = idle;
    this.#policy = next;
    this.#writeConfig();
    if (domainsChanged) this.forgetDnsAdmissions();
  }

  /** Replaces the allow tries (entries from policy's encodeLpmKey/Value). */
  setAllowList(v4: AllowEntry[], v6: AllowEntry[]): void {
    this.setPolicy({ v4, v6 });
  }

  /** Replaces the trusted resolvers. */
  setResolvers(resolvers: Resolver[]): void {
    this.setPolicy({ resolvers });
  }

  /** Replaces the allowed domains. */
  setAllowedDomains(domains: AllowedDomain[]): void {
    this.setPolicy({ domains });
  }

  /** The generation of the policy maps the programs use now (0 or 1). */
  get generation(): number {
    return this.#generation;
  }

  /** Addresses DNS answers admitted that have not lapsed. */
  dnsAdmitted(): DnsAdmission[] {
    const admitted: DnsAdmission[] = [];
    for (const family of [4, 6] as const) {
      const fd = this.object.map(family === 4 ? "dns_allow_v4" : "dns_allow_v6")
        .fd;
      const value = new Uint8Array(DNS_ALLOW.size);
      const view = new DataView(value.buffer);
      for (const key of mapKeys(fd, family === 4 ? 4 : 16)) {
        if (!mapLookup(fd, copy(key), value)) continue;
        admitted.push({
          family,
          address: formatAddress(family, key),
          ports: readPorts(view, DNS_ALLOW.fields.ports),
          expiresNs: view.getBigUint64(0, true),
        });
      }
    }
    return admitted;
  }

  /** Forgets every address DNS answers admitted. */
  forgetDnsAdmissions(): void {
    for (
      const [name, size] of [["dns_allow_v4", 4], ["dns_allow_v6", 16]] as const
    ) {
      const fd = this.object.map(name).fd;
      for (const key of mapKeys(fd, size)) mapDelete(fd, copy(key));
    }
  }

  #writeConfig(): void {
    const s = this.#settings;
    const value = new Uint32Array([
      s.mode === "block" ? 1 : 0,
      s.action === "kill" ? 1 : 0,
      s.allowLoopback ? 1 : 0,
      this.#generation,
      s.dnsMinTtl,
      s.dnsMaxTtl,
    ]);
    mapUpdate(
      this.object.map("net_config").fd,
      new Uint8Array(4),
      new Uint8Array(value.buffer),
      BPF_ANY,
    );
  }

  #replace(
    name: string,
    keySize: number,
    entries: Array<{ key: Uint8Array; value: Uint8Array }>,
  ): void {
    const fd = this.object.map(name).fd;
    for (const key of mapKeys(fd, keySize)) mapDelete(fd, copy(key));
    for (const { key, value } of entries) mapUpdate(fd, copy(key), copy(value));
  }
}

function encodeDomainsText(domains: readonly AllowedDomain[]): string[] {
  return domains.map((d) =>
    `${d.wildcard ? "*." : ""}${d.name}:${d.port ?? "any"}`
  ).sort();
}
