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
