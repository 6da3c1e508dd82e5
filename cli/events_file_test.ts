import assert from "node:assert/strict";
import { defaultEventsFile } from "./events_file.ts";

Deno.test("events file: under CI in the runner's temp directory", () => {
  assert.equal(
    defaultEventsFile(
      { GITHUB_ACTIONS: "true", RUNNER_TEMP: "/r/_temp/" },
      "/w",
    ),
    "/r/_temp/ringfence/events.jsonl",
  );
  assert.equal(
    defaultEventsFile({ CI: "true", RUNNER_TEMP: "/t" }, "/w"),
    "/t/ringfence/events.jsonl",
  );
  // CI without a runner temp directory, or a temp directory outside CI
  assert.equal(
    defaultEventsFile({ CI: "true" }, "/w"),
    "/w/ringfence-events.jsonl",
  );
  assert.equal(
    defaultEventsFile({ RUNNER_TEMP: "/t" }, "/w"),
    "/w/ringfence-events.jsonl",
  );
});

Deno.test("events file: beside, not inside, a running agent's state directory", () => {
  const agentThere = (path: string) => path === "/t/ringfence/ringfence.pid";
  assert.equal(
    defaultEventsFile({ CI: "true", RUNNER_TEMP: "/t" }, "/w", agentThere),
    "/t/ringfence-run/events.jsonl",
  );
});
