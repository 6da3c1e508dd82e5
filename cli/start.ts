/**
 * `ringfence start`: watches the policy's scope roots (the runner's
 * processes) and their descendants until SIGTERM or SIGINT, then leaves
 * the report in the state directory for `ringfence stop`.
 *
 * @module
 */

import { startInstanceName } from "../agent/pins.ts";
import { AgentSession, type SessionOptions } from "./agent_session.ts";
import {
  saveReport,
  stateDir,
  writePidFile,
  writePinsMarker,
} from "./state.ts";

/** The flags of `ringfence start`. */
export interface StartOptions extends SessionOptions {
  /** Pid file, report and spool (default: {@linkcode stateDir}). */
  stateDir?: string;
  /** Also write the markdown report here at stop. */
  report?: string;
  /** Write the agent's pid here once armed. */
  readyFile?: string;
  /** Give sudo back when this program starts under a scope root. */
  sudoReleaseAt?: string;
}

/** Runs the agent until SIGTERM or SIGINT; returns the exit code. */
export async function start(options: StartOptions): Promise<number> {
  const dir = options.stateDir ?? stateDir();
  // Created first: the instance's name comes from its resolved path.
  Deno.mkdirSync(dir, { recursive: true });
  const session = await AgentSession.open(
    { ...options, stateDir: dir },
    false,
    await startInstanceName(dir),
  );
  const { agent } = session;
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  // The pid file before the armed line, whose reader may look for it; the
  // ready file last, so that whoever waits for it finds both.
  writePidFile(dir);
  if (agent.pins) writePinsMarker(dir, agent.pins.dir);
  console.error(
    `ringfence: armed after ${
      Math.round(agent.armedAfterMs)
    } ms in ${agent.policy.mode} mode, watching ${
      agent.policy.scope.processes.join(", ")
    } and their descendants (pid ${Deno.pid})`,
  );
  if (options.readyFile) {
    Deno.writeTextFileSync(options.readyFile, `${Deno.pid}\n`);
  }
  await stopped.promise;
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.removeSignalListener("SIGINT", stop);
  await session.finish("stopped", async (report, markdown) => {
    await saveReport(dir, report, markdown);
    if (options.report) {
      const { writeReport } = await import("./publish.ts");
      await writeReport(options.report, markdown);
    }
  });
  return 0;
}
