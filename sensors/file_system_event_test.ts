import assert from "node:assert/strict";
import { openFlagNames } from "./file_system_event.ts";

Deno.test("openFlagNames() names the access mode and flags", () => {
  assert.deepEqual(openFlagNames(0o1101), ["O_WRONLY", "O_CREAT", "O_TRUNC"]);
  assert.deepEqual(openFlagNames(0o2002), ["O_RDWR", "O_APPEND"]);
  assert.deepEqual(openFlagNames(0o20200002), ["O_RDWR", "O_TMPFILE"]);
});
