/**
 * `ringfence start`: watches the policy's scope roots (the runner's
 * processes) and their descendants until SIGTERM or SIGINT, then leaves
 * the report for `ringfence stop`.
 *
 * Once armed it writes its record (pid, start time, boot, executable, a
 * random token) to its root-only instance directory under /run/ringfence
 * and beats a heartbeat there every second; at the stop it saves its
 * report there, then a last beat saying so. `ringfence stop` trusts these,
 * not the state directory, which the job's user may be able to write.
 *
 * @module
 */

import {
  type AgentRecord,
  checkAgent,
  ensureRootOnlyDir,
  HeartbeatWriter,
  instanceFiles,
  ownRecord,
  readTrusted,
  writeAtomic,
} from "../agent/identity.ts";
import { absolutePath, instanceDir, instanceName } from "../agent/instance.ts";
import { AgentSession, type SessionOptions } from "./agent_session.ts";
import { Fatal } from "./command.ts";
import { saveReport, stateDir, stateFiles, writePidFile } from "./state.ts";

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
  /** The pid file (default: `<state dir>/ringfence.pid`). */
  pidFile?: string;
  /** A policy file read when `latePolicyAt` starts (cli/late_policy.ts). */
  latePolicy?: string;
  /** The program whose start hands `latePolicy` over (the Action's main). */
  latePolicyAt?: string;
}

/**
 * The instance directory, made root-only, with nothing of an earlier
 * agent in it; refuses when that agent is still running.
 */
async function prepareInstance(dir: string): Promise<string> {
  const instance = await instanceDir(dir);
  const files = instanceFiles(instance);
  try {
    ensureRootOnlyDir(instance);
  } catch (error) {
    throw new Fatal(
      `cannot keep the agent's record in ${instance}: ${
        (error as Error).message
      }`,
    );
  }
  const earlier = readTrusted<AgentRecord>(files.record);
  if (earlier.value && checkAgent(earlier.value).status === "alive") {
    throw new Fatal(
      `an agent is already running for ${dir} (pid ${earlier.value.pid}); stop it first`,
    );
  }
  for (const file of Object.values(files)) {
    try {
      Deno.removeSync(file);
    } catch { /* absent */ }
  }
  return instance;
}

/** Runs the agent until SIGTERM or SIGINT; returns the exit code. */
export async function start(options: StartOptions): Promise<number> {
  const dir = absolutePath(options.stateDir ?? stateDir());
  const pidFile = absolutePath(options.pidFile ?? stateFiles(dir).pid);
  const instance = await prepareInstance(dir);
  const files = instanceFiles(instance);
  let session: AgentSession;
  try {
    session = await AgentSession.open(
      {
        ...options,
        stateDir: dir,
        ...(options.latePolicy
          ? { latePolicy: absolutePath(options.latePolicy) }
          : {}),
      },
      false,
      await instanceName(dir),
    );
  } catch (error) {
    try {
      Deno.removeSync(instance);
    } catch { /* not empty */ }
    throw error;
  }
  const { agent } = session;
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  // The pid file and the record before the armed line, whose reader may
  // look for them; the ready file last, so that whoever waits for it finds
  // them all.
  writePidFile(dir, pidFile);
  if (agent.pins) writeAtomic(files.pins, `${agent.pins.dir}\n`);
  const record = ownRecord({
    stateDir: dir,
    pidFile,
    ...(session.eventsFile ? { output: session.eventsFile } : {}),
    ...(session.policyFile
      ? {
        policy: {
          ...session.policyFile,
          path: absolutePath(session.policyFile.path),
        },
      }
      : {}),
  });
  writeAtomic(files.record, JSON.stringify(record, null, 2) + "\n");
  // A policy handed over later is the one a dead agent's stop checks.
  session.onPolicyFile = (policy) =>
    writeAtomic(
      files.record,
      JSON.stringify({ ...record, policy }, null, 2) + "\n",
    );
  const heartbeat = new HeartbeatWriter(instance, record.token, () => {
    const stats = agent.stats();
    const sum = (key: "refused" | "killed") =>
      Object.values(stats.sensors).reduce((n, s) => n + (s[key] ?? 0), 0);
    return {
      events: stats.events,
      denied: stats.blocked,
      refused: sum("refused"),
      killed: sum("killed"),
    };
  });
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
    // The copy `ringfence stop` publishes: where the job cannot write.
    try {
      writeAtomic(files.report, JSON.stringify(report) + "\n");
    } catch (error) {
      console.error(
        `ringfence: cannot save the report in ${instance}: ${
          (error as Error).message
        }`,
      );
    }
    await saveReport(dir, report, markdown, pidFile);
    if (options.report) {
      const { writeReport } = await import("./publish.ts");
      await writeReport(options.report, markdown);
    }
  });
  heartbeat.stop("stopped");
  return 0;
}
