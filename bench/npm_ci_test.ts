/**
 * The npm_ci bench's and the peers' parsing: the workload's output, the
 * events by type, the policy made block mode, BENCH_PEERS and the
 * side-by-side table.
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  blockModePolicy,
  countEvents,
  npmCiJob,
  parseJobOutput,
} from "./npm_ci.ts";
import { comparisonTable } from "./peer_phase.ts";
import { wantedPeers } from "./peers.ts";

Deno.test("npm_ci: the job's time and its children's CPU from its output", () => {
  const output = "elapsed=8.8918 n=1\n0m0.003s 0m0.000s\n1m6.258s 0m2.201s\n";
  const job = parseJobOutput(output)!;
  assert.equal(job.seconds, 8.8918);
  assert.ok(Math.abs(job.cpuSeconds - 68.459) < 1e-9);
  assert.equal(parseJobOutput("npm ci --offline failed\n"), undefined);
});

Deno.test("npm_ci: events by type, file changes sent or summarised", () => {
  const lines = [
    { type: "process_event", kind: "exec" },
    { type: "file_system_event", kind: "create" },
    { type: "file_system_event", kind: "create" },
    { type: "file_system_event", kind: "unlink" },
    { type: "file_system_summary", kind: "bulk", total: 40 },
  ].map((event) => JSON.stringify(event)).join("\n") + "\n";
  assert.deepEqual(countEvents(lines), {
    byType: {
      process_event: 1,
      "file_system_event/create": 2,
      "file_system_event/unlink": 1,
      file_system_summary: 1,
    },
    fileChanges: 43,
  });
});

Deno.test("npm_ci: the shipped default policy in block mode", async () => {
  const text = await Deno.readTextFile(
    new URL("../policy/default.yaml", import.meta.url),
  );
  const block = blockModePolicy(text);
  assert.match(block, /^mode: block$/m);
  assert.doesNotMatch(block, /^mode: audit$/m);
  assert.equal(block.length, text.length);
  assert.throws(() => blockModePolicy("version: 1\nmode: block\n"));
});

Deno.test("peers: BENCH_PEERS", () => {
  assert.deepEqual(wantedPeers(undefined), []);
  assert.deepEqual(wantedPeers("0"), []);
  assert.deepEqual(wantedPeers("1"), ["bpftrace", "auditd"]);
  assert.deepEqual(wantedPeers("auditd,bpftrace"), ["bpftrace", "auditd"]);
  assert.deepEqual(wantedPeers("bpftrace"), ["bpftrace"]);
  assert.throws(() => wantedPeers("strace"), /unknown peer "strace"/);
});

Deno.test("peers: the side-by-side table leaves out what did not run", () => {
  const table = comparisonTable(
    [
      { name: "exec_storm", label: "exec storm", ringfence: "1.03x" },
      { name: "connect_storm", label: "connect storm" },
      { name: "npm_ci", label: "npm ci", ringfence: "1.01x" },
    ],
    { exec_storm: { bpftrace: 1.054 }, npm_ci: { auditd: 1.071 } },
  );
  assert.equal(
    table,
    [
      "| workload | ringfence | bpftrace | auditd |",
      "| --- | ---: | ---: | ---: |",
      "| exec storm | 1.03x | 1.05x | - |",
      "| npm ci | 1.01x | - | 1.07x |",
    ].join("\n"),
  );
});

Deno.test({
  name: "npm_ci: skipped with npm's reason when the registry is unreachable",
  ignore: !(await new Deno.Command("sh", {
    args: ["-c", "command -v npm"],
    stdout: "null",
  }).output()).success,
  async fn() {
    const base = await Deno.makeTempDir();
    const before = Deno.env.get("npm_config_registry");
    // Nothing listens on loopback's discard port: refused at once.
    Deno.env.set("npm_config_registry", "http://127.0.0.1:9/");
    try {
      const job = await npmCiJob(1, base);
      assert.ok("skipped" in job);
      assert.match(job.skipped, /^npm registry unreachable \(npm ping: /);
      assert.match(job.skipped, /ECONNREFUSED/);
      await assert.rejects(Deno.stat(`${base}/npmci/prepared`));
    } finally {
      if (before === undefined) Deno.env.delete("npm_config_registry");
      else Deno.env.set("npm_config_registry", before);
      await Deno.remove(base, { recursive: true });
    }
  },
});
