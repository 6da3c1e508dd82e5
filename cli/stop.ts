/**
 * `ringfence stop`: ends the agent a `ringfence start` left running, found
 * by its pid file, and publishes the report it saved.
 *
 * @module
 */

import { log } from "./command.ts";
import { type PublishFlags, publishReport } from "./publish.ts";
import { restoreAbandonedSudo } from "./restore_sudo.ts";
import { instanceDir, startInstanceName } from "../agent/pins.ts";
import {
  evidenceLines,
  readEvidence,
  recoverInstance,
} from "../agent/evidence.ts";
import { writeAllSync } from "../exporters/jsonl.ts";
import { stateFiles } from "./state.ts";

/** Whether `pid` is running: there, and neither a zombie nor dead (proc(5)). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    const state = stat.slice(
      stat.lastIndexOf(")") + 2,
      stat.lastIndexOf(")") + 3,
    );
    return state !== "Z" && state !== "X";
  } catch {
    return false;
  }
}

/**
 * When the agent is gone and its pins are left: drains their rings into
 * the events file it wrote, reads the counters and `agent_signals`, prints
 * what they say and removes the pins. When the agent had pinned (its
 * marker in the state directory) and the pins are gone while it was dead
 * (`agentDied`), says that someone else removed them. Returns whether
 * there were pins.
 */
function recoverPins(
  instance: string,
  files: ReturnType<typeof stateFiles>,
  agentDied: boolean,
): boolean {
  const pinnedBefore = (() => {
    try {
      return Deno.readTextFileSync(files.pins).trim();
    } catch {
      return undefined;
    }
  })();
  const target = readEvidence(instance)?.output;
  let output: Deno.FsFile | undefined;
  if (target) {
    try {
      output = Deno.openSync(target, { append: true, create: true });
    } catch (error) {
      log(`cannot append to ${target}: ${(error as Error).message}`);
    }
  }
  const encoder = new TextEncoder();
  let evidence;
  try {
    evidence = recoverInstance(instance, (event) => {
      if (output) {
        writeAllSync(output, encoder.encode(JSON.stringify(event) + "\n"));
      }
    });
  } finally {
    output?.close();
  }
  try {
    Deno.removeSync(files.pins);
  } catch { /* none */ }
  if (!evidence) {
    if (agentDied && pinnedBefore) {
      log(
        `pins removed by someone else: ${pinnedBefore} was gone while the agent was dead (whoever removed them could also detach what they held)`,
      );
    }
    return false;
  }
  for (const line of evidenceLines(evidence)) log(line);
  log(`removed the pins ${instanceDir(instance)}`);
  return true;
}

/** Options of `ringfence stop`. */
export interface StopOptions extends PublishFlags {
  /** The agent's state directory. */
  stateDir: string;
  /** Its pid file (default: the state directory's). */
  pidFile?: string;
  /** Seconds to wait for the agent after SIGTERM. */
  timeout: string;
}

/**
 * `ringfence stop`: SIGTERM to the agent of the pid file, waits until it has
 * gone (its report is then saved), and publishes the report. Whatever
 * happened, sudo rights an agent took and did not give back (it died)
 * are given back.
 */
export async function stop(options: StopOptions): Promise<number> {
  try {
    return await stopAgent(options);
  } finally {
    restoreAbandonedSudo();
  }
}

async function stopAgent(options: StopOptions): Promise<number> {
  const files = stateFiles(options.stateDir);
  const pidFile = options.pidFile ?? files.pid;
  const instance = await startInstanceName(options.stateDir);
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile)).trim().split("\n")[0]);
  } catch {
    // No agent to signal, but a dead one's pins may still enforce.
    if (recoverPins(instance, files, false)) return 1;
    throw new Error(`no agent to stop: ${pidFile} does not exist`);
  }
  if (!Number.isInteger(pid) || pid <= 1) {
    throw new Error(`${pidFile} does not hold a pid`);
  }
  const comm = (() => {
    try {
      return Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll(
        "\0",
        " ",
      );
    } catch {
      return "";
    }
  })();
  if (!alive(pid)) {
    log(`the agent (pid ${pid}) is not running`);
    recoverPins(instance, files, true);
  } else if (!/ringfence|main\.ts|deno/.test(comm)) {
    throw new Error(
      `pid ${pid} from ${pidFile} is not a ringfence agent (${comm.trim()})`,
    );
  } else {
    Deno.kill(pid, "SIGTERM");
    const seconds = Number(options.timeout);
    const deadline = Date.now() + (seconds > 0 ? seconds : 30) * 1000;
    while (alive(pid) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    if (alive(pid)) {
      throw new Error(
        `the agent (pid ${pid}) did not stop within ${options.timeout}s`,
      );
    }
    // A clean stop unpins; pins left mean the agent died on the way.
    recoverPins(instance, files, false);
  }
  let markdown: string;
  try {
    markdown = await Deno.readTextFile(files.report);
  } catch {
    log(`no report in ${files.report}`);
    return 1;
  }
  await publishReport(markdown, { ...options, printIfNowhere: true });
  return 0;
}
