import assert from "node:assert/strict";
import { cgroup2Mount, parseMounts, PreflightError } from "./system.ts";

const HYBRID = [
  "tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0",
  "cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0",
  "cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0",
  "none /mnt/with\\040space tracefs rw 0 0",
].join("\n");

Deno.test("cgroup2Mount() finds the cgroup2 mount in a hybrid layout", () => {
  assert.equal(cgroup2Mount(parseMounts(HYBRID)), "/sys/fs/cgroup/unified");
});

Deno.test("cgroup2Mount() finds it on a unified host", () => {
  const unified = "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n";
  assert.equal(cgroup2Mount(parseMounts(unified)), "/sys/fs/cgroup");
});

Deno.test("cgroup2Mount() says how to fix a host without cgroup v2", () => {
  assert.throws(
    () => cgroup2Mount(parseMounts("proc /proc proc rw 0 0\n")),
    (error: unknown) =>
      error instanceof PreflightError &&
      /no cgroup v2 file system/.test(error.message),
  );
});

Deno.test("parseMounts() unescapes octal sequences", () => {
  assert.equal(parseMounts(HYBRID)[3].target, "/mnt/with space");
});
