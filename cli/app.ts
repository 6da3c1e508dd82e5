/**
 * The ringfence command line.
 *
 *   ringfence run [--policy FILE] [--output FILE|-] -- CMD [ARGS...]
 *   ringfence start [--policy FILE] [--output FILE|-] [--ready-file FILE] [--pid-file FILE]
 *   ringfence stop [--state-dir DIR] [--pid-file FILE] [--report FILE] [--commit-comment]
 *   ringfence restore-sudo
 *   ringfence report EVENTS.jsonl [--format md|json|html] [--suggest-policy] [--policy FILE] [--out FILE]
 *   ringfence validate FILE
 *   ringfence doctor [--sensors DIR]
 *   ringfence version
 *
 * Exit codes: `run` exits with CMD's status (128 + signal when a signal
 * ended it); 2 when ringfence itself cannot start (not root, no BTF, no
 * libbpf, a bad policy, a program the kernel refuses); `validate` exits 1 on
 * an invalid policy; `stop` exits 3 when the agent was tampered with
 * (missing, dead, replaced, or its report has integrity findings).
 *
 * @module
 */

import {
  type Application,
  type ApplicationText,
  buildApplication,
  buildCommand,
  buildRouteMap,
  run as runCli,
  text_en,
} from "@stricli/core";
import { writeAllSync } from "../exporters/jsonl.ts";
import { VERSION } from "../version.ts";
import { action, type CliContext } from "./command.ts";
import type { ReportOptions } from "./report.ts";
import { run, type RunOptions } from "./run.ts";
import { start, type StartOptions } from "./start.ts";
import { stateDir } from "./state.ts";
import type { StopOptions } from "./stop.ts";

/** A Stricli stream over a Deno file. */
function writer(file: { writeSync(bytes: Uint8Array): number }) {
  const encoder = new TextEncoder();
  return {
    write: (text: string) => writeAllSync(file, encoder.encode(text)),
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
const DISABLE_SUDO = flag(
  "take the runner user's sudo rights away until the agent stops, in audit mode too (runner.sudo: deny)",
);
/** The policy overrides `run` and `start` share (policy/overrides.ts). */
const OVERRIDES = {
  egressPolicy: optional(
    "audit or block: the policy's mode (the Action's egress-policy)",
    "mode",
  ),
  allowedEndpoints: optional(
    "host:port entries (space or newline separated) added to network.allow; with the built-in policy, its list instead",
    "endpoints",
  ),
  disableFileMonitoring: flag("drop the policy's files section"),
} as const;
/** The live view's flags (cli/ui.ts) `run` and `start` share. */
const UI = {
  ui: optional(
    "serve the live view of the job here: host:port or a port (loopback unless --ui-public); the URL with its token is printed on stderr",
    "address",
  ),
  uiToken: optional(
    "the live view's token (default $RINGFENCE_UI_TOKEN, else a random one)",
    "token",
  ),
  uiPublic: flag("allow --ui on an address other than loopback"),
} as const;
const SENSORS = optional("directory of compiled sensors (development)", "dir");
const OUTPUT_BRIEF =
  "where events go as JSON lines: a file, - for stdout, or stderr";

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
  // `stop`, `report`, `validate` and `doctor` are imported when they run:
  // an agent started with `run` or `start` never loads them.
  const run_ = buildCommand<RunOptions, string[], CliContext>({
    func: action((options: RunOptions, ...command: string[]) =>
      run(command, options)
    ),
    parameters: {
      flags: {
        policy: POLICY,
        output: optional(
          "where events go as JSON lines: a file, - for stdout, or stderr (default: $RUNNER_TEMP/ringfence/events.jsonl under CI, else ./ringfence-events.jsonl)",
        ),
        sensors: SENSORS,
        report: optional("write the markdown report here at the end"),
        commitComment: flag("post the report as a commit comment"),
        disableSudo: DISABLE_SUDO,
        ...OVERRIDES,
        ...UI,
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
  const start_ = buildCommand<StartOptions, [], CliContext>({
    func: action((options: StartOptions) => start(options)),
    parameters: {
      flags: {
        policy: POLICY,
        output: withDefault(OUTPUT_BRIEF, "file", "-"),
        readyFile: optional("write the agent's pid here once armed"),
        pidFile: optional(
          "pid file, for scripts (default: <state dir>/ringfence.pid)",
        ),
        sensors: SENSORS,
        stateDir: optional(
          "pid file, report and spool (default $RINGFENCE_STATE_DIR, else $RUNNER_TEMP/ringfence, else /var/lib/ringfence)",
          "dir",
        ),
        report: optional("also write the markdown report here at stop"),
        disableSudo: DISABLE_SUDO,
        sudoReleaseAt: optional(
          "give sudo back when this program starts under a scope root (the Action's post step)",
          "path",
        ),
        latePolicy: optional(
          "a policy file put in force once --late-policy-at starts (the Action's policy from the checkout)",
        ),
        latePolicyAt: optional(
          "the program whose start under a scope root hands --late-policy over (the Action's main step)",
          "path",
        ),
        ...OVERRIDES,
        ...UI,
      },
      aliases: { p: "policy", o: "output" },
    },
    docs: {
      brief:
        "watch the scope roots of the policy and their descendants until SIGTERM or SIGINT",
    },
  });
  const stop = buildCommand<StopOptions, [], CliContext>({
    func: action(async (options: StopOptions) =>
      (await import("./stop.ts")).stop(options)
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
        "stop a running `ringfence start` and publish its report ($GITHUB_STEP_SUMMARY, --report, or stdout); exit 3 when the agent was tampered with",
    },
  });
  const restoreSudo = buildCommand<Record<never, never>, [], CliContext>({
    func: action(async () => (await import("./restore_sudo.ts")).restoreSudo()),
    parameters: {},
    docs: {
      brief:
        "give back the sudo rights an agent that has died took away (runner.sudo: deny)",
    },
  });
  const report = buildCommand<ReportOptions, [string], CliContext>({
    func: action(async (options: ReportOptions, events: string) =>
      (await import("./report.ts")).report(events, options)
    ),
    parameters: {
      flags: {
        format: {
          kind: "enum",
          values: ["md", "json", "html"],
          brief: "md, json, or html (one self-contained web page; needs --out)",
          default: "md",
        },
        suggestPolicy: flag(
          "print a block-mode policy allowing exactly what the events used",
        ),
        policy: optional(
          "with --suggest-policy or --format html: the audited policy, whose other settings are kept (default: the built-in policy)",
        ),
        out: optional(
          "write here instead of stdout (html: required, - for stdout)",
        ),
      },
      positional: {
        kind: "tuple",
        parameters: [text("JSON-lines event file", "events")],
      },
    },
    docs: { brief: "the job report from a saved JSON-lines event file" },
  });
  const validate_ = buildCommand<Record<never, never>, [string], CliContext>({
    func: action(async (_: Record<never, never>, file: string) =>
      (await import("./validate.ts")).validate(file)
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
        "restore-sudo": restoreSudo,
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
