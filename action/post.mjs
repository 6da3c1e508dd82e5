// The action's post step (always runs): stop the agent and write the job
// summary.
import { join } from "node:path";
import { ACTION_ROOT, runAsRoot, STATE_DIR } from "./common.mjs";

const env = { RINGFENCE_STATE_DIR: STATE_DIR };
if (process.env.GITHUB_STEP_SUMMARY) {
  env.GITHUB_STEP_SUMMARY = process.env.GITHUB_STEP_SUMMARY;
}
const status = runAsRoot(
  join(ACTION_ROOT, "scripts", "runner-hooks", "job-completed.sh"),
  [],
  env,
);
if (status !== 0) {
  console.log(
    "::warning title=ringfence::stopping the agent did not go cleanly",
  );
}
process.exitCode = status;
