/**
 * Strict IPv4/IPv6 address parsing and canonical formatting.
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
 * Formats an address canonically: dotted quad for IPv4, RFC 5952 for IPv6
 * (lower case, longest zero run compressed, `::ffff:a.b.c.d` when mapped).
 *
 * @throws {RangeError} when the byte count does not match the family.
 */
export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  checkLength(family, bytes);
  if (family === 4) return bytes.join(".");
  if (isV4Mapped(bytes)) return `::ffff:${bytes.subarray(12).join(".")}`;
  const groups = Array.from(
    { length: 8 },
    (_, i) => ((bytes[2 * i] << 8) | bytes[2 * i + 1]).toString(16),
  );
  const [start, length] = longestZeroRun(groups);
  // RFC 5952 4.2.2: a single zero group is not compressed.
  if (length < 2) return groups.join(":");
  const before = groups.slice(0, start).join(":");
  const after = groups.slice(start + length).join(":");
  return `${before}::${after}`;
}

function longestZeroRun(groups: string[]): [number, number] {
  let best: [number, number] = [0, 0];
  let start = -1;
  for (let i = 0; i <= groups.length; i++) {
    if (i < groups.length && groups[i] === "0") {
      if (start < 0) start = i;
    } else if (start >= 0) {
      // Strictly longer, so the first of equal runs wins (RFC 5952 4.2.3).
      if (i - start > best[1]) best = [start, i - start];
      start = -1;
    }
  }
  return best;
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

function checkLength(family: 4 | 6, bytes: Uint8Array): void {
  const expected = family === 4 ? 4 : 16;
  if (bytes.length !== expected) {
    throw new RangeError(
      `an IPv${family} address has ${expected} bytes, not ${bytes.length}`,
    );
  }
}
