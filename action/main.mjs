// The action's main step, where the workflow lists the action: the agent
// the pre step started is already running. With `policy` naming a file
// (kept in the repository, so read after the checkout), the agent takes
// it as this step's process starts (cli/late_policy.ts); this step waits
// for its answer and fails the job when the policy was refused (the
// previous policy then stays in force).
import { existsSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import {
  escapeData,
  fail,
  getState,
  input,
  setOutput,
  STATE_DIR,
} from "./common.mjs";

if (getState("started") !== "true") {
  fail(
    "the agent was not started: this action's pre step did not run or failed (see its log)",
  );
}
setOutput("events", join(STATE_DIR, "events.jsonl"));

const late = getState("late-policy");
if (late) {
  const resultFile = join(STATE_DIR, "policy-handoff.json");
  const seconds = Number(input("ready-timeout") || "30");
  const deadline = Date.now() + (seconds > 0 ? seconds : 30) * 1000;
  let result;
  while (!result) {
    try {
      result = JSON.parse(readFileSync(resultFile, "utf8"));
    } catch {
      if (Date.now() >= deadline) {
        fail(
          `the agent did not take the policy ${late} within ${seconds}s (is it running? see ${
            join(STATE_DIR, "agent.log")
          })`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  if (result.pid !== process.pid) {
    // Another process started as this step's script did, before it: the
    // agent took the policy then, and takes no other.
    fail(
      `the policy was handed to the agent at the start of another process (pid ${result.pid}), not of this step: a step before this one ran ${
        join("action", "main.mjs")
      } (${result.status})`,
    );
  }
  if (result.status === "applied") {
    console.log(
      `ringfence: policy ${late} (sha256 ${result.sha256}) in force, mode ${result.mode}`,
    );
  } else {
    const workspace = process.env.GITHUB_WORKSPACE ?? "";
    const file = workspace ? relative(workspace, late) : late;
    const hint = existsSync(late)
      ? ""
      : "; list this step after actions/checkout, or give the policy inline";
    console.log(
      `::error title=ringfence policy,file=${escapeData(file)}::${
        escapeData(result.error + hint)
      }; the previous policy stays in force`,
    );
    process.exit(1);
  }
}
