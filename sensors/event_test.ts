import assert from "node:assert/strict";
import { readCString, readStringList, TimeFormatter } from "./event.ts";

Deno.test("TimeFormatter.format() gives ISO 8601 with nanoseconds", () => {
  // offset 1_700_000_000.999999999 s; boot time 2.000000002 s
  const time = new TimeFormatter(1_700_000_000_999_999_999n);
  assert.equal(time.format(0, 2_000_000_002), "2023-11-14T22:13:23.000000001Z");
  assert.equal(time.format(0, 1), "2023-11-14T22:13:21.000000000Z");
});

Deno.test("TimeFormatter.format() joins the two u32 halves", () => {
  const time = new TimeFormatter(0n);
  // 2^32 ns = 4.294967296 s
  assert.equal(time.format(1, 0), "1970-01-01T00:00:04.294967296Z");
});

Deno.test("readCString() stops at NUL and decodes UTF-8", () => {
  const bytes = new TextEncoder().encode("bash\0junk");
  assert.equal(readCString(new DataView(bytes.buffer), 0, 16), "bash");
  const utf8 = new TextEncoder().encode("tëst\0");
  assert.equal(readCString(new DataView(utf8.buffer), 0, 16), "tëst");
  const full = new TextEncoder().encode("abcdef");
  assert.equal(readCString(new DataView(full.buffer), 0, 3), "abc");
});

Deno.test("readStringList() splits argv and keeps empty arguments", () => {
  const bytes = new TextEncoder().encode("xx/bin/sh\0-c\0\0echo hi\0");
  const view = new DataView(bytes.buffer);
  assert.deepEqual(readStringList(view, 2, bytes.length - 2), [
    "/bin/sh",
    "-c",
    "",
    "echo hi",
  ]);
  // a cut command line ends without NUL
  assert.deepEqual(readStringList(view, 2, 13), ["/bin/sh", "-c", "", "e"]);
});

Deno.test("TimeFormatter.format() pads and carries the nanoseconds", () => {
  const time = new TimeFormatter(999_999_999n);
  // 0.999999999 s + 0.000000001 s carries into the next second
  assert.equal(time.format(0, 1), "1970-01-01T00:00:01.000000000Z");
  assert.equal(time.format(0, 12), "1970-01-01T00:00:01.000000011Z");
  // back to an earlier second: the prefix is made again
  const plain = new TimeFormatter(0n);
  assert.equal(
    plain.format(0, 3_000_000_007),
    "1970-01-01T00:00:03.000000007Z",
  );
  assert.equal(plain.format(0, 999_999_999), "1970-01-01T00:00:00.999999999Z");
});

Deno.test("readCString() interns: the same bytes, the same text", () => {
  const encoder = new TextEncoder();
  const view = (text: string) => new DataView(encoder.encode(text).buffer);
  const names = Array.from({ length: 3000 }, (_, index) => `proc-${index}`);
  // Far more names than the table's slots: each read still gives its own.
  for (const name of names) {
    assert.equal(readCString(view(`${name}\0`), 0, 16, true), name);
  }
  for (const name of names.toReversed()) {
    assert.equal(readCString(view(`${name}\0x`), 0, 16, true), name);
  }
  // Non-ASCII and long texts are decoded, never mixed up with the table.
  assert.equal(readCString(view("tëst\0"), 0, 16, true), "tëst");
  const long = "/a".repeat(200);
  assert.equal(readCString(view(`${long}\0`), 0, 500, true), long);
  assert.deepEqual(readStringList(view("proc-1\0tëst\0proc-1"), 0, 19), [
    "proc-1",
    "tëst",
    "proc-1",
  ]);
});
