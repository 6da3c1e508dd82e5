// The action's post step (always runs): stop the agent, publish its full
// report to the job summary, and upload the events and the report as an
// artifact when asked. job-completed.sh runs `ringfence stop`, which
// writes the report to $GITHUB_STEP_SUMMARY and exits 3 when the agent
// was tampered with: the step then fails.
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  ACTION_ROOT,
  escapeData,
  flagInput,
  getState,
  input,
  runAsRoot,
  STATE_DIR,
} from "./common.mjs";
import { ArtifactError, uploadArtifact } from "./artifact.mjs";

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

if (getState("started") !== "true") {
  // The pre step failed (and said why) or did not run: no agent to stop.
  console.log(
    "::warning title=ringfence::no agent was started in this job (see the pre step's log): nothing to stop or report",
  );
  process.exit(0);
}

if (flagInput("disable-sudo") && !sudoBack(15)) {
  console.log(
    "::error title=ringfence::sudo did not come back: the agent that took it away (disable-sudo) did not give it back; it has died or was stopped early. Enforcement and the report of this job cannot be trusted.",
  );
  process.exit(1);
}

// Every variable the hook reads is set here: a step can put others in the
// job's environment ($GITHUB_ENV), and the hook runs as root.
const env = {
  RINGFENCE_STATE_DIR: STATE_DIR,
  RINGFENCE_BIN: getState("binary") || input("binary") ||
    join(STATE_DIR, "bin", "ringfence"),
  RINGFENCE_STOP_TIMEOUT: "30",
};
// GITHUB_STEP_SUMMARY: `ringfence stop` appends the full report to it;
// GITHUB_ACTIONS: its annotations (`::error`) are printed for the runner.
for (const name of ["GITHUB_STEP_SUMMARY", "GITHUB_ACTIONS", "RUNNER_TEMP"]) {
  if (process.env[name]) env[name] = process.env[name];
}
const status = runAsRoot(
  join(ACTION_ROOT, "scripts", "runner-hooks", "job-completed.sh"),
  [],
  env,
);
if (status !== 0 && status !== 3) {
  console.log(
    `::error title=ringfence::ringfence stop failed (exit ${status}): the report of this job may be missing (see the log above)`,
  );
}

if (flagInput("upload-artifact")) {
  const name = input("artifact-name") ||
    `ringfence-${process.env.GITHUB_JOB || "job"}`;
  try {
    const uploaded = await uploadArtifact(
      name,
      ["events.jsonl", "report.md", "report.html", "report.json"].map((file) =>
        join(STATE_DIR, file)
      ),
    );
    console.log(
      `ringfence: uploaded ${
        uploaded.files.join(", ")
      } as the artifact ${name} (${uploaded.size} bytes zipped, sha256 ${uploaded.sha256}${
        uploaded.id ? `, id ${uploaded.id}` : ""
      })`,
    );
  } catch (error) {
    if (!(error instanceof ArtifactError)) throw error;
    console.log(
      `::error title=ringfence artifact::${
        escapeData(`the artifact ${name} was not uploaded: ${error.message}`)
      }`,
    );
    if (status === 0) process.exitCode = 1;
  }
}
if (status !== 0) process.exitCode = status;
