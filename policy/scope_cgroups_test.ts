import assert from "node:assert/strict";
import { parsePolicy, PolicyError } from "./parse.ts";

const FILE = "ci/policy.yaml";

function scopeOf(yaml: string) {
  return parsePolicy(`version: 1\nscope:\n${yaml}`, FILE).scope;
}

function rejects(yaml: string, message: string): void {
  assert.throws(
    () => scopeOf(yaml),
    (error) => error instanceof PolicyError && error.message === message,
  );
}

Deno.test("scope.cgroups: paths kept as written, without duplicates", () => {
  const scope = scopeOf(
    "  cgroups: [/system.slice/runner.service, rf/test/, /sys/fs/cgroup/x, rf/test]\n",
  );
  assert.deepEqual(scope.processes, ["Runner.Worker", "containerd", "dockerd"]);
  assert.deepEqual(scope.cgroups, [
    "/system.slice/runner.service",
    "rf/test",
    "/sys/fs/cgroup/x",
  ]);
  assert.equal(scopeOf("  processes: [make]\n").cgroups, undefined);
});

Deno.test("scope.cgroups: a malformed entry is placed at its line and column", () => {
  rejects(
    "  cgroups:\n    - /system.slice\n    - /\n",
    `${FILE}:5:7: cgroup "/" is the root cgroup: every process of the machine would be in scope`,
  );
  rejects(
    "  cgroups: [a/../b]\n",
    `${FILE}:3:13: cgroup "a/../b" has a "." or ".." component`,
  );
  rejects(
    "  cgroups: [a//b]\n",
    `${FILE}:3:13: cgroup "a//b" has an empty component ("//")`,
  );
  rejects(
    '  cgroups: [""]\n',
    `${FILE}:3:13: cgroup "" is empty`,
  );
  assert.throws(() => scopeOf("  cgroups: x\n"), PolicyError);
  assert.throws(() => scopeOf("  cgroups: [1]\n"), PolicyError);
});
