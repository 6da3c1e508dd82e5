import assert from "node:assert/strict";
import {
  decodePrefixKey,
  encodePrefixKey,
  prefixDirs,
} from "./file_system_maps.ts";

const bytes = (text: string) => new TextEncoder().encode(text);

Deno.test("prefixDirs(): every directory cut shorter than an entry, with its length in bytes", () => {
  assert.deepEqual(
    Object.fromEntries(
      prefixDirs([bytes("/w/src/"), bytes("/etc/hosts\0"), bytes("/é/x*")]),
    ),
    {
      "/": 1,
      "/w/": 3,
      "/etc/": 5,
      "/é/": 4,
    },
  );
  // an entry that is itself a directory is no cut of its own
  assert.equal(prefixDirs([bytes("/w/")]).has("/w/"), false);
});

Deno.test("decodePrefixKey() gives back the bytes encodePrefixKey() stored", () => {
  for (const prefix of ["/", "/w/src/", "/etc/hosts\0"]) {
    assert.deepEqual(decodePrefixKey(encodePrefixKey(prefix)), bytes(prefix));
  }
});
