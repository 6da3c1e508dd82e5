import assert from "node:assert/strict";
import { kernelPlan, normalizePath } from "./file_system_rules.ts";

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
