/**
 * The ringfence command line.
 *
 *   ringfence run [--policy FILE] [--output FILE|-] -- CMD [ARGS...]
 *   ringfence start [--policy FILE] [--output FILE|-] [--ready-file FILE]
 *   ringfence stop [--state-dir DIR] [--report FILE] [--commit-comment]
 *   ringfence report EVENTS.jsonl [--format md|json] [--suggest-policy] [--out FILE]
 *   ringfence validate FILE
 *   ringfence doctor [--sensors DIR]
 *   ringfence version
 *
 * Exit codes: `run` exits with CMD's status (128 + signal when a signal
 * ended it); 2 when ringfence itself cannot start (not root, no BTF, no
 * libbpf, a bad policy, a program the kernel refuses); `validate` exits 1 on
 * an invalid policy.
 *
 * @module
 */

import { Command, CommanderError } from "commander";
import { Agent, type FileEnforcement } from "./agent/agent.ts";
import type { RingfenceEvent } from "./agent/events.ts";
import { summaryLine } from "./agent/summary.ts";
import { tamperLines } from "./agent/tamper.ts";
import { renderMarkdown } from "./agent/report.ts";
import {
  finalReport,
  finishStart,
  Outputs,
  publishReport,
  reportCommand,
  type ReportOptions,
  stateDir,
  stopAgent,
  type StopOptions,
  writePidFile,
} from "./agent/integrations.ts";
import { loadPolicy, parsePolicy } from "./policy/parse.ts";
import { doctor } from "./sensors/doctor.ts";
import DEFAULT_POLICY from "./policy/default.yaml" with { type: "text" };
import type { Policy } from "./policy/schema.ts";
import { VERSION } from "./version.ts";

/** An error that ends ringfence with a message and an exit code. */
class Fatal extends Error {
  constructor(message: string, readonly code = 2) {
    super(message);
  }
}

async function policyFrom(path: string | undefined): Promise<Policy> {
  if (path) return await loadPolicy(path);
  // Part of the module graph, so a bundle or compiled binary carries it.
  return parsePolicy(DEFAULT_POLICY, "policy/default.yaml (built in)");
}

interface AgentCliOptions {
  /** Markdown report file (run: also $GITHUB_STEP_SUMMARY). */
  report?: string;
  /** Post the report as a commit comment. */
  commitComment?: boolean;
  /** start: where the pid file, report and spool go. */
  stateDir?: string;
  policy?: string;
  output: string;
  sensors?: string;
}

/**
 * SIGHUP re-reads the policy and puts it in force in one step; a policy
 * that does not parse or compile is reported and the old one stays.
 */
function reloadOnHangup(agent: Agent, file: string | undefined): () => void {
  const reload = async () => {
    try {
      agent.updatePolicy(await policyFrom(file));
      console.error(
        `ringfence: policy reloaded from ${
          file ?? "the built-in default"
        } (mode ${agent.policy.mode})`,
      );
    } catch (error) {
      console.error(
        `ringfence: ${
          (error as Error).message.split("\n")[0]
        }; the previous policy stays in force`,
      );
    }
  };
  Deno.addSignalListener("SIGHUP", reload);
  return () => Deno.removeSignalListener("SIGHUP", reload);
}

async function startAgent(
  options: AgentCliOptions,
  spawner: boolean,
): Promise<{ agent: Agent; output: Outputs }> {
  const policy = await policyFrom(options.policy);
  const output = await Outputs.open(
    policy,
    options.output,
    options.stateDir,
  );
  try {
    const agent = await Agent.start({
      policy,
      spawner,
      sensorsDir: options.sensors,
    });
    agent.subscribe((event: RingfenceEvent) => output.write(event));
    const protect = policy.files?.protect.length && policy.mode === "block" &&
      policy.files.action === "kill";
    if (protect && agent.fileEnforcement) {
      console.error(enforcementLine(agent.fileEnforcement));
    }
    return { agent, output };
  } catch (error) {
    await output.close();
    throw error;
  }
}

function enforcementLine(enforcement: FileEnforcement): string {
  return enforcement.method === "lsm"
    ? "ringfence: files.protect: changes refused with EPERM by BPF LSM"
    : `ringfence: files.protect: writers killed by SIGKILL after the syscall, which has completed (no BPF LSM: ${enforcement.reason})`;
}

async function run(
  command: string[],
  options: AgentCliOptions,
): Promise<number> {
  const { agent, output } = await startAgent(options, true);
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: "inherit",
      stdout: "inherit",
      stderr: "inherit",
    }).spawn();
  } catch (error) {
    await agent.stop();
    await output.close();
    if (error instanceof Deno.errors.NotFound) {
      throw new Fatal(`${command[0]}: command not found`, 127);
    }
    throw new Fatal(`${command[0]}: ${(error as Error).message}`, 126);
  }
  // The terminal sends SIGINT to the whole group; the agent stays until
  // the command has gone, and passes SIGTERM on to it. SIGHUP reloads the
  // policy.
  const forward = (signal: Deno.Signal) => () => {
    try {
      child.kill(signal);
    } catch { /* already gone */ }
  };
  const handlers: [Deno.Signal, () => void][] = [
    ["SIGINT", () => {}],
    ["SIGTERM", forward("SIGTERM")],
  ];
  const stopReloading = reloadOnHangup(agent, options.policy);
  for (const [signal, handler] of handlers) {
    Deno.addSignalListener(signal, handler);
  }
  const status = await child.status;
  for (const [signal, handler] of handlers) {
    Deno.removeSignalListener(signal, handler);
  }
  stopReloading();
  const code = status.signal ? 128 + signalNumber(status.signal) : status.code;
  await agent.stop();
  await output.close();
  const tamper = agent.tamperReport();
  const report = finalReport(output, agent.stats(), tamper.protected);
  await publishReport(renderMarkdown(report), options);
  console.error(summaryLine(agent, `exit ${code}`, output.summaryParts()));
  for (const line of tamperLines(tamper)) console.error(line);
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

async function start(
  options: AgentCliOptions & { readyFile?: string },
): Promise<number> {
  const { agent, output } = await startAgent(options, false);
  const stopped = Promise.withResolvers<void>();
  const stop = () => stopped.resolve();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  const stopReloading = reloadOnHangup(agent, options.policy);
  console.error(
    `ringfence: armed after ${
      Math.round(agent.armedAfterMs)
    } ms in ${agent.policy.mode} mode, watching ${
      agent.policy.scope.processes.join(", ")
    } and their descendants (pid ${Deno.pid})`,
  );
  if (options.readyFile) {
    await Deno.writeTextFile(options.readyFile, `${Deno.pid}\n`);
  }
  await writePidFile(options.stateDir ?? stateDir());
  await stopped.promise;
  stopReloading();
  Deno.removeSignalListener("SIGTERM", stop);
  Deno.removeSignalListener("SIGINT", stop);
  await agent.stop();
  await output.close();
  const tamper = agent.tamperReport();
  await finishStart(
    finalReport(output, agent.stats(), tamper.protected),
    options,
  );
  console.error(summaryLine(agent, "stopped", output.summaryParts()));
  for (const line of tamperLines(tamper)) console.error(line);
  return 0;
}

async function validate(file: string): Promise<number> {
  await loadPolicy(file);
  console.log(`${file}: ok`);
  return 0;
}

/** Builds the CLI; `exit` receives the exit code of the chosen command. */
export function cli(exit: (code: number) => void): Command {
  const program = new Command("ringfence")
    .description("eBPF runtime security for CI runners")
    .version(VERSION, "-V, --version-flag")
    .enablePositionalOptions()
    .showHelpAfterError()
    .exitOverride();
  const finish = (promise: Promise<number>) => promise.then(exit);

  program.command("run")
    .description("watch CMD and all its descendants, then exit with its status")
    .option("-p, --policy <file>", "policy file (default: the built-in policy)")
    .option(
      "-o, --output <file>",
      "where events go as JSON lines: a file, - for stdout, or stderr",
      "stderr",
    )
    .option("--sensors <dir>", "directory of compiled sensors (development)")
    .option("--report <file>", "write the markdown report here at the end")
    .option("--commit-comment", "post the report as a commit comment")
    .argument("<command...>", "the command to run, after --")
    .passThroughOptions()
    .action((command: string[], options: AgentCliOptions) =>
      finish(run(command, options))
    );

  program.command("start")
    .description(
      "watch the scope roots of the policy and their descendants until SIGTERM or SIGINT",
    )
    .option("-p, --policy <file>", "policy file (default: the built-in policy)")
    .option(
      "-o, --output <file>",
      "where events go as JSON lines: a file, - for stdout, or stderr",
      "-",
    )
    .option("--ready-file <file>", "write the agent's pid here once armed")
    .option("--sensors <dir>", "directory of compiled sensors (development)")
    .option(
      "--state-dir <dir>",
      "pid file, report and spool (default $RINGFENCE_STATE_DIR or /var/lib/ringfence)",
    )
    .option("--report <file>", "also write the markdown report here at stop")
    .action((options: AgentCliOptions & { readyFile?: string }) =>
      finish(start(options))
    );

  program.command("stop")
    .description(
      "stop a running `ringfence start` and publish its report ($GITHUB_STEP_SUMMARY, --report, or stdout)",
    )
    .option("--state-dir <dir>", "the agent's state directory", stateDir())
    .option(
      "--pid-file <file>",
      "pid file (default: <state dir>/ringfence.pid)",
    )
    .option("--timeout <seconds>", "how long to wait for the agent", "30")
    .option("--report <file>", "also write the markdown report here")
    .option(
      "--commit-comment",
      "post the report as a commit comment (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_SHA)",
    )
    .action((options: StopOptions) => finish(stopAgent(options)));

  program.command("report")
    .description("the job report from a saved JSON-lines event file")
    .argument("<events>", "JSON-lines event file")
    .option("--format <format>", "md or json", "md")
    .option(
      "--suggest-policy",
      "print a block-mode policy allowing exactly what the events used",
    )
    .option("--out <file>", "write here instead of stdout")
    .action((file: string, options: ReportOptions) =>
      finish(reportCommand(file, options))
    );

  program.command("validate")
    .description("check a policy file and report the first error")
    .argument("<file>", "policy file")
    .action((file: string) =>
      finish(
        validate(file).catch((error) => {
          throw new Fatal((error as Error).message, 1);
        }),
      )
    );

  program.command("doctor")
    .description(
      "report what this host offers the agent and what will not work; exit 2 when it cannot run",
    )
    .option("--sensors <dir>", "directory of compiled sensors (development)")
    .action((options: { sensors?: string }) => finish(doctor(options)));

  program.command("version")
    .description("print the version")
    .action(() => {
      console.log(`ringfence ${VERSION}`);
      exit(0);
    });
  return program;
}

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const { promise, resolve } = Promise.withResolvers<number>();
  try {
    await cli(resolve).parseAsync(args, { from: "user" });
    return await promise;
  } catch (error) {
    if (error instanceof CommanderError) {
      return error.exitCode === 0 ? 0 : 2;
    }
    const code = error instanceof Fatal ? error.code : 2;
    console.error(`ringfence: ${(error as Error).message.split("\n")[0]}`);
    return code;
  }
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
