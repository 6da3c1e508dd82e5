import assert from "node:assert/strict";
import { tamperEvent } from "../sensors/agent_event.ts";
import { buildReport } from "./build.ts";
import {
  mergeIntegrity,
  renderTamperedReport,
  tamperedLines,
} from "./integrity.ts";
import { renderMarkdown } from "./markdown.ts";

Deno.test("integrity: an agent tamper event turns the report red", () => {
  const clean = buildReport([]);
  assert.deepEqual(clean.integrity, { status: "ok", reasons: [] });
  assert.ok(!renderMarkdown(clean).includes("TAMPERED"));
  const report = buildReport([
    tamperEvent({
      what: "core_pattern",
      before: "core",
      after: "|/tmp/x",
      repaired: true,
    }, "2026-12-03T12:00:00.000Z"),
  ]);
  assert.equal(report.integrity.status, "tampered");
  assert.deepEqual(report.integrity.reasons, [
    'core_pattern changed from "core" to "|/tmp/x" at 2026-12-03T12:00:00.000Z; the agent put it back',
  ]);
  assert.equal(
    report.summary.processes,
    0,
    "the agent is not a process of the job",
  );
  const markdown = renderMarkdown(report);
  assert.match(
    markdown,
    /^## ringfence\n\n> \[!CAUTION\]\n> ### 🟥 ringfence: AGENT TAMPERED/,
  );
  assert.match(
    markdown,
    /> - core_pattern changed from "core" to "\\|\/tmp\/x"/,
  );
});

Deno.test("integrity: the stop's findings, agent facts and evidence", () => {
  const integrity = mergeIntegrity({ status: "ok", reasons: [] }, {
    reasons: ["the agent (pid 42) is not running"],
    agent: {
      pid: 42,
      lastSeen: "2026-12-03T12:00:01.000Z",
      counters: { events: 7, denied: 1, refused: 2, killed: 0 },
      pidFile: "99 (ringfence (/usr/bin/sleep))",
    },
    evidence: {
      signals: [{ senderPid: 77, comm: "bash", signal: 9, count: 1, uid: 0 }],
      refused: 3,
    },
  });
  assert.equal(integrity.status, "tampered");
  assert.deepEqual(tamperedLines(integrity), [
    "ringfence: AGENT TAMPERED — the agent (pid 42) is not running",
  ]);
  const markdown = renderTamperedReport(integrity, "/s/events.jsonl");
  assert.match(
    markdown,
    /\*\*The agent:\*\* pid 42 · last seen alive at 2026-12-03T12:00:01\.000Z · pid file: 99/,
  );
  assert.match(
    markdown,
    /7 events · 1 denied · 2 refused in the kernel · 0 killed/,
  );
  assert.match(markdown, /\| 77 \| bash \| 0 \| 9 \| 1 \|/);
  assert.match(markdown, /while no agent ran:\*\* 3 refused/);
  assert.match(markdown, /not as proof/);
});
