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

import {
  type Application,
  type ApplicationText,
  buildApplication,
  buildCommand,
  buildRouteMap,
  type CommandContext,
  run as runCli,
  type StricliProcess,
  text_en,
} from "@stricli/core";
import { Agent, type FileEnforcement } from "../agent/agent.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { summaryLine } from "../report/summary.ts";
import { tamperLines } from "../agent/tamper.ts";
import type { Outputs } from "./integrations.ts";
import { stateDir } from "./state_dir.ts";
import { declaresFiles, readPolicyText } from "../policy/source.ts";
import { writeAllSync } from "../exporters/jsonl.ts";
import DEFAULT_POLICY from "../policy/default.yaml" with { type: "text" };
import type { Policy } from "../policy/schema.ts";
import { VERSION } from "../version.ts";
import { dropStartupCode, dropStartupPages } from "../agent/memory.ts";
import { waitForData } from "../sensors/ringbuf.ts";

// Imported when first needed: a start imports them while the kernel
// verifies its sensors, so that they are not on the way to being armed.
const policyParser = () => import("../policy/parse.ts");
const integrations = () => import("./integrations.ts");
const reports = () => import("../report/report.ts");

/** How long `run`'s command must have run before the start-up pages go. */
const DROP_AFTER_MS = 100;

/** An error that ends ringfence with a message and an exit code. */
class Fatal extends Error {
  constructor(message: string, readonly code = 2) {
    super(message);
  }
}

/** The policy file's text and name, or the built-in policy's. */
async function policySource(
  path: string | undefined,
): Promise<{ text: string; file: string }> {
  if (path) return { text: await readPolicyText(path), file: path };
  // Part of the module graph, so a bundle or compiled binary carries it.
  return { text: DEFAULT_POLICY, file: "policy/default.yaml (built in)" };
}

async function policyFrom(path: string | undefined): Promise<Policy> {
  const { text, file } = await policySource(path);
  return (await policyParser()).parsePolicy(text, file);
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
  const { text, file } = await policySource(options.policy);
  // Parsed while the kernel verifies the sensors: the start's longest wait.
  const agent = await Agent.start({
    policy: {
      parse: async () => {
        // The outputs' modules load meanwhile too; a failure to load them
        // is reported where they are awaited, below.
        integrations().catch(() => {});
        return (await policyParser()).parsePolicy(text, file);
      },
      files: declaresFiles(text),
    },
    spawner,
    sensorsDir: options.sensors,
    whileLoading: () => {
      // Deno loads its subprocess support on first use (about 3 ms): meanwhile
      // rather than between armed and the command's start.
      if (spawner) void Deno.Command;
      // The code that loading the modules and parsing needed can leave the
      // resident set now; all that only the start needed, once armed.
      dropStartupCode();
    },
  });
  // The agent reads its rings from the next turn of the event loop on: its
  // first events wait here while the outputs open.
  let output: Outputs | undefined;
  const early: RingfenceEvent[] = [];
  agent.subscribe((event) => output ? output.write(event) : early.push(event));
  const policy = agent.policy;
  try {
    const { Outputs } = await integrations();
    output = await Outputs.open(policy, options.output, options.stateDir);
  } catch (error) {
    await agent.stop();
    throw error;
  }
  for (const event of early) output.write(event);
  const protect = policy.files?.protect.length && policy.mode === "block" &&
    policy.files.action === "kill";
  if (protect && agent.fileEnforcement) {
    console.error(enforcementLine(agent.fileEnforcement));
  }
  return { agent, output };
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
  // A command that runs a while (a `run` may last a whole job): what only
  // the start-up needed can leave the resident set. Not at once: the drop
  // takes the main thread about 10 ms, which a short command's exit would
  // wait for.
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
  stopReloading();
  const code = status.signal ? 128 + signalNumber(status.signal) : status.code;
  await agent.stop();
  await output.close();
  const tamper = agent.tamperReport();
  const { finalReport, publishReport } = await integrations();
  const report = finalReport(output, agent.stats(), tamper.protected);
  await publishReport((await reports()).renderMarkdown(report), options);
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
  // The pid file before the armed line, whose reader may look for it; the
  // ready file last, so that whoever waits for it finds both.
  const { finalReport, finishStart, writePidFile } = await integrations();
  writePidFile(options.stateDir ?? stateDir());
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
  // Armed: what only the start-up needed can leave the resident set.
  dropStartupPages();
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
  await (await policyParser()).loadPolicy(file);
  console.log(`${file}: ok`);
  return 0;
}

/** A Stricli stream over a Deno file. */
function writer(file: { writeSync(bytes: Uint8Array): number }) {
  const encoder = new TextEncoder();
  return {
    write: (text: string) => writeAllSync(file, encoder.encode(text)),
  };
}

/** What each command runs with: Deno's streams, and its exit code. */
interface CliContext extends CommandContext {
  readonly process: StricliProcess;
}

/**
 * A command's action: it returns the exit code; an error becomes one line
 * on stderr and exit code 2, or a {@linkcode Fatal}'s own code.
 */
function action<FLAGS, ARGS extends unknown[]>(
  body: (flags: FLAGS, ...args: ARGS) => Promise<number>,
): (this: CliContext, flags: FLAGS, ...args: ARGS) => Promise<void> {
  return async function (this: CliContext, flags: FLAGS, ...args: ARGS) {
    try {
      this.process.exitCode = await body(flags, ...args);
    } catch (error) {
      console.error(`ringfence: ${(error as Error).message.split("\n")[0]}`);
      this.process.exitCode = error instanceof Fatal ? error.code : 2;
    }
  };
}

function text(brief: string, placeholder = "file") {
  return { kind: "parsed", parse: String, brief, placeholder } as const;
}

function optional(brief: string, placeholder = "file") {
  return { ...text(brief, placeholder), optional: true } as const;
}

function withDefault(brief: string, placeholder: string, value: string) {
  return { ...text(brief, placeholder), default: value } as const;
}

function flag(brief: string) {
  return { kind: "boolean", optional: true, brief } as const;
}

const POLICY = optional("policy file (default: the built-in policy)");
const SENSORS = optional("directory of compiled sensors (development)", "dir");
const OUTPUT_BRIEF =
  "where events go as JSON lines: a file, - for stdout, or stderr";

type RunFlags = Pick<
  AgentCliOptions,
  "policy" | "output" | "sensors" | "report" | "commitComment"
>;

type StartFlags =
  & Pick<
    AgentCliOptions,
    "policy" | "output" | "sensors" | "stateDir" | "report"
  >
  & { readyFile?: string };

interface StopFlags {
  stateDir: string;
  pidFile?: string;
  timeout: string;
  report?: string;
  commitComment?: boolean;
}

interface ReportFlags {
  format: "md" | "json";
  suggestPolicy?: boolean;
  out?: string;
}

/** Stricli's English texts, with usage errors in ringfence's one-line form. */
const USAGE_ERRORS: ApplicationText = {
  ...text_en,
  exceptionWhileParsingArguments(exc, ansiColor) {
    return `ringfence: ${
      text_en.exceptionWhileParsingArguments.call(this, exc, ansiColor)
    } (see --help)`;
  },
  noCommandRegisteredForInput(args) {
    return `ringfence: ${text_en.noCommandRegisteredForInput(args)}`;
  },
};

/** The ringfence command line: its commands, their flags and help. */
export function cli(): Application<CliContext> {
  const run_ = buildCommand<RunFlags, string[], CliContext>({
    func: action((options: RunFlags, ...command: string[]) =>
      run(command, options)
    ),
    parameters: {
      flags: {
        policy: POLICY,
        output: withDefault(OUTPUT_BRIEF, "file", "stderr"),
        sensors: SENSORS,
        report: optional("write the markdown report here at the end"),
        commitComment: flag("post the report as a commit comment"),
      },
      aliases: { p: "policy", o: "output" },
      positional: {
        kind: "array",
        parameter: {
          brief: "the command to run, after --",
          parse: String,
          placeholder: "command",
        },
        minimum: 1,
      },
    },
    docs: {
      brief: "watch CMD and all its descendants, then exit with its status",
      customUsage: ["[--policy file] [--output file] -- command [args...]"],
    },
  });
  const start_ = buildCommand<StartFlags, [], CliContext>({
    func: action((options: StartFlags) => start(options)),
    parameters: {
      flags: {
        policy: POLICY,
        output: withDefault(OUTPUT_BRIEF, "file", "-"),
        readyFile: optional("write the agent's pid here once armed"),
        sensors: SENSORS,
        stateDir: optional(
          "pid file, report and spool (default $RINGFENCE_STATE_DIR or /var/lib/ringfence)",
          "dir",
        ),
        report: optional("also write the markdown report here at stop"),
      },
      aliases: { p: "policy", o: "output" },
    },
    docs: {
      brief:
        "watch the scope roots of the policy and their descendants until SIGTERM or SIGINT",
    },
  });
  const stop = buildCommand<StopFlags, [], CliContext>({
    func: action(async (options: StopFlags) =>
      (await integrations()).stopAgent(options)
    ),
    parameters: {
      flags: {
        stateDir: withDefault("the agent's state directory", "dir", stateDir()),
        pidFile: optional("pid file (default: <state dir>/ringfence.pid)"),
        timeout: withDefault("how long to wait for the agent", "seconds", "30"),
        report: optional("also write the markdown report here"),
        commitComment: flag(
          "post the report as a commit comment (GITHUB_TOKEN, GITHUB_REPOSITORY, GITHUB_SHA)",
        ),
      },
    },
    docs: {
      brief:
        "stop a running `ringfence start` and publish its report ($GITHUB_STEP_SUMMARY, --report, or stdout)",
    },
  });
  const report = buildCommand<ReportFlags, [string], CliContext>({
    func: action((options: ReportFlags, events: string) =>
      integrations().then(({ reportCommand }) => reportCommand(events, options))
    ),
    parameters: {
      flags: {
        format: {
          kind: "enum",
          values: ["md", "json"],
          brief: "md or json",
          default: "md",
        },
        suggestPolicy: flag(
          "print a block-mode policy allowing exactly what the events used",
        ),
        out: optional("write here instead of stdout"),
      },
      positional: {
        kind: "tuple",
        parameters: [text("JSON-lines event file", "events")],
      },
    },
    docs: { brief: "the job report from a saved JSON-lines event file" },
  });
  const validate_ = buildCommand<Record<never, never>, [string], CliContext>({
    func: action((_: Record<never, never>, file: string) =>
      validate(file).catch((error) => {
        throw new Fatal((error as Error).message, 1);
      })
    ),
    parameters: {
      positional: {
        kind: "tuple",
        parameters: [text("policy file")],
      },
    },
    docs: { brief: "check a policy file and report the first error" },
  });
  const doctor_ = buildCommand<{ sensors?: string }, [], CliContext>({
    func: action(async (options: { sensors?: string }) =>
      (await import("./doctor.ts")).doctor(options)
    ),
    parameters: { flags: { sensors: SENSORS } },
    docs: {
      brief:
        "report what this host offers the agent and what will not work; exit 2 when it cannot run",
    },
  });
  const version = buildCommand<Record<never, never>, [], CliContext>({
    func: action(() => {
      console.log(`ringfence ${VERSION}`);
      return Promise.resolve(0);
    }),
    parameters: {},
    docs: { brief: "print the version" },
  });
  return buildApplication(
    buildRouteMap({
      routes: {
        run: run_,
        start: start_,
        stop,
        report,
        validate: validate_,
        doctor: doctor_,
        version,
      },
      docs: { brief: "eBPF runtime security for CI runners" },
    }),
    {
      name: "ringfence",
      versionInfo: { currentVersion: VERSION },
      scanner: {
        caseStyle: "allow-kebab-for-camel",
        allowArgumentEscapeSequence: true,
      },
      documentation: { caseStyle: "convert-camel-to-kebab" },
      localization: { text: USAGE_ERRORS },
      // Usage errors (unknown flag or command, missing argument) are
      // negative in Stricli; ringfence's "cannot start" code is 2.
      determineExitCode: () => 2,
    },
  );
}

/** Runs the CLI with `args` and returns the exit code. */
export async function main(args: string[]): Promise<number> {
  const context: CliContext = {
    process: {
      stdout: writer(Deno.stdout),
      stderr: writer(Deno.stderr),
      env: Deno.env.toObject(),
    },
  };
  await runCli(cli(), args, context);
  const code = Number(context.process.exitCode ?? 0);
  return code < 0 ? 2 : code;
}
