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

const GIT = ["-c", "user.name=ci", "-c", "user.email=ci@example.invalid"];

async function git(cwd: string, ...args: string[]): Promise<void> {
  const output = await new Deno.Command("git", {
    args: [...GIT, ...args],
    cwd,
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

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
