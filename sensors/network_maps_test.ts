import assert from "node:assert/strict";
import { parseAddress } from "../policy/address.ts";
import { decodeDnsName } from "./network_event.ts";
import {
  ALLOW_PORTS,
  encodeAllowKey,
  encodeAllowPorts,
  encodeDnsName,
  encodeDomains,
  resolverPort,
} from "./network_maps.ts";

function v6(text: string): Uint8Array {
  const parsed = parseAddress(text);
  assert.ok(parsed?.family === 6, `${text} is not IPv6`);
  return parsed.address;
}

Deno.test("encodeAllowKey() writes a little-endian prefix length then the address", () => {
  const key4 = encodeAllowKey(
    { prefixLength: 20, address: new Uint8Array([140, 82, 112, 0]), ports: [] },
    4,
  );
  assert.deepEqual(key4, new Uint8Array([20, 0, 0, 0, 140, 82, 112, 0]));
  const key6 = encodeAllowKey(
    { prefixLength: 128, address: v6("2606:50c0::1"), ports: [443] },
    6,
  );
  assert.equal(key6.length, 20);
  assert.deepEqual(
    key6,
    new Uint8Array([
      128,
      0,
      0,
      0,
      0x26,
      0x06,
      0x50,
      0xc0,
      ...Array(11).fill(0),
      1,
    ]),
  );
});

Deno.test("encodeAllowKey() rejects an address or prefix that does not fit", () => {
  const address = new Uint8Array([10, 0, 0, 0]);
  assert.throws(
    () => encodeAllowKey({ prefixLength: 8, address, ports: [] }, 6),
    RangeError,
  );
  assert.throws(
    () => encodeAllowKey({ prefixLength: 33, address, ports: [] }, 4),
    RangeError,
  );
  assert.throws(
    () => encodeAllowKey({ prefixLength: -1, address, ports: [] }, 4),
    RangeError,
  );
});

Deno.test("encodeAllowPorts() writes a u16 count, eight u16 ports, UDP bits", () => {
  assert.equal(ALLOW_PORTS.size, 20);
  assert.deepEqual(encodeAllowPorts([]), new Uint8Array(20));
  assert.deepEqual(
    encodeAllowPorts([53, 443, 65535]),
    new Uint8Array([3, 0, 53, 0, 0xbb, 0x01, 0xff, 0xff, ...Array(12).fill(0)]),
  );
  assert.deepEqual([...encodeAllowPorts([53, 443], 2).subarray(18)], [2, 0]);
  const full = encodeAllowPorts([1, 2, 3, 4, 5, 6, 7, 0x1234]);
  assert.deepEqual([...full.subarray(0, 4)], [8, 0, 1, 0]);
  assert.deepEqual([...full.subarray(16, 18)], [0x34, 0x12]);
});

Deno.test("encodeAllowPorts() rejects too many or invalid ports", () => {
  assert.throws(
    () => encodeAllowPorts([1, 2, 3, 4, 5, 6, 7, 8, 9]),
    RangeError,
  );
  assert.throws(() => encodeAllowPorts([0]), RangeError);
  assert.throws(() => encodeAllowPorts([65536]), RangeError);
  assert.throws(() => encodeAllowPorts([1.5]), RangeError);
});

Deno.test("DNS names round-trip through wire format, lowercased", () => {
  const wire = encodeDnsName("Api.GitHub.com.");
  assert.deepEqual(
    [...wire],
    [3, 97, 112, 105, 6, 103, 105, 116, 104, 117, 98, 3, 99, 111, 109, 0],
  );
  assert.equal(decodeDnsName(wire), "api.github.com");
  assert.throws(() => encodeDnsName("a..b"), RangeError);
  assert.throws(
    () => encodeDnsName(`${"a".repeat(60)}.`.repeat(3)),
    RangeError,
  );
});

Deno.test("encodeDomains() merges rules on one name; any port wins", () => {
  const entries = encodeDomains([
    { name: "github.com", wildcard: false, port: 443 },
    { name: "github.com", wildcard: false, port: 80 },
    { name: "github.com", wildcard: true, port: 443 },
    { name: "github.com", wildcard: true, port: null },
  ]);
  assert.equal(entries.length, 2);
  const [exact, wildcard] = entries;
  const view = (bytes: Uint8Array) => new DataView(bytes.buffer);
  assert.equal(view(exact.key).getUint32(0, true), 0);
  assert.equal(view(wildcard.key).getUint32(0, true), 1);
  assert.equal(decodeDnsName(exact.key.subarray(4)), "github.com");
  assert.deepEqual([...new Uint16Array(exact.value.buffer)].slice(0, 3), [
    2,
    80,
    443,
  ]);
  assert.equal(view(wildcard.value).getUint16(0, true), 0);
});

Deno.test("encodeDomains() allows UDP only on ports a rule names UDP for", () => {
  const udpBits = (domains: Parameters<typeof encodeDomains>[0]) =>
    encodeDomains(domains).map((entry) =>
      new DataView(entry.value.buffer).getUint16(18, true)
    );
  assert.deepEqual(
    udpBits([
      { name: "a.test", wildcard: false, port: 443, udp: true },
      { name: "a.test", wildcard: false, port: 80 },
      { name: "b.test", wildcard: false, port: 443 },
      { name: "c.test", wildcard: false, port: null, udp: true },
    ]),
    // a.test lists 80 then 443: bit 1
    [0b10, 0, 1],
  );
  // any port for TCP cannot also say "UDP to 443 only": UDP stays refused
  assert.deepEqual(
    udpBits([
      { name: "d.test", wildcard: false, port: null },
      { name: "d.test", wildcard: false, port: 443, udp: true },
    ]),
    [0],
  );
});

Deno.test("resolverPort() is the one port the resolvers share, else 0", () => {
  const at = (port: number) => ({
    family: 4 as const,
    address: new Uint8Array([127, 0, 0, 53]),
    port,
  });
  assert.equal(resolverPort([at(53), at(53)]), 53);
  assert.equal(resolverPort([at(5353)]), 5353);
  assert.equal(resolverPort([at(53), at(5353)]), 0);
  // no resolver: no packet is a resolver's, whatever its port
  assert.equal(resolverPort([]), 53);
});
