/**
 * A quiet agent sleeps with a long timeout, and the sensors wake it with
 * their next record (bpf/lib/ring.h, agent/pump.ts): the record must not
 * wait for the timeout.
 */
import assert from "node:assert/strict";
import { Agent, parsePolicy } from "../mod.ts";
import { kernelTest } from "./helpers/kernel.ts";

const QUIET_POLL_MS = 20_000;

kernelTest(
  "a quiet agent is woken by the next record, not by its timeout",
  async () => {
    const agent = await Agent.start({
      policy: parsePolicy("version: 1\n", "inline.yaml"),
      spawner: true,
      quietPollMs: QUIET_POLL_MS,
    });
    try {
      for (let round = 0; round < 3; round++) {
        // Quiet long enough for the agent to sleep (ten empty polls).
        await new Promise((resolve) => setTimeout(resolve, 400));
        const child = new Deno.Command("/bin/true").spawn();
        const started = performance.now();
        const seen = new Promise<number>((resolve) => {
          const unsubscribe = agent.subscribe((event) => {
            if (
              event.type === "process_event" && event.kind === "exec" &&
              event.pid === child.pid
            ) {
              unsubscribe();
              resolve(performance.now());
            }
          });
        });
        await child.status;
        let timer: ReturnType<typeof setTimeout> | undefined;
        const late = new Promise<undefined>((resolve) =>
          timer = setTimeout(() => resolve(undefined), QUIET_POLL_MS / 2)
        );
        const at = await Promise.race([seen, late]);
        clearTimeout(timer);
        assert.ok(
          at !== undefined,
          `round ${round}: the exec of ${child.pid} was not read within ` +
            `${QUIET_POLL_MS / 2} ms: the sleeping agent was not woken`,
        );
        // A wakeup, not the end of a 20 s poll.
        assert.ok(at - started < QUIET_POLL_MS / 4, `${at - started} ms`);
      }
    } finally {
      await agent.stop();
    }
  },
);
