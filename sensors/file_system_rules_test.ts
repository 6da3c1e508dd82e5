import assert from "node:assert/strict";
import {
  aboveDirectories,
  kernelPlan,
  normalizePath,
} from "./file_system_rules.ts";

Deno.test("the kernel plan: prefix, name or everything; exact when sure", () => {
  assert.deepEqual(kernelPlan({ kind: "path", path: "/etc/hosts" }), {
    kind: "prefix",
    prefix: "/etc/hosts\0",
    exact: true,
  });
  assert.deepEqual(
    kernelPlan({ kind: "prefix", prefix: "/w/", exact: true }),
    { kind: "prefix", prefix: "/w/", exact: true },
  );
  assert.deepEqual(
    kernelPlan({ kind: "prefix", prefix: "/home/", exact: false }),
    { kind: "prefix", prefix: "/home/", exact: false },
  );
  assert.deepEqual(kernelPlan({ kind: "name", name: "xmrig", exact: true }), {
    kind: "name",
    name: "xmrig",
    exact: true,
  });
  assert.deepEqual(kernelPlan({ kind: "none" }), { kind: "all", exact: false });
  const plan = kernelPlan({
    kind: "prefix",
    prefix: "/" + "d".repeat(300) + "/",
    exact: true,
  });
  assert.equal(plan.kind, "prefix");
  assert.equal(plan.exact, false, "a cut prefix is not exact");
  assert.deepEqual(
    kernelPlan({ kind: "name", name: "n".repeat(64), exact: true }),
    { kind: "all", exact: false },
    "a name the map cannot hold leaves every path to user space",
  );
});

Deno.test("normalizePath resolves . and .. lexically", () => {
  assert.equal(normalizePath("/a/./b//c/../d"), "/a/b/d");
  assert.equal(normalizePath("/../x"), "/x");
  assert.equal(normalizePath("/"), "/");
});

Deno.test("aboveDirectories(): a tree's root and its ancestors; a path's ancestors", () => {
  assert.deepEqual(
    aboveDirectories({ kind: "prefix", prefix: "/srv/keys/", exact: true }),
    ["/srv/keys", "/srv", "/"],
  );
  assert.deepEqual(
    aboveDirectories({ kind: "path", path: "/etc/ssh/sshd_config" }),
    ["/etc/ssh", "/etc", "/"],
  );
  assert.deepEqual(
    aboveDirectories({ kind: "prefix", prefix: "/", exact: true }),
    [
      "/",
    ],
  );
  assert.deepEqual(
    aboveDirectories({ kind: "prefix", prefix: "/srv/", exact: false }),
    [],
    "/srv/*.pem: no tree the kernel holds exactly",
  );
  assert.deepEqual(
    aboveDirectories({ kind: "name", name: "x", exact: true }),
    [],
  );
  assert.deepEqual(
    aboveDirectories({
      kind: "prefix",
      prefix: "/" + "d".repeat(300) + "/",
      exact: true,
    }),
    [],
    "a prefix cut to fit is not exact",
  );
});
