import assert from "node:assert/strict";
import type { DependencyCapture } from "../sensors/dependency_event.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import {
  classifyCapture,
  type ClassifyContext,
  DependencyTracker,
} from "./dependencies.ts";
import { ProcessTree } from "./process_tree.ts";

function capture(fields: Partial<DependencyCapture>): DependencyCapture {
  return {
    pid: 100,
    ppid: 10,
    comm: "sh",
    manager: "npm install",
    time: "2026-01-01T00:00:00.000000000Z",
    env: new Map(),
    envCut: false,
    cwd: "/work",
    path: "/bin/sh",
    pending: false,
    ...fields,
  };
}

function context(
  files: Record<string, string> = {},
  cwds: Record<number, string> = {},
): ClassifyContext {
  return { read: (path) => files[path], cwdOf: (pid) => cwds[pid] };
}

Deno.test("npm lifecycle script of a dependency", () => {
  const env = new Map([
    ["npm_package_name", "@acme/evil"],
    ["npm_package_version", "2.0.0"],
    ["npm_lifecycle_event", "postinstall"],
    ["npm_package_json", "/p/node_modules/@acme/evil/package.json"],
    ["npm_config_user_agent", "npm/11.1.0 node/v20 linux x64"],
  ]);
  assert.deepEqual(classifyCapture(capture({ env }), context()), {
    ecosystem: "npm",
    name: "@acme/evil",
    version: "2.0.0",
    script: "postinstall",
    manager: "npm",
  });
});

Deno.test("the project's own npm script is no dependency", () => {
  const env = new Map([
    ["npm_package_name", "project"],
    ["npm_lifecycle_event", "build"],
    ["npm_package_json", "/p/package.json"],
  ]);
  assert.equal(
    classifyCapture(capture({ env, cwd: "/p" }), context()),
    undefined,
  );
});

Deno.test("yarn, pnpm and bun are named from the user agent", () => {
  for (const manager of ["yarn", "pnpm", "bun"]) {
    const env = new Map([
      ["npm_package_name", "x"],
      ["npm_lifecycle_event", "install"],
      ["npm_config_user_agent", `${manager}/1.2.3 npm/? node/v20`],
    ]);
    const cwd = "/p/node_modules/.pnpm/x@1.0.0/node_modules/x";
    assert.equal(
      classifyCapture(capture({ env, cwd, manager: "node" }), context())
        ?.manager,
      manager,
    );
  }
});

Deno.test("without npm's variables: the node_modules directory and its package.json", () => {
  const cwd = "/p/node_modules/@s/left";
  const dependency = classifyCapture(
    capture({ cwd, manager: "node" }),
    context({
      [`${cwd}/package.json`]: '{"name":"@s/left","version":"1.2.3"}',
    }),
  );
  assert.deepEqual(dependency, {
    ecosystem: "npm",
    name: "@s/left",
    version: "1.2.3",
    manager: "npm",
  });
  // node's other children are nothing
  assert.equal(
    classifyCapture(capture({ cwd: "/p", manager: "node" }), context()),
    undefined,
  );
});

Deno.test("pip: the build backend in an unpacked sdist", () => {
  const dir = "/tmp/pip-install-abc/evil_0123456789abcdef";
  assert.deepEqual(
    classifyCapture(
      capture({ cwd: dir, manager: "pip", comm: "python3.11" }),
      context({ [`${dir}/PKG-INFO`]: "Name: evil\nVersion: 0.2\n" }),
    ),
    {
      ecosystem: "pypi",
      name: "evil",
      version: "0.2",
      script: "build",
      manager: "pip",
    },
  );
  // from pyproject.toml when there is no PKG-INFO
  const req = "/tmp/pip-req-build-x1";
  assert.deepEqual(
    classifyCapture(
      capture({ cwd: req, manager: "python3.11" }),
      context({
        [`${req}/pyproject.toml`]:
          '[build-system]\nrequires = []\n[project]\nname = "py-evil"\nversion = "3"\n',
      }),
    ),
    {
      ecosystem: "pypi",
      name: "py-evil",
      version: "3",
      script: "build",
      manager: "pip",
    },
  );
  // a build of the project itself (`pip install .`) is not one
  assert.equal(
    classifyCapture(capture({ cwd: "/src/app", manager: "pip" }), context()),
    undefined,
  );
});

Deno.test("uv: a build in its cache, named by the directory", () => {
  const cwd = "/root/.cache/uv/sdists-v9/index/abc/evil/1.0/src/evil-1.0";
  assert.deepEqual(
    classifyCapture(capture({ cwd, manager: "uv" }), context()),
    {
      ecosystem: "pypi",
      name: "evil",
      version: "1.0",
      script: "build",
      manager: "uv",
    },
  );
});

Deno.test("cargo: a dependency's build script, not the workspace's own", () => {
  const env = new Map([
    ["CARGO_PKG_NAME", "evil-crate"],
    ["CARGO_PKG_VERSION", "0.3.1"],
    ["CARGO_MANIFEST_DIR", "/root/.cargo/registry/src/x/evil-crate-0.3.1"],
  ]);
  const path = "/w/target/debug/build/evil-crate-0123abcd/build-script-build";
  assert.deepEqual(
    classifyCapture(
      capture({ env, path, manager: "cargo" }),
      context({}, { 10: "/w" }),
    ),
    {
      ecosystem: "cargo",
      name: "evil-crate",
      version: "0.3.1",
      script: "build.rs",
      manager: "cargo",
    },
  );
  const own = new Map([...env, ["CARGO_MANIFEST_DIR", "/w/crates/app"]]);
  assert.equal(
    classifyCapture(
      capture({ env: own, path, manager: "cargo" }),
      context({}, { 10: "/w" }),
    ),
    undefined,
  );
  // rustc has CARGO_PKG_NAME too, and is no script
  assert.equal(
    classifyCapture(
      capture({ env, path: "/usr/bin/rustc", manager: "cargo" }),
      context({}, { 10: "/w" }),
    ),
    undefined,
  );
});

Deno.test("gem: a native extension's build", () => {
  assert.deepEqual(
    classifyCapture(
      capture({
        cwd: "/var/lib/gems/3.1.0/gems/evil-gem-1.4.2/ext/evil",
        manager: "gem",
      }),
      context(),
    ),
    {
      ecosystem: "gem",
      name: "evil-gem",
      version: "1.4.2",
      script: "extconf",
      manager: "gem",
    },
  );
});

function processEvent(
  kind: "fork" | "exec" | "exit",
  pid: number,
  ppid: number,
): ProcessEvent {
  return {
    type: "process_event",
    kind,
    time: "2026-01-01T00:00:00.000000000Z",
    pid,
    tid: pid,
    ppid,
    uid: 0,
    gid: 0,
    comm: "sh",
    cgroup_id: 1,
  };
}

Deno.test("the tracker: inherited by descendants, announced once per capture", () => {
  const tree = new ProcessTree();
  const tracker = new DependencyTracker(tree, context());
  const decided: [number, string | undefined][] = [];
  tracker.onDecide((pid, dependency) => decided.push([pid, dependency?.name]));
  tree.apply(processEvent("fork", 10, 1)); // npm
  tree.apply(processEvent("fork", 100, 10)); // its script
  const event = processEvent("exec", 100, 10);
  tracker.annotate(event);
  assert.equal(event.dependency, undefined, "nothing named yet");
  const env = new Map([
    ["npm_package_name", "evil"],
    ["npm_lifecycle_event", "postinstall"],
    ["npm_package_json", "/p/node_modules/evil/package.json"],
  ]);
  tracker.capture(capture({ pid: 100, env }));
  tree.apply(processEvent("fork", 101, 100));
  tree.apply(processEvent("fork", 102, 101));
  // a grandchild that clears its environment is captured as nothing
  // better, and keeps what it inherits
  tracker.capture(capture({ pid: 102, ppid: 101, manager: "node" }));
  // a package the script unpacks and installs itself is still its doing
  tree.apply(processEvent("fork", 104, 101));
  tracker.capture(capture({
    pid: 104,
    ppid: 101,
    env: new Map([
      ["npm_package_name", "innocent"],
      ["npm_lifecycle_event", "install"],
      ["npm_package_json", "/tmp/x/node_modules/innocent/package.json"],
    ]),
  }));
  for (const pid of [100, 101, 102, 104]) {
    const later = processEvent("exit", pid, 1);
    tracker.annotate(later);
    assert.equal(later.dependency?.name, "evil", `pid ${pid}`);
    assert.equal(later.dependency?.script, "postinstall");
  }
  // npm and its other children are not
  tree.apply(processEvent("fork", 103, 10));
  const sibling = processEvent("exec", 103, 10);
  tracker.annotate(sibling);
  assert.equal(sibling.dependency, undefined);
  tracker.capture(capture({ pid: 103, env: new Map() }));
  const npm = processEvent("exec", 10, 1);
  tracker.annotate(npm);
  assert.equal(npm.dependency, undefined);
  assert.deepEqual(decided, [
    [100, "evil"],
    [102, "evil"],
    [104, "evil"],
    [103, undefined],
  ]);
});
