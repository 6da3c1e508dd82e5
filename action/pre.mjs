// The action's pre step, which the runner runs before any step of the job
// (so before the checkout): installs the pinned ringfence, starts the agent
// with the inputs and returns once its sensors are armed.
//
// A `policy` given inline is put in force now. A `policy` that names a file
// exists only after the checkout: the agent starts with the built-in policy
// (and the other inputs) and takes the file when the main step starts
// (ringfence start --late-policy, cli/late_policy.ts).
import { mkdirSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import {
  ACTION_ROOT,
  fail,
  flagInput,
  input,
  MAIN_SCRIPT,
  POST_SCRIPT,
  runAsRoot,
  saveState,
  setOutput,
  STATE_DIR,
} from "./common.mjs";
import { InstallError, installRelease } from "./install.mjs";

const egress = input("egress-policy");
if (egress && egress !== "audit" && egress !== "block") {
  fail(`egress-policy: ${JSON.stringify(egress)} is neither audit nor block`);
}

mkdirSync(STATE_DIR, { recursive: true });

let binary = input("binary");
if (!binary) {
  try {
    const installed = await installRelease({
      version: input("version"),
      baseUrl: input("base-url").replace(/\/+$/, ""),
      prefix: join(STATE_DIR, "bin"),
    });
    console.log(
      `ringfence ${installed.version} installed as ${installed.path} (sha256 ${installed.sha256})`,
    );
    binary = installed.path;
  } catch (error) {
    if (error instanceof InstallError) fail(error.message);
    throw error;
  }
}
saveState("binary", binary);

const env = {
  RINGFENCE_BIN: binary,
  RINGFENCE_STATE_DIR: STATE_DIR,
  RINGFENCE_READY_TIMEOUT: input("ready-timeout") || "30",
};
for (const name of ["GITHUB_ACTIONS", "GITHUB_WORKSPACE", "RUNNER_TEMP"]) {
  if (process.env[name]) env[name] = process.env[name];
}
const policy = input("policy");
if (policy.includes("\n")) {
  // Made root's with the state directory by the hook.
  const file = join(STATE_DIR, "policy.yaml");
  writeFileSync(file, policy + "\n");
  env.RINGFENCE_POLICY = file;
} else if (policy) {
  env.RINGFENCE_LATE_POLICY = isAbsolute(policy)
    ? policy
    : join(process.env.GITHUB_WORKSPACE ?? process.cwd(), policy);
  env.RINGFENCE_LATE_POLICY_AT = MAIN_SCRIPT;
  saveState("late-policy", env.RINGFENCE_LATE_POLICY);
}
if (egress) env.RINGFENCE_EGRESS_POLICY = egress;
if (input("allowed-endpoints")) {
  env.RINGFENCE_ALLOWED_ENDPOINTS = input("allowed-endpoints");
}
if (flagInput("disable-file-monitoring")) {
  env.RINGFENCE_DISABLE_FILE_MONITORING = "true";
}
if (flagInput("disable-sudo")) {
  env.RINGFENCE_DISABLE_SUDO = "true";
  // The post step's own process (a child of Runner.Worker) gets sudo back
  // from the agent: it needs it to stop the agent.
  env.RINGFENCE_SUDO_RELEASE_AT = POST_SCRIPT;
}
const status = runAsRoot(
  join(ACTION_ROOT, "scripts", "runner-hooks", "job-started.sh"),
  [],
  env,
);
if (status !== 0) fail("the ringfence agent did not start (see the log above)");
saveState("started", "true");
setOutput("events", join(STATE_DIR, "events.jsonl"));
