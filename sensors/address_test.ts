import assert from "node:assert/strict";
import { parseAddress } from "../policy/address.ts";
import { formatAddress } from "./address.ts";

function v6(text: string): Uint8Array {
  const parsed = parseAddress(text);
  assert.ok(parsed?.family === 6, `${text} is not IPv6`);
  return parsed.address;
}

Deno.test("formatAddress() writes IPv4 and RFC 5952 IPv6", () => {
  assert.equal(formatAddress(4, new Uint8Array([127, 0, 0, 2])), "127.0.0.2");
  const bytes = (text: number[]) => formatAddress(6, new Uint8Array(text));
  assert.equal(bytes([...Array(15).fill(0), 1]), "::1");
  assert.equal(
    bytes([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]),
    "2001:db8::1:0:0:1",
  );
  assert.equal(bytes(Array(16).fill(0)), "::");
});

Deno.test("formatAddress() writes canonical RFC 5952 text", () => {
  const cases: [string, string][] = [
    ["2606:50c0:0:0:0:0:0:0", "2606:50c0::"],
    ["2001:0DB8:0000:0000:0000:0000:0002:0001", "2001:db8::2:1"],
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"],
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"],
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"],
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["::ffff:1.2.3.4", "::ffff:1.2.3.4"],
    ["::ffff:0102:0304", "::ffff:1.2.3.4"],
    ["64:ff9b::c000:221", "64:ff9b::c000:221"],
  ];
  for (const [input, expected] of cases) {
    assert.equal(formatAddress(6, v6(input)), expected, input);
  }
  assert.equal(formatAddress(4, new Uint8Array([10, 0, 0, 1])), "10.0.0.1");
});

Deno.test("formatAddress() rejects bytes that do not fit the family", () => {
  assert.throws(() => formatAddress(4, new Uint8Array(16)), RangeError);
  assert.throws(() => formatAddress(6, new Uint8Array(4)), RangeError);
});
