import assert from "node:assert/strict";
import {
  arrayLength,
  decodeInt,
  decodeStruct,
  encodeInt,
  encodeStruct,
  namesByValue,
  sizeOf,
  struct,
} from "./layout.ts";

const INNER = struct("inner", 6, {
  count: [0, "u16"],
  items: [2, ["u16", 2]],
});

const OUTER = struct("outer", 40, {
  small: [0, "u8"],
  signed: [4, "s32"],
  big: [8, "u64"],
  inner: [16, INNER],
  name: [22, ["char", 8]],
  bytes: [30, ["u8", 4]],
  last: [36, "u32"],
});

Deno.test("encodeStruct() writes each field at its offset, little-endian", () => {
  const bytes = encodeStruct(OUTER, {
    small: 7,
    signed: -2,
    big: 0x0102030405060708n,
    inner: { count: 1, items: [0x1234] },
    name: "ab",
    bytes: new Uint8Array([9, 8]),
    last: 0xdeadbeef,
  });
  assert.equal(bytes.length, 40);
  assert.deepEqual([...bytes.subarray(0, 8)], [
    7,
    0,
    0,
    0,
    0xfe,
    0xff,
    0xff,
    0xff,
  ]);
  assert.deepEqual([...bytes.subarray(8, 16)], [8, 7, 6, 5, 4, 3, 2, 1]);
  assert.deepEqual([...bytes.subarray(16, 22)], [1, 0, 0x34, 0x12, 0, 0]);
  assert.deepEqual([...bytes.subarray(22, 30)], [97, 98, 0, 0, 0, 0, 0, 0]);
  assert.deepEqual([...bytes.subarray(30, 36)], [9, 8, 0, 0, 0, 0]);
  assert.deepEqual([...bytes.subarray(36)], [0xef, 0xbe, 0xad, 0xde]);
});

Deno.test("decodeStruct() reads back what encodeStruct() wrote", () => {
  const values = {
    small: 255,
    signed: -2147483648,
    big: 2n ** 64n - 1n,
    inner: { count: 2, items: [1, 65535] },
    name: new Uint8Array([104, 105, 0, 0, 0, 0, 0, 0]),
    bytes: new Uint8Array([1, 2, 3, 4]),
    last: 0,
  };
  const padded = new Uint8Array(44);
  padded.set(encodeStruct(OUTER, values), 4);
  assert.deepEqual(decodeStruct(OUTER, padded, 4), values);
});

Deno.test("encodeStruct() refuses what the struct cannot hold", () => {
  const refuses = (values: Record<string, unknown>, message: RegExp) =>
    assert.throws(
      () => encodeStruct(OUTER, values as never),
      (error: unknown) =>
        error instanceof RangeError && message.test(error.message),
    );
  refuses({ small: 256 }, /outer\.small: 256 is not a u8/);
  refuses({ small: -1 }, /is not a u8/);
  refuses({ small: 1.5 }, /is not a u8/);
  refuses({ signed: 2 ** 31 }, /is not a s32/);
  refuses({ big: -1n }, /is not a u64/);
  refuses({ name: "123456789" }, /outer\.name: 9 bytes do not fit in 8/);
  refuses({ inner: { items: [1, 2, 3] } }, /inner\.items: 3 elements/);
  refuses({ missing: 1 }, /struct outer has no field missing/);
});

Deno.test("sizes and array lengths come from the layout", () => {
  assert.equal(arrayLength(OUTER, "name"), 8);
  assert.equal(sizeOf("u16"), 2);
  assert.equal(sizeOf(["u16", 8]), 16);
  assert.equal(sizeOf(INNER), 6);
  assert.deepEqual([...encodeInt("u32", 0x01020304)], [4, 3, 2, 1]);
  assert.equal(decodeInt("u32", new Uint8Array([4, 3, 2, 1])), 0x01020304);
  assert.equal(decodeInt("u64", new Uint8Array(8).fill(255)), 2n ** 64n - 1n);
});

Deno.test("namesByValue() indexes a C enum's names by value", () => {
  assert.deepEqual(namesByValue({ b: 2, a: 1, d: 4 }), ["", "a", "b", "", "d"]);
});
