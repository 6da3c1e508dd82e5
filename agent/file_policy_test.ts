import assert from "node:assert/strict";
import { FileClass, type RawFileSystemEvent } from "../sensors/file_system.ts";
import { FileRules, integrityPaths } from "./file_policy.ts";

const FILES = {
  watch: ["/w/**"],
  protect: ["/etc/hosts", "/w/locked/**", "**/.git/config"],
  secrets: ["/home/*/.ssh/**", "**/.npmrc"],
  action: "kill" as const,
};

function raw(
  kind: RawFileSystemEvent["kind"],
  path: string,
  extra: Partial<RawFileSystemEvent> = {},
): RawFileSystemEvent {
  return {
    type: "file_system_event",
    kind,
    time: "",
    pid: 42,
    tid: 42,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "x",
    cgroup_id: 1,
    path,
    verdict: "allow",
    reason: "",
    classes: 0,
    ...extra,
  };
}

Deno.test("kernelMaps(): prefixes carry the classes of shorter prefixes", () => {
  const maps = new FileRules(FILES, "block").kernelMaps();
  const { watch, protect, secret, kill, above } = FileClass;
  assert.deepEqual(
    Object.fromEntries(maps.prefixes),
    {
      "/w/": watch,
      "/etc/hosts\0": protect | kill,
      "/w/locked/": watch | protect | kill,
      "/home/": secret,
      // The directories at and above exact protected paths and trees,
      // whole paths with the classes of the prefixes they extend.
      "/etc\0": above,
      "/\0": above,
      "/w/locked\0": watch | above,
      "/w\0": above,
    },
  );
  assert.deepEqual(Object.fromEntries(maps.names), {
    config: protect,
    ".npmrc": secret | 0,
  });
  assert.equal(maps.matchAll, 0);
  assert.equal(maps.readClasses, secret);
  assert.equal(maps.readPaths, true, "/home/*/.ssh/** needs the path");
  assert.equal(
    new FileRules({ ...FILES, secrets: ["**/.npmrc"] }, "block").kernelMaps()
      .readPaths,
    false,
    "a name alone decides",
  );
  assert.equal(maps.kill, true);
  const audit = new FileRules(FILES, "audit").kernelMaps();
  assert.equal(audit.kill, false, "audit mode never kills");
  const wild = new FileRules(
    { ...FILES, protect: ["**/*.pem"] },
    "block",
  ).kernelMaps();
  assert.equal(wild.matchAll, protect, "no literal part: every path is sent");
});

Deno.test("kernelMaps(): the entries above protected paths change no other class", () => {
  const files = {
    ...FILES,
    watch: ["/**"],
    protect: [...FILES.protect, "/etc", "/etc/ssh/sshd_config"],
  };
  const maps = new FileRules(files, "block").kernelMaps();
  const { above } = FileClass;
  // The maps as they would be without them: the directories' entries
  // gone unless a pattern names the directory itself.
  const named = new Set(["/etc/hosts\0", "/etc\0", "/etc/ssh/sshd_config\0"]);
  const before = new Map(
    [...maps.prefixes]
      .filter(([key, bits]) => !(bits & above) || named.has(key))
      .map(([key, bits]) => [key, bits & ~above]),
  );
  // The trie's answer: the longest entry the path (with its NUL) begins with.
  const lookup = (prefixes: Map<string, number>, path: string) => {
    let best = "", bits = 0;
    for (const [key, value] of prefixes) {
      if ((path + "\0").startsWith(key) && key.length >= best.length) {
        best = key;
        bits = value;
      }
    }
    return bits;
  };
  for (
    const path of [
      "/",
      "/etc",
      "/etc/hosts",
      "/etc/ssh",
      "/etc/ssh/sshd_config",
      "/etc/sshd",
      "/w",
      "/w/locked",
      "/w/locked/key",
      "/w/lockedx",
      "/home",
      "/tmp/x",
    ]
  ) {
    assert.equal(
      lookup(maps.prefixes, path) & ~above,
      lookup(before, path),
      path,
    );
  }
  assert.equal(lookup(maps.prefixes, "/etc/ssh") & above, above);
  assert.equal(lookup(maps.prefixes, "/etc/sshd") & above, 0);
  assert.equal(lookup(maps.prefixes, "/w/locked/key") & above, 0);
});

Deno.test("judge(): the final glob match, verdicts and reasons", () => {
  const rules = new FileRules(FILES, "block");
  const never = () => false;
  assert.equal(rules.judge(raw("open", "/other/file"), never), undefined);
  assert.equal(
    rules.judge(raw("read", "/w/file"), never),
    undefined,
    "a read of a watched file is not a secret",
  );
  const watched = rules.judge(raw("create", "/w/./a/../b"), never)!;
  assert.equal(watched.path, "/w/b", "normalised");
  assert.equal(watched.verdict, "allow");
  assert.equal(watched.reason, 'files.watch "/w/**"');
  assert.equal("classes" in watched, false);
  const secret = rules.judge(raw("read", "/home/ci/.ssh/id"), never)!;
  assert.equal(secret.reason, 'files.secrets "/home/*/.ssh/**"');
  const killed = rules.judge(
    raw("truncate", "/etc/hosts", { killed: true }),
    never,
  )!;
  assert.equal(killed.verdict, "deny");
  assert.equal(killed.reason, 'files.protect "/etc/hosts"');
  const renamedOver = rules.judge(
    raw("rename", "/tmp/x", { new_path: "/etc/hosts" }),
    never,
  )!;
  assert.equal(renamedOver.verdict, "deny", "a rename onto a protected path");
});

Deno.test("judge(): user space kills what the kernel could not match exactly", () => {
  const killed: number[] = [];
  const kill = (pid: number) => {
    killed.push(pid);
    return true;
  };
  const block = new FileRules(FILES, "block");
  const event = block.judge(raw("open", "/r/.git/config"), kill)!;
  assert.deepEqual(killed, [42]);
  assert.equal(event.killed, true);
  assert.equal(
    event.reason,
    'files.protect "**/.git/config", killed by the agent after the syscall',
  );
  const audit = new FileRules(FILES, "audit").judge(
    raw("open", "/r/.git/config"),
    kill,
  )!;
  assert.equal(audit.verdict, "audit");
  assert.equal(audit.killed, undefined);
  assert.deepEqual(killed, [42], "audit mode kills nothing");
  const reportOnly = new FileRules({ ...FILES, action: "audit" }, "block")
    .judge(raw("open", "/etc/hosts"), kill)!;
  assert.equal(reportOnly.verdict, "audit");
});

Deno.test("judge(): a change BPF LSM refused is denied and nobody is killed", () => {
  const killed: number[] = [];
  const event = new FileRules(FILES, "block").judge(
    raw("open", "/etc/hosts", { refused: true }),
    (pid) => killed.push(pid) > 0,
  )!;
  assert.equal(event.verdict, "deny");
  assert.equal(event.refused, true);
  assert.equal(event.killed, undefined);
  assert.equal(event.reason, 'files.protect "/etc/hosts", refused by BPF LSM');
  assert.deepEqual(killed, []);
});

Deno.test("integrityPaths(): the agent's own paths are protected and killed in the kernel", () => {
  const implicit = integrityPaths({
    policyFile: "/etc/ringfence/policy.yaml",
    stateDir: "/home/runner/_temp/ringfence/",
  });
  const rules = new FileRules(FILES, "block", implicit);
  const { protect, kill } = FileClass;
  const maps = rules.kernelMaps();
  for (
    const prefix of [
      "/proc/sys/kernel/core_pattern\0",
      "/proc/sys/kernel/modprobe\0",
      "/etc/ringfence/policy.yaml\0",
      "/run/ringfence/",
      "/home/runner/_temp/ringfence/",
    ]
  ) {
    const bits = maps.prefixes.get(prefix) ?? 0;
    assert.equal(bits & (protect | kill), protect | kill, prefix);
  }
  // The directory itself (a rename of it): user space decides.
  assert.equal(
    (maps.prefixes.get("/home/runner/_temp/ringfence") ?? 0) & kill,
    0,
  );
  const event = rules.judge(
    raw("truncate", "/proc/sys/kernel/core_pattern", { killed: true }),
    () => true,
  )!;
  assert.equal(event.verdict, "deny");
  assert.equal(event.reason, 'files.protect "/proc/sys/kernel/core_pattern"');
  assert.equal(
    rules.judge(raw("rename", "/home/runner/_temp/ringfence"), () => true)
      ?.verdict,
    "deny",
  );
  assert.equal(
    rules.judge(raw("open", "/home/runner/_temp/ringfence2/x"), () => true),
    undefined,
  );
  // Their state is compared at the stop only for files.
  assert.ok(!rules.protectedPaths.includes("/run/ringfence"));
  assert.ok(rules.protectedPaths.includes("/proc/sys/kernel/core_pattern"));
  // A shared top-level directory is never the agent's.
  assert.equal(
    integrityPaths({ stateDir: "/tmp" }).some((p) => p.text.startsWith("/tmp")),
    false,
  );
});
