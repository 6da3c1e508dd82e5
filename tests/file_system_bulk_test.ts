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
import { kernelTest, readJsonLines, ringfence } from "./helpers/kernel.ts";
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
