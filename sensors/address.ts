/**
 * Addresses as the sensors report them: canonical text for the 4 or 16
 * bytes (network order) the kernel hands over.
 *
 * @module
 */

/**
 * Formats an address canonically: dotted quad for IPv4, RFC 5952 for IPv6
 * (lower case, longest zero run compressed, `::ffff:a.b.c.d` when mapped).
 *
 * @throws {RangeError} when the byte count does not match the family.
 */
export function formatAddress(family: 4 | 6, bytes: Uint8Array): string {
  const expected = family === 4 ? 4 : 16;
  if (bytes.length !== expected) {
    throw new RangeError(
      `an IPv${family} address has ${expected} bytes, not ${bytes.length}`,
    );
  }
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

/** `::ffff:0:0/96`, the IPv4-mapped range (RFC 4291 2.5.5.2). */
function isV4Mapped(bytes: Uint8Array): boolean {
  return bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff &&
    bytes[11] === 0xff;
}
