/**
 * The records of sensor.network (`struct network_event`, bpf/network.h)
 * and their decoding into network_events of the JSON-lines contract.
 *
 * @module
 */

import { formatAddress } from "./address.ts";
import {
  type BaseEvent,
  decodeHeader,
  EVENT_HEADER,
  headerFlags,
  type TimeFormatter,
} from "./event.ts";
import { arrayLength, namesByValue, struct } from "./layout.ts";

/** `struct network_event` (bpf/network.h). */
export const NETWORK_EVENT = struct("network_event", 360, {
  header: [0, EVENT_HEADER],
  protocol: [56, "u8"],
  family: [57, "u8"],
  verdict: [58, "u8"],
  reason: [59, "u8"],
  dport: [60, "u16"],
  sport: [62, "u16"],
  daddr: [64, ["u8", 16]],
  saddr: [80, ["u8", 16]],
  qtype: [96, "u16"],
  query_size: [98, "u16"],
  query: [100, ["u8", 256]],
});

/** Bytes of a DNS name the sensor handles, in wire format (`DNS_NAME_MAX`). */
export const DNS_NAME_MAX: number = arrayLength(NETWORK_EVENT, "query");

/** `enum network_event_kind`: what a network_event says happened. */
export const NetworkKind = {
  connect: 1,
  send: 2,
  dns: 3,
  listen: 4,
  bind: 5,
  socket: 6,
} as const;

/** What a network_event says happened. */
export type NetworkKind = keyof typeof NetworkKind;

/** `enum network_verdict`. */
export const NetworkVerdict = { allow: 1, deny: 2, audit: 3 } as const;

/** `allow`; `deny` (blocked); `audit` (would have been denied in block mode). */
export type NetworkVerdict = keyof typeof NetworkVerdict;

/** `enum network_reason`: why a verdict was given. */
export const NetworkReason = {
  none: 0,
  allowed_by_rule: 1,
  loopback: 2,
  resolver: 3,
  exempt_root: 4,
  not_in_allow_list: 5,
  dns_resolver_not_allowed: 6,
  sni_not_allowed: 7,
  allowed_by_dns: 8,
  port_not_allowed: 9,
  not_enforced: 10,
  dns_query_not_allowed: 11,
  raw_socket: 12,
  packet_socket: 13,
  netfilter: 14,
  tun: 15,
  destination_changed: 16,
  udp_not_allowed: 17,
  name_not_verified: 18,
  exempt_root_outside_list: 19,
  install_script: 20,
} as const;

/** `enum network_event_flag`: header.flags of a network_event. */
export const NetworkFlag = {
  killed: 1,
  queryTruncated: 2,
  queryMalformed: 4,
} as const;

const KINDS = namesByValue(NetworkKind);
const VERDICTS = namesByValue(NetworkVerdict);
const REASONS = namesByValue(NetworkReason);

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

/** A network_event in the JSON-lines contract. */
export interface NetworkEvent extends BaseEvent {
  /** Which sensor's event. */
  type: "network_event";
  /** What the process did. */
  kind: NetworkKind;
  /** "tcp", "udp", "icmp", "icmpv6", ..., or the IP protocol number as
   * text; kind socket: also "packet", "netlink" (netfilter) or "tun". */
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
   * dns_query_not_allowed, sni_not_allowed, not_enforced (listen, bind);
   * socket: raw_socket, packet_socket, netfilter, tun (or exempt_root). */
  reason: string;
  /** dns: the name asked; sni_not_allowed: the TLS server name. */
  query?: string;
  /** dns: the query type, e.g. "A", "AAAA", or its number as text. */
  qtype?: string;
  /** dns: the name was longer than a DNS name may be; `query` is absent. */
  query_truncated?: boolean;
  /** dns: the message was no single standard query the sensor could read
   * (block mode refuses it); `query` is absent. */
  query_malformed?: boolean;
  /** The process was sent SIGKILL for this (block mode, action kill). */
  killed?: boolean;
  /** The process's executable, from the agent's process tree. */
  exe?: string;
  /** The processes that led to it, nearest first (at most 8). */
  ancestors?: { pid: number; comm: string }[];
}

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

const F = NETWORK_EVENT.fields;

/** Address families of the non-inet primitives a socket event reports. */
const AF_NETLINK = 16, AF_PACKET = 17;

/**
 * What a socket event's primitive speaks: the IP protocol of a raw inet
 * socket, "packet" for an AF_PACKET socket, "netlink" for a netfilter
 * netlink socket and "tun" for a TUN/TAP attach (family 0).
 */
function socketProtocol(family: number, protocol: number): string {
  if (family === AF_PACKET) return "packet";
  if (family === AF_NETLINK) return "netlink";
  if (family === 0) return "tun";
  return PROTOCOLS[protocol] ?? String(protocol);
}

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
  event.protocol = kind === "socket"
    ? socketProtocol(view.getUint8(offset + F.family), protocolNumber)
    : PROTOCOLS[protocolNumber] ?? String(protocolNumber);
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
    if (flags & NetworkFlag.queryTruncated) {
      event.query_truncated = true;
    } else if (flags & NetworkFlag.queryMalformed) {
      event.query_malformed = true;
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
  if (flags & NetworkFlag.killed) event.killed = true;
  return event;
}
