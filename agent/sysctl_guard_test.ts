import assert from "node:assert/strict";
import type { AgentEvent } from "../sensors/agent_event.ts";
import { SysctlGuard } from "./sysctl_guard.ts";

Deno.test("SysctlGuard puts a changed value back in block mode and reports it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/core_pattern`;
    await Deno.writeTextFile(file, "core\n");
    const events: AgentEvent[] = [];
    let block = true;
    const guard = new SysctlGuard((event) => events.push(event), () => block, {
      core_pattern: file,
      modprobe: `${dir}/absent`,
    });
    assert.deepEqual([...guard.values], [["core_pattern", "core"]]);
    assert.equal(guard.check(), 0);
    await Deno.writeTextFile(file, "|/tmp/x\n");
    assert.equal(guard.check(), 1);
    assert.equal(await Deno.readTextFile(file), "core\n");
    assert.equal(events[0].what, "core_pattern");
    assert.equal(events[0].before, "core");
    assert.equal(events[0].after, "|/tmp/x");
    assert.equal(events[0].repaired, true);
    assert.equal(events[0].type, "agent");
    assert.equal(events[0].kind, "tamper");
    // Audit mode: reported, left as found.
    block = false;
    await Deno.writeTextFile(file, "|/tmp/y\n");
    guard.check();
    assert.equal(await Deno.readTextFile(file), "|/tmp/y\n");
    assert.equal(events[1].repaired, false);
    assert.match(events[1].detail ?? "", /audit mode/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
