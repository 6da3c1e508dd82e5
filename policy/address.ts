/**
 * Strict IPv4/IPv6 address parsing, and the range arithmetic and text the
 * allow-list compiler needs.
 *
 * Strict because a policy is a security boundary: `010.0.0.1` means 8.0.0.1
 * to inet_aton() but 10.0.0.1 to most readers, so it is refused rather than
 * guessed at.
 *
 * @module
 */

/** An address family and its bytes in network order. */
export interface ParsedAddress {
  /** 4 or 6. */
  family: 4 | 6;
  /** 4 or 16 bytes. */
  address: Uint8Array;
}

const DECIMAL_OCTET = /^(0|[1-9][0-9]{0,2})$/;
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;

/**
 * Parses a dotted-quad IPv4 or an RFC 4291 IPv6 address (with `::` and an
 * optional dotted-quad tail). No zone ids, prefixes, ports or brackets.
 *
 * @returns null when `text` is not exactly one address.
 */
export function parseAddress(text: string): ParsedAddress | null {
  const v4 = parseIPv4(text);
  if (v4) return { family: 4, address: v4 };
  const v6 = parseIPv6(text);
  if (v6) return { family: 6, address: v6 };
  return null;
}

function parseIPv4(text: string): Uint8Array | null {
  const parts = text.split(".");
  if (parts.length !== 4) return null;
  const bytes = new Uint8Array(4);
  for (const [i, part] of parts.entries()) {
    if (!DECIMAL_OCTET.test(part)) return null;
    const value = Number(part);
    if (value > 255) return null;
    bytes[i] = value;
  }
  return bytes;
}

function parseIPv6(text: string): Uint8Array | null {
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const compressed = halves.length === 2;
  const head = parseGroups(halves[0], !compressed);
  const tail = compressed ? parseGroups(halves[1], true) : [];
  if (!head || !tail) return null;
  const explicit = head.length + tail.length;
  // "::" stands for at least one zero group.
  if (compressed ? explicit > 7 : explicit !== 8) return null;
  const groups = [...head, ...Array(8 - explicit).fill(0), ...tail];
  const bytes = new Uint8Array(16);
  groups.forEach((group, i) => {
    bytes[2 * i] = group >> 8;
    bytes[2 * i + 1] = group & 0xff;
  });
  return bytes;
}

/** Colon-separated hex groups; only the very last may be a dotted quad. */
function parseGroups(text: string, endsAddress: boolean): number[] | null {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (const [i, part] of parts.entries()) {
    if (endsAddress && i === parts.length - 1 && part.includes(".")) {
      const v4 = parseIPv4(part);
      if (!v4) return null;
      groups.push((v4[0] << 8) | v4[1], (v4[2] << 8) | v4[3]);
    } else if (HEX_GROUP.test(part)) {
      groups.push(parseInt(part, 16));
    } else {
      return null;
    }
  }
  return groups;
}

/**
 * `address/prefixLength` as text, for messages: a dotted quad, or RFC 5952
 * IPv6 as the URL standard writes a host (a policy range is never in the
 * IPv4-mapped form, the one case where the two differ: parseAllowRule
 * stores those as IPv4).
 */
export function formatRange(
  family: 4 | 6,
  address: Uint8Array,
  prefixLength: number,
): string {
  if (family === 4) return `${address.join(".")}/${prefixLength}`;
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((address[2 * i] << 8) | address[2 * i + 1]).toString(16),
  );
  const host = new URL(`http://[${groups.join(":")}]/`).hostname;
  return `${host.slice(1, -1)}/${prefixLength}`;
}

/** True for `::ffff:0:0/96`, the IPv4-mapped IPv6 range (RFC 4291 2.5.5.2). */
export function isV4Mapped(bytes: Uint8Array): boolean {
  return bytes.length === 16 && bytes.subarray(0, 10).every((b) => b === 0) &&
    bytes[10] === 0xff && bytes[11] === 0xff;
}

/**
 * Returns a copy of `bytes` with every bit after the first `prefixLength`
 * cleared, i.e. the network address of the range.
 */
export function maskAddress(
  bytes: Uint8Array,
  prefixLength: number,
): Uint8Array {
  const out = new Uint8Array(bytes);
  for (let i = 0; i < out.length; i++) {
    const keep = Math.min(8, Math.max(0, prefixLength - 8 * i));
    out[i] &= (0xff00 >> keep) & 0xff;
  }
  return out;
}
