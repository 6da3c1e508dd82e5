/**
 * `ringfence run -- CMD`: watches CMD and all its descendants from their
 * first instruction, then publishes the report and exits with CMD's status.
 *
 * @module
 */

import { AgentSession, type SessionOptions } from "./agent_session.ts";
import { runInstanceName } from "../agent/pins.ts";
import { Fatal } from "./command.ts";
import type { PublishFlags } from "./publish.ts";
import { underGitHubActions } from "./alerts.ts";
import { prepareDefaultEventsFile } from "./events_file.ts";
import { dropStartupPages } from "../agent/memory.ts";
import { waitForData } from "../sensors/ringbuf.ts";

/** How long the command runs before the agent's start-up pages go. */
const DROP_AFTER_MS = 100;

/** The default events file, or a clear error when it cannot be made. */
function prepareEventsFile(): string {
  try {
    return prepareDefaultEventsFile();
  } catch (error) {
    throw new Fatal(
      `cannot make the events file's directory (give --output): ${
        (error as Error).message
      }`,
    );
  }
}

/** The flags of `ringfence run`; `output` defaults to an events file
 * (cli/events_file.ts). */
export type RunOptions =
  & Omit<SessionOptions, "output">
  & { output?: string }
  & PublishFlags;

/**
 * Runs `command` under the agent; returns its exit status (128 + the
 * signal's number when a signal ended it, as a shell reports it).
 */
export async function run(
  command: string[],
  options: RunOptions,
): Promise<number> {
  const output = options.output ?? prepareEventsFile();
  // Workflow commands go to stdout, unless the events do: the runner reads
  // them from stderr too.
  const annotate = underGitHubActions()
    ? output === "-" || output === "stdout" ? "stderr" : "stdout"
    : undefined;
  const session = await AgentSession.open(
    { ...options, output, alerts: { annotate } },
    true,
    runInstanceName(),
  );
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    await session.close();
    if (error instanceof Deno.errors.NotFound) {
      throw new Fatal(`${command[0]}: command not found`, 127);
    }
    throw new Fatal(`${command[0]}: ${(error as Error).message}`, 126);
  }
  // The terminal sends SIGINT to the whole group; the agent stays until
  // the command has gone, and passes SIGTERM on to it.
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGINT", () => {}],
    ["SIGTERM", forward("SIGTERM")],
  ];
  for (const [signal, handler] of handlers) {
    Deno.addSignalListener(signal, handler);
  }
  // What only the start-up needed leaves the resident set once the command
  // has run a while: the drop holds the main thread (smaps), which the
  // command's start, or a short command's exit, would wait for. The wait
  // is a poll on a worker thread: a first timer would load Deno's timers.
  const exited = child.status;
  const running = await Promise.race([
    exited.then(() => false),
    waitForData([], DROP_AFTER_MS).then(() => true),
  ]);
  if (running) dropStartupPages();
  const status = await exited;
  for (const [signal, handler] of handlers) {
    Deno.removeSignalListener(signal, handler);
  }
  const code = status.signal ? 128 + signalNumber(status.signal) : status.code;
  await session.finish(
    `exit ${code}`,
    async (_, markdown) =>
      (await import("./publish.ts")).publishReport(markdown, options),
  );
  return code;
}

function signalNumber(signal: Deno.Signal): number {
  const numbers: Partial<Record<Deno.Signal, number>> = {
    SIGHUP: 1,
    SIGINT: 2,
    SIGQUIT: 3,
    SIGABRT: 6,
    SIGKILL: 9,
    SIGSEGV: 11,
    SIGPIPE: 13,
    SIGALRM: 14,
    SIGTERM: 15,
  };
  return numbers[signal] ?? 0;
}
