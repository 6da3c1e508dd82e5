/**
 * What `run` and `start` share around the agent: the policy read while it
 * starts, the outputs opened once it has, SIGHUP reloading the policy while
 * it runs, and at the end its report and the summary line.
 *
 * @module
 */

import {
  type AdoptionReport,
  Agent,
  type FileEnforcement,
} from "../agent/agent.ts";
import { sha256File } from "../agent/identity.ts";
import { ownCpuSeconds } from "../agent/procfs.ts";
import { PIN_ROOT } from "../agent/pins.ts";
import { dropStartupCode, dropStartupPages } from "../agent/memory.ts";
import { SudoGuard } from "../agent/sudo_guard.ts";
import type { Policy } from "../policy/schema.ts";
import type { AgentCpu, Report, ReportHeader } from "../report/types.ts";
import { VERSION } from "../version.ts";
import { summaryLine } from "../report/summary.ts";
import { scopeCapacityOverride } from "../sensors/environment.ts";
import type { AgentSignal } from "../sensors/process.ts";
import { tamperLines } from "../report/tamper_lines.ts";
import { Fatal, log } from "./command.ts";
import {
  applyOverrides,
  OverrideError,
  type OverrideFlags,
  parseOverrides,
  type PolicyOverrides,
} from "../policy/overrides.ts";
import { LatePolicy } from "./late_policy.ts";
import { Outputs } from "./outputs.ts";
import { openUi, type UiFlags } from "./ui.ts";
import { AlertPrinter, type AnnotationStream } from "./alerts.ts";
import {
  mentionsFiles,
  policyFrom,
  policyOffLoop,
  policyText,
} from "./policy_source.ts";

/** The flags `run` and `start` share. */
export interface SessionOptions extends OverrideFlags, UiFlags {
  /** Policy file; the built-in policy when absent. */
  policy?: string;
  /** Where events go as JSON lines: a file, `-` (stdout) or `stderr`. */
  output: string;
  /** Directory of compiled sensors instead of the built-in ones. */
  sensors?: string;
  /** Take the runner user's sudo rights away (`runner.sudo: deny`). */
  disableSudo?: boolean;
}

/** How blocks and kills are printed as they happen (cli/alerts.ts). */
export interface AlertOptions {
  /** Also as workflow commands (GitHub Actions), on this stream. */
  annotate?: AnnotationStream;
}

/** A running agent with its outputs. */
export class AgentSession {
  readonly agent: Agent;
  readonly outputs: Outputs;
  /** Blocks and kills, one stderr line each as they happen. */
  readonly alerts: AlertPrinter;
  /** The events file (absolute), when events go to one. */
  readonly eventsFile: string | undefined;
  /** The hold on the runner user's sudo rights (`runner.sudo`). */
  readonly sudo: SudoGuard;
  /**
   * The policy file and its SHA-256 when the agent started, or when the
   * Action's main step handed it one (`--late-policy`).
   */
  policyFile: { path: string; sha256?: string } | undefined;
  /** Called when the policy file changes by a hand-off (start's record). */
  onPolicyFile: ((file: { path: string; sha256?: string }) => void) | undefined;
  readonly #stopReloading: () => void;
  /** The process's CPU seconds once armed (NaN: unknown). */
  readonly #cpuAtArmed: number;

  private constructor(
    agent: Agent,
    outputs: Outputs,
    alerts: AlertPrinter,
    sudo: SudoGuard,
    options: SessionOptions,
    policyFile: AgentSession["policyFile"],
    overrides: PolicyOverrides,
    cpuAtArmed: number,
  ) {
    this.#cpuAtArmed = cpuAtArmed;
    this.agent = agent;
    this.outputs = outputs;
    this.alerts = alerts;
    this.eventsFile = outputFile(options.output);
    this.sudo = sudo;
    this.policyFile = policyFile;
    this.#stopReloading = reloadOnHangup(
      agent,
      () => this.policyFile?.path,
      (policy, builtIn) =>
        withSudoFlag(
          applyOverrides(policy, overrides, builtIn),
          options.disableSudo,
        ),
    );
  }

  /**
   * Starts the agent while its policy is read, then opens the outputs (the
   * policy's exporters spool in `stateDir`); `spawner` for `run`, whose
   * command becomes the scope root. With `sudoReleaseAt`, sudo comes back
   * when that program starts under a scope root (the Action's post step,
   * which needs it to stop the agent).
   */
  static async open(
    options: SessionOptions & {
      stateDir?: string;
      sudoReleaseAt?: string;
      latePolicy?: string;
      latePolicyAt?: string;
      alerts?: AlertOptions;
    },
    spawner: boolean,
    instance: string,
  ): Promise<AgentSession> {
    let overrides: PolicyOverrides;
    try {
      overrides = parseOverrides(options);
    } catch (error) {
      if (error instanceof OverrideError) throw new Fatal(error.message);
      throw error;
    }
    // The live view binds before anything starts: a bad --ui fails first.
    const ui = await openUi(options, log);
    // Hashed as it is first read, while the sensors load: a change after
    // this is a change while the agent ran.
    const hashing = options.policy === undefined
      ? undefined
      : sha256File(options.policy);
    const text = policyText(options.policy);
    const policy = policyFrom(options.policy, text).then((policy) =>
      withSudoFlag(
        applyOverrides(policy, overrides, options.policy === undefined),
        options.disableSudo,
      )
    );
    // Sudo is taken before the sensors attach (the agent's policy waits
    // for it): the job gets no window with sudo, and visudo and sudo -l,
    // which it runs, are not the job's processes (in `run`, every child
    // of the agent is a scope root).
    let sudo: SudoGuard | undefined;
    const guarding = policy.then((policy) =>
      sudo = SudoGuard.start(policy, {
        releaseAt: options.sudoReleaseAt,
        enforce: options.disableSudo,
      })
    );
    let agent: Agent;
    try {
      agent = await Agent.start({
        policy: Promise.all([policy, guarding]).then(([policy]) => policy),
        filesHint: options.disableFileMonitoring
          ? Promise.resolve(false)
          : text.then(mentionsFiles, () => false),
        spawner,
        sensorsDir: options.sensors,
        scopeCapacity: scopeCapacityOverride(),
        whileLoading: () => {
          // Deno loads its subprocess support on first use:
          // meanwhile, not between armed and the command's start.
          if (spawner) void Deno.Command;
          // The code that loading the modules and the policy needed can
          // leave the resident set now; all that only the start needed,
          // once armed.
          dropStartupCode();
        },
        integrity: { policyFile: options.policy, stateDir: options.stateDir },
        pins: {
          instance,
          output: outputFile(options.output),
          stateDir: options.stateDir,
        },
      });
    } catch (error) {
      sudo?.release();
      await ui?.close();
      throw error;
    }
    const cpuAtArmed = ownCpuSeconds();
    const policyFile = options.policy === undefined ? undefined : {
      path: options.policy,
      sha256: await hashing,
    };
    await sweepStaleRunPins();
    // Set: the agent's policy waited for it. Not awaited, so that the
    // listeners below subscribe before anything else runs.
    const guard = sudo!;
    let outputs: Outputs | undefined;
    const alerts = new AlertPrinter({
      annotate: options.alerts?.annotate,
      processOf: (pid) => agent.tree.get(pid)?.path,
    });
    try {
      // A dead agent's output file goes on: its lines stay.
      const opened = outputs = new Outputs(options.output, {
        append: !!agent.adoption,
      });
      if (ui) opened.attach(ui);
      // Subscribed before anything is awaited: the agent hands these
      // listeners the events of its start-up too. The sudo guard marks
      // an event before the outputs write it.
      agent.subscribe((event) => guard.annotate(event, agent.tree));
      agent.subscribe((event) => opened.write(event));
      agent.subscribe((event) => alerts.write(event));
      // Lines are written before the ring space of their records is given
      // back: a kill -9 finds each record in the ring or in the file.
      agent.onCommit(() => opened.commit());
      if (guard.line) log(guard.line);
      await opened.openExporters(agent.policy.exporters, options.stateDir);
    } catch (error) {
      await agent.stop();
      guard.release();
      await outputs?.close();
      if (!outputs) await ui?.close();
      throw error;
    }
    // Armed: what only the start-up needed can leave the resident set
    // (`run`'s, once its command has started: cli/run.ts).
    if (!spawner) dropStartupPages();
    if (agent.adoption) log(adoptionLine(agent.adoption));
    if (agent.pins) {
      log(`enforcement outlives the agent: pinned in ${agent.pins.dir}`);
    }
    const { files, mode } = agent.policy;
    if (
      files?.protect.length && mode === "block" && files.action === "kill" &&
      agent.fileEnforcement
    ) {
      log(enforcementLine(agent.fileEnforcement));
    }
    const session = new AgentSession(
      agent,
      outputs,
      alerts,
      guard,
      options,
      policyFile,
      overrides,
      cpuAtArmed,
    );
    if (options.latePolicy && options.latePolicyAt && options.stateDir) {
      const late = new LatePolicy({
        path: options.latePolicy,
        at: options.latePolicyAt,
        stateDir: options.stateDir,
        roots: agent.policy.scope.processes,
      });
      agent.subscribe((event) => {
        if (!late.triggeredBy(event, agent.tree)) return;
        late.apply(
          (policy) =>
            withSudoFlag(
              applyOverrides(policy, overrides, false),
              options.disableSudo,
            ),
          (policy) => agent.updatePolicy(policy),
        ).then((file) => {
          if (!file) return;
          session.policyFile = file;
          session.onPolicyFile?.(file);
        });
      });
    }
    return session;
  }

  /**
   * Stops the agent, gives sudo back and closes the outputs, reporting
   * nothing.
   */
  async close(): Promise<void> {
    this.#stopReloading();
    await this.agent.stop();
    try {
      this.sudo.release();
    } catch (error) {
      log(
        `cannot give sudo back (ringfence stop retries): ${
          (error as Error).message
        }`,
      );
    }
    await this.outputs.close();
  }

  /**
   * Stops the agent, closes the outputs, hands the report and its markdown
   * to `publish`, and prints the summary line (ending with `ending`) and
   * what the agent saw of changes to protected files.
   */
  async finish(
    ending: string,
    publish: (report: Report, markdown: string) => Promise<void>,
  ): Promise<void> {
    await this.close();
    const { agent, outputs } = this;
    const tamper = agent.tamperReport();
    const stats = agent.stats();
    const report = outputs.build({
      kernelDrops: stats.drops,
      scopeFull: stats.scopeFull,
      protectedChanges: tamper.protected,
      fileFindings: tamper.findings,
      integrityReasons: await this.#policyChanged(),
      header: this.#header(),
      ...this.#agentCpu(),
    });
    // Imported at the end: an agent arms without it.
    const { renderMarkdown } = await import("../report/markdown.ts");
    await publish(report, renderMarkdown(report));
    this.alerts.end(this.eventsFile);
    console.error(
      summaryLine(agent, ending, outputs.summaryParts(), report.summary),
    );
    if (this.eventsFile) {
      console.error(`ringfence: events in ${this.eventsFile}`);
    }
    for (const line of tamperLines(tamper)) console.error(line);
    for (const line of tamper.coverage ?? []) console.error(line);
    const { tamperedLines } = await import("../report/integrity.ts");
    for (const line of tamperedLines(report.integrity)) console.error(line);
  }

  /** The process's CPU time for the report, when /proc told it. */
  #agentCpu(): { agentCpu?: AgentCpu } {
    const total = ownCpuSeconds(), start = this.#cpuAtArmed;
    return Number.isFinite(total) && Number.isFinite(start)
      ? { agentCpu: { total, start } }
      : {};
  }

  /** The agent and its policy, as the report opens with them. */
  #header(): ReportHeader {
    const { mode, network, files, process } = this.agent.policy;
    return {
      mode,
      ...(this.policyFile
        ? {
          policy: {
            path: this.policyFile.path,
            ...(this.policyFile.sha256
              ? { sha256: this.policyFile.sha256 }
              : {}),
          },
        }
        : {}),
      version: VERSION,
      kills: {
        network: network.action === "kill",
        files: files?.action === "kill",
        process: process?.action !== "audit",
        installScripts: installScriptsKill(this.agent.policy),
      },
    };
  }

  /** A finding when the policy file is not what the agent started with. */
  async #policyChanged(): Promise<string[]> {
    if (!this.policyFile) return [];
    const { path, sha256 } = this.policyFile;
    const now = await sha256File(path);
    if (now === sha256) return [];
    return [
      `the policy file ${path} changed while the agent ran (sha256 ${
        sha256?.slice(0, 16) ?? "none"
      } → ${now?.slice(0, 16) ?? "gone"})`,
    ];
  }
}

/**
 * Removes the pins of `ringfence run` agents that are gone with their
 * processes, saying what the kernel counted for them. Loaded only when
 * some pins exist: most starts find none.
 */
async function sweepStaleRunPins(): Promise<void> {
  try {
    Deno.statSync(PIN_ROOT);
  } catch {
    return;
  }
  const { evidenceLines, sweepStaleRuns } = await import(
    "../agent/evidence.ts"
  );
  for (const evidence of sweepStaleRuns()) {
    log(
      `removed the pins of ${evidence.instance}: its agent and its processes are gone`,
    );
    for (const line of evidenceLines(evidence)) log(line);
  }
}

/** The file `--output` names, absolute; undefined for stdout/stderr. */
function outputFile(output: string): string | undefined {
  if (output === "-" || output === "stdout" || output === "stderr") {
    return undefined;
  }
  return output.startsWith("/") ? output : `${Deno.cwd()}/${output}`;
}

/** What a new agent says of the dead agent's pins it took over. */
function adoptionLine(adoption: AdoptionReport): string {
  const replaced = adoption.replaced.length
    ? `; pins of another layout replaced (${adoption.replaced.join(", ")})`
    : "";
  return `adopted the pins of ${adoption.instance} left by agent pid ${
    adoption.previousPid ?? "?"
  } (not running) without a gap: while no agent ran, the kernel refused ${adoption.refused} actions and killed ${adoption.killed} processes; ${adoption.pendingRecords} records recorded while no agent ran come first${replaced}`;
}

/** Whether `dependencies.install_scripts` kills a script that breaks it. */
function installScriptsKill(policy: Policy): boolean {
  const { dependencies } = policy as {
    dependencies?: { installScripts?: { action?: string } };
  };
  return dependencies?.installScripts?.action === "kill";
}

/** How `files.protect` is enforced on this host. */
function enforcementLine(enforcement: FileEnforcement): string {
  return enforcement.method === "lsm"
    ? "files.protect: changes refused with EPERM by BPF LSM"
    : `files.protect: writers killed by SIGKILL after the syscall, which has completed (no BPF LSM: ${enforcement.reason})`;
}

/** How recent a policed SIGHUP in the kernel's record is this one. */
const HANGUP_WINDOW_NS = 5_000_000_000n;

const SIGHUP = 1;

/**
 * The policed process that sent the SIGHUP being handled, if one did: the
 * kernel records every signal a policed process sends the agent
 * (`agent_signals`) before it is delivered. A step that rewrote the
 * policy file must not get it put in force by a reload.
 */
function hangupFromScope(agent: Agent): AgentSignal | undefined {
  let now: bigint;
  try {
    // CLOCK_BOOTTIME, as the kernel's record, to 10 ms.
    const uptime = Deno.readTextFileSync("/proc/uptime").split(" ")[0];
    now = BigInt(Math.round(Number(uptime) * 1e3)) * 1_000_000n;
  } catch {
    return undefined;
  }
  return agent.agentSignals().find((signal) =>
    signal.signal === SIGHUP && now - signal.timeNs < HANGUP_WINDOW_NS
  );
}

/**
 * SIGHUP re-reads the policy and puts it in force in one step, unless a
 * policed process sent it (hangupFromScope); a policy
 * that does not parse or compile is reported and the old one stays.
 * Returns a function that stops listening.
 */
function reloadOnHangup(
  agent: Agent,
  currentFile: () => string | undefined,
  withFlags: (policy: Policy, builtIn: boolean) => Policy,
): () => void {
  const reload = async () => {
    const policed = hangupFromScope(agent);
    if (policed) {
      log(
        `SIGHUP from pid ${policed.senderPid} (${policed.comm}), a policed process: the policy is not reloaded (tampering with the agent)`,
      );
      return;
    }
    const file = currentFile();
    try {
      agent.updatePolicy(
        withFlags(await policyOffLoop(file), file === undefined),
      );
      log(
        `policy reloaded from ${
          file ?? "the built-in default"
        } (mode ${agent.policy.mode})`,
      );
    } catch (error) {
      log(
        `${
          (error as Error).message.split("\n")[0]
        }; the previous policy stays in force`,
      );
    }
  };
  Deno.addSignalListener("SIGHUP", reload);
  return () => Deno.removeSignalListener("SIGHUP", reload);
}

/**
 * The policy with `runner.sudo: deny` when `--disable-sudo` says so. The
 * rights are taken at start only: a reload does not give them back.
 */
function withSudoFlag(
  policy: Policy,
  disableSudo: boolean | undefined,
): Policy {
  return disableSudo
    ? { ...policy, runner: { ...policy.runner, sudo: "deny" } }
    : policy;
}
