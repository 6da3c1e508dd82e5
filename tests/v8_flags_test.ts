/**
 * An agent started without V8 flags (`deno run -A main.ts start`) restarts
 * itself with them: the same pid, DENO_V8_FLAGS in its environment.
 */
import assert from "node:assert/strict";
import { AGENT_V8_FLAGS } from "../agent/v8_flags.ts";
import { DENO, kernelTest, ROOT } from "./helpers/kernel.ts";

kernelTest(
  "an agent started without V8 flags runs with them, same pid",
  async () => {
    const dir = await Deno.makeTempDir();
    const env = Deno.env.toObject();
    delete env.DENO_V8_FLAGS;
    const agent = new Deno.Command(DENO, {
      args: [
        "run",
        "-A",
        `${ROOT}main.ts`,
        "start",
        "--state-dir",
        dir,
        "--ready-file",
        `${dir}/ready`,
        "--output",
        `${dir}/events.jsonl`,
      ],
      env,
      clearEnv: true,
      stdout: "null",
      stderr: "null",
    }).spawn();
    try {
      const deadline = Date.now() + 20_000;
      while (!(await Deno.stat(`${dir}/ready`).then(() => true, () => false))) {
        assert.ok(Date.now() < deadline, "the agent never armed");
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      const environ = (await Deno.readTextFile(`/proc/${agent.pid}/environ`))
        .split("\0");
      assert.ok(
        environ.includes(`DENO_V8_FLAGS=${AGENT_V8_FLAGS}`),
        "the flags are in the agent's environment",
      );
      assert.equal(
        Number((await Deno.readTextFile(`${dir}/ready`)).trim()),
        agent.pid,
        "the armed agent is the process started",
      );
    } finally {
      agent.kill("SIGTERM");
      await agent.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
);
