/**
 * A quiet agent sleeps with a long timeout, and the sensors wake it with
 * their next record (bpf/lib/ring.h, agent/pump.ts): the record must not
 * wait for the timeout. A short burst is read and the agent sleeps on.
 */
import assert from "node:assert/strict";
import { Agent, parsePolicy } from "../mod.ts";
import { kernelTest } from "./helpers/kernel.ts";

const QUIET_POLL_MS = 20_000;

/**
 * Runs /bin/true and resolves once the agent delivered its exec, which
 * must come well before the agent's long timeout: a wake-up.
 */
async function execSeen(agent: Agent): Promise<void> {
  const child = new Deno.Command("/bin/true").spawn();
  const seen = new Promise<void>((resolve) => {
    const unsubscribe = agent.subscribe((event) => {
      if (
        event.type === "process_event" && event.kind === "exec" &&
        event.pid === child.pid
      ) {
        unsubscribe();
        resolve();
      }
    });
  });
  await child.status;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"late">((resolve) =>
    timer = setTimeout(() => resolve("late"), QUIET_POLL_MS / 4)
  );
  const outcome = await Promise.race([seen, late]);
  clearTimeout(timer);
  assert.notEqual(
    outcome,
    "late",
    `the exec of ${child.pid} was not read within ${QUIET_POLL_MS / 4} ms: ` +
      "the sleeping agent was not woken",
  );
}

/** Runs `body` beside an agent on an empty policy that sleeps QUIET_POLL_MS. */
async function withQuietAgent(
  body: (agent: Agent) => Promise<void>,
): Promise<void> {
  const agent = await Agent.start({
    policy: parsePolicy("version: 1\n", "inline.yaml"),
    spawner: true,
    quietPollMs: QUIET_POLL_MS,
  });
  try {
    await body(agent);
  } finally {
    await agent.stop();
  }
}

kernelTest(
  "a quiet agent is woken by the next record, not by its timeout",
  () =>
    withQuietAgent(async (agent) => {
      for (let round = 0; round < 3; round++) {
        // Quiet long enough for the agent to sleep (two empty polls).
        await new Promise((resolve) => setTimeout(resolve, 400));
        await execSeen(agent);
      }
    }),
);

kernelTest(
  "a sleeping agent reads a short burst and sleeps on: one pass, not a dozen",
  () =>
    withQuietAgent(async (agent) => {
      await new Promise((resolve) => setTimeout(resolve, 400));
      const bursts = 8;
      const before = agent.stats().passes;
      for (let burst = 0; burst < bursts; burst++) {
        // A process's fork, exec and exit: a burst or three, woken each
        // time by the kernel; then quiet for a while.
        await execSeen(agent);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      const passes = agent.stats().passes - before;
      // Reading each burst in batches (a gap, two polls, the flag set
      // again, a last pass) takes five passes or more.
      assert.ok(
        passes <= 3 * bursts,
        `${passes} reads of the rings for ${bursts} short bursts`,
      );
    }),
);
