// The action's main step: install ringfence, write the policy, start the
// agent and wait until its sensors are armed.
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { isAbsolute, join } from "node:path";
import {
  ACTION_ROOT,
  input,
  POST_SCRIPT,
  runAsRoot,
  setOutput,
  STATE_DIR,
} from "./common.mjs";

function fail(message) {
  console.log(`::error title=ringfence::${message}`);
  process.exit(1);
}

mkdirSync(STATE_DIR, { recursive: true });

let binary = input("binary");
if (!binary) {
  const prefix = join(STATE_DIR, "bin");
  const env = {};
  if (input("base-url")) env.RINGFENCE_BASE_URL = input("base-url");
  const status = runAsRoot(
    join(ACTION_ROOT, "scripts", "install.sh"),
    ["--prefix", prefix, "--version", input("version") || "latest"],
    env,
  );
  if (status !== 0) fail("installing ringfence failed (see the log above)");
  binary = join(prefix, "ringfence");
}

const policyInput = input("policy");
let policy = "";
if (policyInput.includes("\n")) {
  policy = join(STATE_DIR, "policy.yaml");
  writeFileSync(policy, policyInput + "\n");
} else if (policyInput) {
  policy = isAbsolute(policyInput)
    ? policyInput
    : join(process.env.GITHUB_WORKSPACE ?? process.cwd(), policyInput);
  if (!existsSync(policy)) fail(`policy file ${policy} does not exist`);
}

const env = {
  RINGFENCE_BIN: binary,
  RINGFENCE_STATE_DIR: STATE_DIR,
  RINGFENCE_READY_TIMEOUT: input("ready-timeout") || "30",
};
if (policy) env.RINGFENCE_POLICY = policy;
if (input("disable-sudo") === "true") {
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
setOutput("events", join(STATE_DIR, "events.jsonl"));
