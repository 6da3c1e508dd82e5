/**
 * `ringfence stop`: ends the agent a `ringfence start` left running, found
 * by its pid file, and publishes the report it saved.
 *
 * @module
 */

import { log } from "./command.ts";
import { type PublishFlags, publishReport } from "./publish.ts";
import { restoreAbandonedSudo } from "./restore_sudo.ts";
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
  let pid: number;
  try {
    pid = Number((await Deno.readTextFile(pidFile)).trim().split("\n")[0]);
  } catch {
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
