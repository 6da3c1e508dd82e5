import assert from "node:assert/strict";
import {
  type AgentRecord,
  checkAgent,
  processIdentity,
  rootOnlyProblem,
} from "./identity.ts";
import { instanceName } from "./instance.ts";

function record(fields: Partial<AgentRecord> = {}): AgentRecord {
  const self = processIdentity(Deno.pid)!;
  return {
    version: 1,
    pid: Deno.pid,
    startTime: self.startTime,
    bootId: "boot",
    exe: Deno.readLinkSync("/proc/self/exe"),
    token: "t",
    stateDir: "/s",
    started: "",
    pidFile: "/s/ringfence.pid",
    ...fields,
  };
}

Deno.test("checkAgent: alive only with the same start time, executable and boot", () => {
  assert.equal(checkAgent(record(), "/proc", "boot").status, "alive");
  assert.equal(checkAgent(record(), "/proc", "other boot").status, "dead");
  const later = checkAgent(
    record({ startTime: record().startTime - 1 }),
    "/proc",
    "boot",
  );
  assert.equal(later.status, "replaced");
  assert.equal(
    checkAgent(record({ exe: "/usr/bin/ringfence" }), "/proc", "boot").status,
    "replaced",
  );
  assert.equal(
    checkAgent(record({ pid: 2 ** 22 + 7 }), "/proc", "boot").status,
    "dead",
  );
});

Deno.test("rootOnlyProblem: a file others may write is not root-only", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/agent.json`;
    await Deno.writeTextFile(file, "{}", { mode: 0o600 });
    await Deno.chmod(file, 0o600);
    const root = Deno.uid() === 0;
    assert.equal(rootOnlyProblem(file) === undefined, root);
    await Deno.chmod(file, 0o666);
    assert.match(rootOnlyProblem(file) ?? "", /writable|owned/);
    await Deno.symlink(file, `${dir}/link`);
    assert.match(rootOnlyProblem(`${dir}/link`) ?? "", /symlink/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("instanceName: one name per state directory, however spelled", async () => {
  const name = await instanceName("/home/runner/work/_temp/ringfence");
  assert.match(name, /^start-[0-9a-f]{12}$/);
  assert.equal(
    await instanceName("/home/runner/work/_temp/./x/../ringfence/"),
    name,
  );
  assert.notEqual(await instanceName("/var/lib/ringfence"), name);
});
