// The action's post step (always runs): stop the agent and write the job
// summary. job-completed.sh runs `ringfence stop`, which exits 3 when the
// agent was tampered with (killed, replaced): the step then fails.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { ACTION_ROOT, input, runAsRoot, STATE_DIR } from "./common.mjs";

/**
 * With disable-sudo, the agent gives sudo back when it sees this step's
 * process start; waits until it has (at most `seconds`). False when sudo
 * never came back: the agent is gone or was replaced.
 */
function sudoBack(seconds) {
  if (typeof process.getuid === "function" && process.getuid() === 0) {
    return true;
  }
  const deadline = Date.now() + seconds * 1000;
  for (;;) {
    const result = spawnSync("sudo", ["-n", "true"], { stdio: "ignore" });
    if (result.status === 0) return true;
    if (Date.now() >= deadline) return false;
    spawnSync("sleep", ["0.1"]);
  }
}

if (input("disable-sudo") === "true" && !sudoBack(15)) {
  console.log(
    "::error title=ringfence::sudo did not come back: the agent that took it away (disable-sudo) did not give it back; it has died or was stopped early. Enforcement and the report of this job cannot be trusted.",
  );
  process.exit(1);
}

// Every variable the hook reads is set here: a step can put others in the
// job's environment ($GITHUB_ENV), and the hook runs as root.
const env = {
  RINGFENCE_STATE_DIR: STATE_DIR,
  RINGFENCE_BIN: input("binary") || join(STATE_DIR, "bin", "ringfence"),
  RINGFENCE_STOP_TIMEOUT: "30",
};
if (process.env.GITHUB_STEP_SUMMARY) {
  env.GITHUB_STEP_SUMMARY = process.env.GITHUB_STEP_SUMMARY;
}
const status = runAsRoot(
  join(ACTION_ROOT, "scripts", "runner-hooks", "job-completed.sh"),
  [],
  env,
);
if (status === 3) {
  console.log(
    "::error title=ringfence::AGENT TAMPERED: the agent was killed, replaced or interfered with during the job (see the job summary)",
  );
} else if (status !== 0) {
  console.log(
    "::warning title=ringfence::stopping the agent did not go cleanly",
  );
}
process.exitCode = status;
