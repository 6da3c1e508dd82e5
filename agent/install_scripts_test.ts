import assert from "node:assert/strict";
import { parsePolicy } from "../policy/parse.ts";
import { FileClass, FileSystemRules } from "../sensors/file_system.ts";
import { kernelPlan } from "../sensors/file_system_rules.ts";
import { InstallScriptRule } from "../sensors/install_scripts.ts";
import { type ProcessSensor, ScopeFlag } from "../sensors/process.ts";
import {
  credentialPatterns,
  installScriptFiles,
  InstallScriptMarks,
  installScriptRule,
  isExcepted,
  undoInstallScriptChange,
  workflowPatterns,
} from "./install_scripts.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";

const policy = (text: string) => parsePolicy(`version: 1\n${text}`, "t.yaml");

Deno.test("installScriptRule(): the policy's rule as the kernel's bits", () => {
  assert.equal(installScriptRule(policy("")), 0);
  assert.equal(
    installScriptRule(policy("dependencies:\n  install_scripts: {}\n")),
    InstallScriptRule.networkDeny | InstallScriptRule.filesProtect,
  );
  assert.equal(
    installScriptRule(policy(
      "mode: block\ndependencies:\n  install_scripts:\n" +
        "    network: allow-list\n    files: allow\n    action: kill\n",
    )),
    InstallScriptRule.networkAllowList | InstallScriptRule.actionKill |
      InstallScriptRule.enforce,
  );
});

Deno.test("the credential and workflow paths are all matched exactly by the kernel", () => {
  const patterns = [
    ...credentialPatterns(["/root", "/home/runner"]),
    ...workflowPatterns("/home/runner/work/app/app"),
  ];
  for (const pattern of patterns) {
    assert.ok(kernelPlan(pattern.literal).exact, pattern.text);
  }
  const matches = (path: string) => patterns.some((p) => p.matches(path));
  for (
    const path of [
      "/home/runner/.npmrc",
      "/home/runner/work/app/app/.npmrc",
      "/root/.ssh/id_ed25519",
      "/home/runner/.aws/credentials",
      "/root/.config/gcloud/application_default_credentials.json",
      "/root/.docker/config.json",
      "/root/.cargo/credentials.toml",
      "/root/.git-credentials",
      "/home/runner/work/app/app/.github",
      "/home/runner/work/app/app/.github/workflows/x.yml",
    ]
  ) assert.ok(matches(path), path);
  for (
    const path of [
      "/home/runner/.sshx",
      "/home/runner/work/app/app/.githubx",
      "/root/.npmrc.bak",
    ]
  ) assert.ok(!matches(path), path);
});

Deno.test("the rule's paths go in the kernel maps with the install-script classes", () => {
  const files = installScriptFiles(
    policy("dependencies:\n  install_scripts: {}\n"),
    { homes: ["/root"], workspace: "/w" },
  )!;
  const maps = new FileSystemRules({
    watch: [],
    protect: [],
    secrets: [],
    enforce: false,
    installScripts: files,
  }).kernelMaps();
  assert.equal(maps.names.get(".npmrc"), FileClass.depSecret);
  assert.equal(maps.prefixes.get("/root/.ssh/"), FileClass.depSecret);
  assert.equal(maps.prefixes.get("/w/.github/"), FileClass.depProtect);
  assert.equal(maps.prefixes.get("/w/.github\0"), FileClass.depProtect);
  assert.equal(maps.readClasses, 0, "no other process's reads are looked at");
  assert.equal(
    maps.installScripts,
    InstallScriptRule.networkDeny |
      InstallScriptRule.filesProtect,
  );
  assert.equal(
    installScriptFiles(
      policy("dependencies:\n  install_scripts:\n    files: allow\n"),
    ),
    undefined,
  );
});

/** A scope map in memory, with the ProcessSensor methods decide() uses. */
function fakeScope(entries: Record<number, number>) {
  const map = new Map(
    Object.entries(entries).map(([pid, flags]) => [Number(pid), flags]),
  );
  const sensor = {
    scopeOf: (pid: number) =>
      map.has(pid) ? { flags: map.get(pid)!, rootPid: 1 } : undefined,
    setScope: (pid: number, entry: { flags: number }) => {
      map.set(pid, entry.flags);
    },
  } as unknown as ProcessSensor;
  return { map, sensor };
}

const { monitored, depPending, dependency, depScript } = ScopeFlag;
const WORM = { ecosystem: "npm" as const, name: "worm", version: "1.0.0" };

Deno.test("decide(): pending cleared, script and dependency set on the script and its pending descendants", () => {
  const { map, sensor } = fakeScope({
    10: monitored | depPending,
    11: monitored | depPending,
    12: monitored, // decided on its own already
  });
  const rule = policy("dependencies:\n  install_scripts: {}\n").dependencies!
    .installScripts;
  const marks = new InstallScriptMarks(sensor, () => rule, () => [11, 12, 13]);
  const decision = marks.decide(10, WORM);
  assert.deepEqual(decision, { marked: true, excepted: false, pids: [10, 11] });
  assert.equal(map.get(10), monitored | depScript | dependency);
  assert.equal(map.get(11), monitored | depScript | dependency);
  assert.equal(map.get(12), monitored);
});

Deno.test("decide(): no script, an excepted package, or no rule set no dependency mark", () => {
  for (
    const [rule, dep, flags] of [
      ["dependencies:\n  install_scripts: {}\n", undefined, monitored],
      [
        "dependencies:\n  install_scripts:\n    except: [worm@1.0.0]\n",
        WORM,
        monitored | depScript,
      ],
      ["", WORM, monitored | depScript],
    ] as const
  ) {
    const { map, sensor } = fakeScope({ 10: monitored | depPending });
    const marks = new InstallScriptMarks(
      sensor,
      () => policy(rule).dependencies?.installScripts,
      () => [],
    );
    assert.equal(marks.decide(10, dep).marked, false);
    // a script all the same: the bulk summary counts none of its changes
    assert.equal(map.get(10), flags);
  }
  // A descendant already marked by its parent keeps the mark when its own
  // capture says it is no package's script.
  const { map, sensor } = fakeScope({
    20: monitored | dependency | depPending,
  });
  const rule = policy("dependencies:\n  install_scripts: {}\n").dependencies!
    .installScripts;
  new InstallScriptMarks(sensor, () => rule, () => []).decide(20, undefined);
  assert.equal(map.get(20), monitored | dependency);
});

Deno.test("undoInstallScriptChange() removes the empty file a killed script created", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const event = (path: string, kind: string, killed = true) =>
      ({
        kind,
        path,
        killed,
        reason: 'dependencies.install_scripts: protected path "/w/.github/**"',
      }) as FileSystemEvent;
    await Deno.writeTextFile(`${dir}/empty.yml`, "");
    const created = event(`${dir}/empty.yml`, "create");
    undoInstallScriptChange(created);
    assert.equal(created.removed, true);
    await assert.rejects(Deno.stat(`${dir}/empty.yml`));
    // Content there now is someone else's; an unkilled change is kept.
    await Deno.writeTextFile(`${dir}/full.yml`, "on: push");
    undoInstallScriptChange(event(`${dir}/full.yml`, "create"));
    await Deno.writeTextFile(`${dir}/kept.yml`, "");
    undoInstallScriptChange(event(`${dir}/kept.yml`, "create", false));
    assert.ok(await Deno.stat(`${dir}/full.yml`));
    assert.ok(await Deno.stat(`${dir}/kept.yml`));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("isExcepted() matches by name, or by name and exact version", () => {
  const except = [
    { name: "esbuild", text: "esbuild" },
    { name: "worm", version: "1.0.0", text: "worm@1.0.0" },
  ];
  assert.ok(isExcepted(except, "esbuild", "0.20.0"));
  assert.ok(isExcepted(except, "esbuild"));
  assert.ok(isExcepted(except, "worm", "1.0.0"));
  assert.ok(!isExcepted(except, "worm", "1.0.1"));
  assert.ok(!isExcepted(except, "worm"));
  assert.ok(!isExcepted(except, "other"));
});
