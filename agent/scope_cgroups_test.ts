import assert from "node:assert/strict";
import { cgroupDir, isServiceCgroup } from "./scope_cgroups.ts";

Deno.test("cgroupDir: relative to the cgroup2 mount, or already under it", () => {
  const mount = "/sys/fs/cgroup/unified";
  assert.equal(cgroupDir(mount, "/a.service"), `${mount}/a.service`);
  assert.equal(cgroupDir(mount, "x/y/"), `${mount}/x/y`);
  assert.equal(cgroupDir(mount, `${mount}/x/`), `${mount}/x`);
  assert.equal(
    cgroupDir("/sys/fs/cgroup", "/sys/fs/cgroupx"),
    "/sys/fs/cgroup/sys/fs/cgroupx",
  );
});

Deno.test("isServiceCgroup: a service's own cgroup, not a shared one", () => {
  for (
    const path of [
      "/system.slice/actions.runner.org-repo.service",
      "/system.slice/hosted-compute-agent.service",
      "/kubepods/burstable/pod1/cri-containerd-abc.scope",
      "/rf-scope-test",
    ]
  ) assert.ok(isServiceCgroup(path), path);
  for (
    const path of [
      "/",
      "",
      "/init.scope",
      "/system.slice",
      "/user.slice/user-1000.slice/session-3.scope",
      "/user.slice/user-1000.slice/user@1000.service/app.slice/x.service",
      "/machine.slice",
    ]
  ) assert.ok(!isServiceCgroup(path), path);
});
