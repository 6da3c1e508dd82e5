/**
 * Bulk summary end to end through `ringfence run` (bpf/lib/bulk.h,
 * agent/bulk_dirs.ts): a package manager's thousands of files under
 * node_modules come as a few records and exact per-process counts, the
 * report counts them as a `files.detail: full` run does, and what tamper
 * detection and protected paths need stays in full.
 */
import assert from "node:assert/strict";
import { buildReport } from "../report/build.ts";
import type {
  FileSystemEvent,
  FileSystemSummaryEvent,
  RingfenceEvent,
} from "../sensors/events.ts";
import { Agent, parsePolicy } from "../mod.ts";
import type { Decision } from "../agent/install_scripts.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  rootShell,
} from "./helpers/kernel.ts";
import { GIT, git } from "./helpers/git.ts";

async function run(dir: string, policy: string, script: string) {
  await Deno.writeTextFile(`${dir}/policy.yaml`, policy);
  await Deno.remove(`${dir}/events.jsonl`).catch(() => {});
  const result = await ringfence([
    "run",
    "--policy",
    `${dir}/policy.yaml`,
    "--output",
    `${dir}/events.jsonl`,
    "--",
    "/bin/bash",
    "-c",
    script,
  ]);
  const events = await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`);
  return { ...result, events };
}

function policy(ws: string, extra = ""): string {
  return `version: 1\nfiles:\n  watch: ["${ws}/**"]\n${extra}`;
}

const files = (events: RingfenceEvent[]) =>
  events.filter((e): e is FileSystemEvent => e.type === "file_system_event");
const summaries = (events: RingfenceEvent[]) =>
  events.filter((e): e is FileSystemSummaryEvent =>
    e.type === "file_system_summary"
  );

/** Sums a kind over the summaries and the single events under `dir`. */
function total(events: RingfenceEvent[], dir: string, kind: string): number {
  let count = 0;
  for (const event of files(events)) {
    if (event.kind === kind && event.path.startsWith(`${dir}/`)) count++;
  }
  for (const summary of summaries(events)) {
    if (summary.directory === dir) {
      count += summary.counts[kind as keyof typeof summary.counts] ?? 0;
    }
  }
  return count;
}

/**
 * node_modules made during the run (20 packages of 50 files = 1,000 files
 * and 21 directories) by one process, then removed by another; plus an
 * existing one at the start getting 500 files.
 */
const STORM = (ws: string) =>
  [
    `mkdir ${ws}/node_modules`,
    `python3 -c '
import os
for p in range(20):
    d = "${ws}/node_modules/pkg%d" % p
    os.mkdir(d)
    for f in range(50):
        open("%s/f%d.js" % (d, f), "w").close()
for f in range(500):
    open("${ws}/old/node_modules/n%d" % f, "w").close()
'`,
    `rm -rf ${ws}/node_modules`,
  ].join("\n");

kernelTest(
  "bulk summary: node_modules storms come as counts equal to a full run's",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`;
    try {
      const prepare = async () => {
        await Deno.remove(ws, { recursive: true }).catch(() => {});
        await Deno.mkdir(`${ws}/old/node_modules`, { recursive: true });
      };
      await prepare();
      const summary = await run(dir, policy(ws), STORM(ws));
      assert.equal(summary.code, 0, summary.stderr);
      await prepare();
      const full = await run(dir, policy(ws, "  detail: full\n"), STORM(ws));
      assert.equal(full.code, 0, full.stderr);

      // The full run has every change as its own event.
      const nm = `${ws}/node_modules`, old = `${ws}/old/node_modules`;
      assert.equal(summaries(full.events).length, 0);
      assert.equal(total(full.events, nm, "create"), 1000);
      assert.equal(total(full.events, nm, "mkdir"), 20);
      assert.equal(total(full.events, nm, "unlink"), 1000);
      assert.equal(total(full.events, nm, "rmdir"), 20);
      assert.equal(total(full.events, old, "create"), 500);

      // The summary run: a few records, and counts that add up exactly.
      const records = files(summary.events).filter((e) =>
        e.path.startsWith(`${nm}/`) || e.path.startsWith(`${old}/`)
      );
      assert.ok(records.length <= 6, `${records.length} records`);
      const line = /ringfence: .*, (\d+) file changes summarised/.exec(
        summary.stderr,
      );
      assert.ok(Number(line?.[1]) >= 2530, summary.stderr);
      assert.equal(total(summary.events, nm, "create"), 1000);
      assert.equal(total(summary.events, nm, "mkdir"), 20);
      assert.equal(total(summary.events, nm, "unlink"), 1000);
      assert.equal(total(summary.events, nm, "rmdir"), 20);
      assert.equal(total(summary.events, old, "create"), 500);
      for (const event of summaries(summary.events)) {
        assert.ok(event.exited, JSON.stringify(event));
        assert.ok(event.first <= event.last);
        assert.match(event.reason, /^files\.watch /);
        assert.ok(["python3", "rm"].includes(event.comm), event.comm);
        assert.ok(event.pid > 0);
      }
      // The python process and rm each have a summary for node_modules.
      assert.deepEqual(
        summaries(summary.events).filter((e) => e.directory === nm).map((
          e,
        ) => e.comm).sort(),
        ["python3", "rm"],
      );

      // The report counts the same files written and other changes.
      const a = buildReport(summary.events), b = buildReport(full.events);
      assert.equal(a.otherChanges, b.otherChanges);
      assert.deepEqual(
        a.written.map(({ step, count }) => ({ step, count })),
        b.written.map(({ step, count }) => ({ step, count })),
      );
      assert.ok(a.written.some((entry) => entry.examples.length > 0));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** The summaries of `comm` under `dir`, their kinds added up. */
function counted(events: RingfenceEvent[], dir: string, comm: string) {
  const counts: Record<string, number> = {};
  for (const summary of summaries(events)) {
    if (summary.directory !== dir || summary.comm !== comm) continue;
    for (const [kind, count] of Object.entries(summary.counts)) {
      counts[kind] = (counts[kind] ?? 0) + (count ?? 0);
    }
  }
  return counts;
}

kernelTest(
  "bulk summary: protected and secret paths inside node_modules keep their full record, and block mode kills",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`, nm = `${ws}/node_modules`;
    try {
      await Deno.mkdir(nm, { recursive: true });
      await Deno.writeTextFile(`${nm}/keep.js`, "kept\n");
      const result = await run(
        dir,
        [
          "version: 1",
          "mode: block",
          "files:",
          `  watch: ["${ws}/**"]`,
          `  protect: ["${nm}/keep.js"]`,
          '  secrets: ["**/.npmrc"]',
          "",
        ].join("\n"),
        [
          `python3 -c '
import os
os.mkdir("${nm}/p")
for f in range(100):
    open("${nm}/p/f%d" % f, "w").close()
open("${nm}/p/.npmrc", "w").close()
for f in range(100):
    open("${nm}/p/g%d" % f, "w").close()
os.unlink("${nm}/keep.js")
print("not reached")
'`,
          'echo "python: $?"',
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, "python: 137\n");
      const events = files(result.events);
      const unlink = events.find((e) => e.path === `${nm}/keep.js`);
      assert.equal(unlink?.kind, "unlink");
      assert.equal(unlink?.verdict, "deny");
      assert.ok(unlink?.killed);
      const secret = events.find((e) => e.path === `${nm}/p/.npmrc`);
      assert.equal(secret?.kind, "create");
      // The rest is counted: 200 creates, one of them sent (the first).
      const counts = counted(result.events, nm, "python3");
      assert.equal(
        (counts.create ?? 0) +
          events.filter((e) =>
            e.kind === "create" && /\/p\/[fg]\d+$/.test(e.path)
          ).length,
        200,
      );
      assert.ok((counts.create ?? 0) >= 190, JSON.stringify(counts));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "bulk summary: a checkout's file in a bulk directory, rewritten later, is still tampering",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`;
    try {
      await Deno.mkdir(`${dir}/origin/build`, { recursive: true });
      await Deno.writeTextFile(`${dir}/origin/build/x.c`, "int main;\n");
      await git(`${dir}/origin`, "init", "-q", "-b", "main");
      await git(`${dir}/origin`, "add", ".");
      await git(`${dir}/origin`, "commit", "-q", "-m", "initial");
      // The workspace has an (empty) build directory at the start: a root.
      await Deno.mkdir(`${ws}/build`, { recursive: true });
      await git(ws, "init", "-q", "-b", "main");
      await git(ws, "remote", "add", "origin", `${dir}/origin`);
      const result = await run(
        dir,
        policy(ws),
        [
          `cd ${ws}`,
          `git ${GIT.join(" ")} pull -q origin main`,
          // a build writing many files there first: they are summarised
          'python3 -c \'\nfor f in range(50): open("build/o%d" % f, "w").close()\'',
          "sed -i s/main/evil/ build/x.c",
          'python3 -c \'import os; os.unlink("build/o1"); os.chmod("build/x.c", 0o600)\'',
        ].join("\n"),
      );
      assert.equal(result.code, 0, result.stderr);
      const tampered = files(result.events).filter((e) => e.tamper);
      assert.ok(
        tampered.some((e) => e.new_path === `${ws}/build/x.c`),
        JSON.stringify(tampered),
      );
      assert.ok(
        tampered.some((e) =>
          e.kind === "chmod" && e.path === `${ws}/build/x.c`
        ),
        JSON.stringify(tampered),
      );
      // After the checkout, build/ is no bulk directory: nothing summarised.
      assert.deepEqual(
        summaries(result.events).filter((e) => e.directory === `${ws}/build`),
        [],
      );
      assert.equal(
        files(result.events).filter((e) =>
          e.kind === "create" && /\/build\/o\d+$/.test(e.path)
        ).length,
        50,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "bulk summary: a rename out of node_modules and a truncating rewrite there keep their full record",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`, nm = `${ws}/node_modules`;
    try {
      await Deno.mkdir(nm, { recursive: true });
      await Deno.mkdir(`${ws}/src`);
      await Deno.mkdir(`${nm}/other`);
      await Deno.writeTextFile(`${nm}/other/index.js`, "ok\n");
      const result = await run(
        dir,
        policy(ws),
        `python3 -c '
import os
os.mkdir("${nm}/evil")
for f in range(100):
    open("${nm}/evil/f%d" % f, "w").close()
os.rename("${nm}/evil/f5", "${ws}/src/f5")
os.rename("${nm}/evil/f6", "${nm}/evil/g6")
with open("${nm}/other/index.js", "w") as out:
    out.write("poisoned\\n")
'`,
      );
      assert.equal(result.code, 0, result.stderr);
      const events = files(result.events);
      assert.ok(
        events.some((e) =>
          e.kind === "rename" && e.path === `${nm}/evil/f5` &&
          e.new_path === `${ws}/src/f5`
        ),
        "the rename out of node_modules",
      );
      assert.ok(
        events.some((e) =>
          e.kind === "truncate" && e.path === `${nm}/other/index.js`
        ),
        "the truncating rewrite",
      );
      // A rename within node_modules is counted, as are the creates.
      const counts = counted(result.events, nm, "python3");
      assert.equal(counts.rename, 1, JSON.stringify(counts));
      assert.equal(counts.create, 100, JSON.stringify(counts));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "bulk summary: a name that climbs out of node_modules with .. keeps its full record",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`, nm = `${ws}/node_modules`;
    try {
      await Deno.mkdir(`${nm}/pkg`, { recursive: true });
      await Deno.mkdir(`${ws}/.github/workflows`, { recursive: true });
      await Deno.writeTextFile(`${ws}/.github/workflows/ci.yml`, "on: push\n");
      await Deno.writeTextFile(`${ws}/.github/workflows/old.yml`, "on: push\n");
      // Its prefix is node_modules' (a bulk directory): only the kernel's
      // scan for "..", "//" and "/./" keeps these out of the counts.
      const up = `${nm}/pkg/../../.github/workflows`;
      const result = await run(
        dir,
        policy(ws),
        `python3 -c '
import os
for f in range(20):
    open("${nm}/pkg/f%d" % f, "w").close()
os.unlink("${up}/old.yml")
os.chmod("${up}/ci.yml", 0o777)
os.mkdir("${up}/evil")
os.rmdir("${up}/evil")
os.symlink("/tmp", "${nm}/pkg/..//../.github/workflows/link")
os.unlink("${nm}/./pkg/../../.github/workflows/link")
'`,
      );
      assert.equal(result.code, 0, result.stderr);
      const workflows = `${ws}/.github/workflows`;
      const seen = files(result.events).map((e) => `${e.kind} ${e.path}`);
      for (
        const change of [
          `unlink ${workflows}/old.yml`,
          `chmod ${workflows}/ci.yml`,
          `mkdir ${workflows}/evil`,
          `rmdir ${workflows}/evil`,
          `symlink ${workflows}/link`,
          `unlink ${workflows}/link`,
        ]
      ) {
        assert.ok(seen.includes(change), `${change}: ${seen.join(", ")}`);
      }
      // The creates in node_modules are counted: the summary is on.
      const counts = counted(result.events, nm, "python3");
      assert.equal(counts.create, 19, JSON.stringify(counts));
      assert.equal(Object.keys(counts).length, 1, JSON.stringify(counts));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A package's directory with `files` and a package.json, packed by npm. */
async function pack(
  dir: string,
  name: string,
  files: Record<string, string>,
  scripts: Record<string, string> = {},
): Promise<string> {
  await Deno.mkdir(`${dir}/${name}/lib`, { recursive: true });
  for (const [file, text] of Object.entries(files)) {
    await Deno.writeTextFile(`${dir}/${name}/${file}`, text);
  }
  await Deno.writeTextFile(
    `${dir}/${name}/package.json`,
    JSON.stringify({ name, version: "1.0.0", scripts }),
  );
  const packed = await new Deno.Command("npm", {
    args: ["pack", "--silent"],
    cwd: `${dir}/${name}`,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(packed.success, new TextDecoder().decode(packed.stderr));
  return `${dir}/${name}/${name}-1.0.0.tgz`;
}

kernelTest(
  "bulk summary: an install script's changes in node_modules are each named with its package, npm's own unpacking still counted",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`, nm = `${ws}/project/node_modules`;
    try {
      await Deno.mkdir(`${ws}/project`, { recursive: true });
      await Deno.writeTextFile(
        `${ws}/project/package.json`,
        JSON.stringify({ name: "project", version: "0.0.1" }),
      );
      const libs: Record<string, string> = { "index.js": "ok\n" };
      for (let i = 0; i < 40; i++) libs[`lib/f${i}.js`] = `${i}\n`;
      const victim = await pack(dir, "victim", libs);
      // Its first change is a harmless one in its own directory; then it
      // replaces another package's code, by rename and by unlink and
      // create, and drops the file `require("victim")` finds first. By
      // normal absolute names: a name with `..` is sent in full anyway.
      const evil = await pack(dir, "evil", {
        "postinstall.js": [
          `const fs = require("node:fs");`,
          `const at = (name) => require("node:path").join(__dirname, name);`,
          `fs.writeFileSync(at("decoy.txt"), "x");`,
          `fs.writeFileSync(at("payload.js"), "module.exports = 'pwned';");`,
          `fs.renameSync(at("payload.js"), at("../victim/index.js"));`,
          `fs.unlinkSync(at("../victim/lib/f1.js"));`,
          `fs.writeFileSync(at("../victim/lib/f1.js"), "pwned");`,
          `fs.writeFileSync(at("../victim.js"), "module.exports = 'hijacked';");`,
        ].join("\n"),
      }, { postinstall: "node postinstall.js" });
      // No dependencies rule: the summary leaves scripts alone by itself.
      const result = await run(
        dir,
        policy(ws),
        `cd ${ws}/project && npm install ${victim} ${evil} --offline ` +
          `--no-audit --no-fund --foreground-scripts`,
      );
      assert.equal(result.code, 0, result.stderr);
      // the attack took place
      assert.match(await Deno.readTextFile(`${nm}/victim/index.js`), /pwned/);
      assert.equal(await Deno.readTextFile(`${nm}/victim/lib/f1.js`), "pwned");
      assert.match(await Deno.readTextFile(`${nm}/victim.js`), /hijacked/);

      const byEvil = files(result.events).filter((e) =>
        e.dependency?.name === "evil"
      );
      const named = (kind: string, path: string, newPath?: string) =>
        assert.ok(
          byEvil.some((e) =>
            e.kind === kind &&
            (newPath ? e.new_path === newPath : e.path === path)
          ),
          `${kind} ${newPath ?? path}, named with the package: ` +
            JSON.stringify(byEvil.map((e) => [e.kind, e.path, e.new_path])),
        );
      named("create", `${nm}/evil/decoy.txt`);
      named("rename", `${nm}/evil/payload.js`, `${nm}/victim/index.js`);
      named("unlink", `${nm}/victim/lib/f1.js`);
      named("create", `${nm}/victim/lib/f1.js`);
      named("create", `${nm}/victim.js`);
      for (const summary of summaries(result.events)) {
        assert.notEqual(
          summary.dependency?.name,
          "evil",
          `no count for the script: ${JSON.stringify(summary)}`,
        );
      }
      // the job summary's files written: the script's own row, by package
      const row = buildReport(result.events).written.find((entry) =>
        entry.package === "evil@1.0.0 (postinstall)"
      );
      assert.ok(row, "the script's row in the report");
      assert.ok(row.examples.includes(`${nm}/victim/index.js`));
      // npm's own unpacking of the two packages: counted, not one by one
      const unpacked = summaries(result.events).filter((s) =>
        s.directory === nm && s.comm.startsWith("npm")
      ).reduce((sum, s) => sum + (s.counts.create ?? 0), 0);
      assert.ok(unpacked >= 40, `npm's creates counted: ${unpacked}`);
      assert.ok(
        !files(result.events).some((e) =>
          e.kind === "create" && e.path === `${nm}/victim/lib/f30.js`
        ),
        "an unpacked file is not sent on its own",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/**
 * Runs `script` under a shell named npm (a package manager by name), with
 * an agent watching `ws`; its events once the agent has stopped. With
 * `undecided`, the agent never gets to name the manager's children.
 */
async function underManager(
  dir: string,
  ws: string,
  script: string,
  options: { undecided?: boolean; env?: Record<string, string> } = {},
): Promise<RingfenceEvent[]> {
  const events: RingfenceEvent[] = [];
  const agent = await Agent.start({
    policy: parsePolicy(policy(ws), "inline.yaml"),
    spawner: true,
  });
  try {
    agent.subscribe((event) => events.push(event));
    if (options.undecided) {
      agent.installScripts.decide = (): Decision => ({
        marked: false,
        excepted: false,
        pids: [],
      });
    }
    const manager = await rootShell(dir, "npm");
    // `; true`: bash runs the last command in a child of its own
    const made = await new Deno.Command(manager, {
      args: ["-c", `${script}; true`],
      env: options.env,
    }).output();
    assert.ok(made.success);
  } finally {
    await agent.stop();
  }
  return events;
}

/** How many creates of files named `prefix`* in `dir` were sent. */
const sentCreates = (events: RingfenceEvent[], dir: string, prefix: string) =>
  files(events).filter((e) =>
    e.kind === "create" && e.path.startsWith(`${dir}/${prefix}`)
  );

kernelTest(
  "bulk summary: a package manager's child the agent has not named yet is sent one by one",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`, nm = `${ws}/node_modules`;
    try {
      await Deno.mkdir(nm, { recursive: true });
      const events = await underManager(
        dir,
        ws,
        `for i in $(seq 30); do : > ${nm}/m$i; done; ` +
          `/bin/bash -c 'for i in $(seq 30); do : > ${nm}/c$i; done'`,
        { undecided: true },
      );
      assert.equal(sentCreates(events, nm, "c").length, 30, "the child's");
      assert.equal(sentCreates(events, nm, "m").length, 1, "the manager's");
      assert.equal(counted(events, nm, "npm").create, 29);
      assert.equal(counted(events, nm, "bash").create, undefined);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "bulk summary: what an install script forks after it was named is sent one by one too",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const ws = `${dir}/ws`, nm = `${ws}/node_modules`;
    try {
      await Deno.mkdir(`${nm}/evil`, { recursive: true });
      // npm's environment for evil's postinstall; the script waits for the
      // agent to name it before its child starts
      const events = await underManager(
        dir,
        ws,
        `cd ${nm}/evil && /bin/bash -c "sleep 0.5; ` +
          `/bin/bash -c 'for i in \\$(seq 30); do : > ${nm}/g\\$i; done'; true"`,
        {
          env: {
            npm_lifecycle_event: "postinstall",
            npm_package_name: "evil",
            npm_package_version: "1.0.0",
          },
        },
      );
      const sent = sentCreates(events, nm, "g");
      assert.equal(sent.length, 30, "the grandchild's creates");
      for (const event of sent) assert.equal(event.dependency?.name, "evil");
      assert.equal(counted(events, nm, "bash").create, undefined);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
