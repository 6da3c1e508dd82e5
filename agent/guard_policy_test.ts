import assert from "node:assert/strict";
import { guardSettings } from "./guard_policy.ts";

const runner = { sudo: "allow", memory: "deny", bpf: "deny" } as const;

Deno.test("guardSettings() kills in block mode and reports in audit", () => {
  assert.deepEqual(guardSettings({ mode: "block", runner }), {
    memory: "kill",
    bpf: "kill",
    signal: "kill",
  });
  assert.deepEqual(guardSettings({ mode: "audit", runner }), {
    memory: "report",
    bpf: "report",
    signal: "report",
  });
});

Deno.test("guardSettings() leaves alone what the runner section allows", () => {
  assert.deepEqual(
    guardSettings({
      mode: "block",
      runner: { ...runner, memory: "allow", bpf: "allow" },
    }),
    { memory: "off", bpf: "off", signal: "kill" },
  );
});
