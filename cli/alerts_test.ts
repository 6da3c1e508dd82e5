import assert from "node:assert/strict";
import { alertsFromFile } from "./alerts.ts";

const BLOCKED = {
  type: "network_event",
  kind: "connect",
  time: "2026-12-03T10:00:00.000000000Z",
  pid: 7,
  tid: 7,
  ppid: 1,
  uid: 0,
  gid: 0,
  comm: "curl",
  cgroup_id: 1,
  protocol: "tcp",
  family: 4,
  daddr: "1.1.1.1",
  dport: 443,
  verdict: "deny",
  reason: "not_in_allow_list",
};

Deno.test("alerts from a file: streamed, other and torn lines skipped, symlinks not followed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lines = [
      JSON.stringify({ ...BLOCKED, verdict: "allow", reason: "loopback" }),
      JSON.stringify(BLOCKED),
      "not json",
      JSON.stringify({ ...BLOCKED, pid: 8, daddr: "2.2.2.2" }),
      // a big file: the reader goes through it in chunks
      ...Array.from(
        { length: 5000 },
        () => JSON.stringify({ ...BLOCKED, verdict: "allow" }),
      ),
      JSON.stringify({ ...BLOCKED, pid: 9 }),
      '{"type":"network_event","verdict":"deny"', // torn last line
    ];
    await Deno.writeTextFile(`${dir}/events.jsonl`, lines.join("\n"));
    assert.equal(await alertsFromFile(`${dir}/events.jsonl`), 3);
    await Deno.symlink(`${dir}/events.jsonl`, `${dir}/link.jsonl`);
    assert.equal(await alertsFromFile(`${dir}/link.jsonl`), undefined);
    assert.equal(await alertsFromFile(`${dir}/absent.jsonl`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
