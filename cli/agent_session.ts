/**
 * What `run` and `start` share around the agent: the policy read while it
 * starts, the outputs opened once it has, SIGHUP reloading the policy while
 * it runs, and at the end its report and the summary line.
 *
 * @module
 */

import { Agent, type FileEnforcement } from "../agent/agent.ts";
import { sha256File } from "../agent/identity.ts";
import { dropStartupPages } from "../agent/memory.ts";
import type { Report } from "../report/types.ts";
import { summaryLine } from "../report/summary.ts";
import { tamperLines } from "../report/tamper_lines.ts";
import { log } from "./command.ts";
import { Outputs } from "./outputs.ts";
import { policyFrom } from "./policy_source.ts";

/** The flags `run` and `start` share. */
export interface SessionOptions {
  /** Policy file; the built-in policy when absent. */
  policy?: string;
  /** Where events go as JSON lines: a file, `-` (stdout) or `stderr`. */
  output: string;
  /** Directory of compiled sensors instead of the built-in ones. */
  sensors?: string;
}

/** A running agent with its outputs. */
export class AgentSession {
  readonly agent: Agent;
  readonly outputs: Outputs;
  /** The policy file and its SHA-256 when the agent started. */
  readonly policyFile: { path: string; sha256?: string } | undefined;
  readonly #stopReloading: () => void;

  private constructor(
    agent: Agent,
    outputs: Outputs,
    policyFile: AgentSession["policyFile"],
  ) {
    this.agent = agent;
    this.outputs = outputs;
    this.policyFile = policyFile;
    this.#stopReloading = reloadOnHangup(agent, policyFile?.path);
  }

  /**
   * Starts the agent while its policy is read, then opens the outputs (the
   * policy's exporters spool in `stateDir`); `spawner` for `run`, whose
   * command becomes the scope root.
   */
  static async open(
    options: SessionOptions & { stateDir?: string },
    spawner: boolean,
  ): Promise<AgentSession> {
    // Hashed before it is read: a change after this is a change while the
    // agent ran.
    const policyFile = options.policy === undefined ? undefined : {
      path: options.policy,
      sha256: await sha256File(options.policy),
    };
    const agent = await Agent.start({
      policy: policyFrom(options.policy),
      spawner,
      sensorsDir: options.sensors,
      integrity: { policyFile: options.policy, stateDir: options.stateDir },
    });
    let outputs: Outputs | undefined;
    try {
      const opened = outputs = new Outputs(options.output);
      // Subscribed before anything is awaited: the agent hands this
      // listener the events of its start-up too.
      agent.subscribe((event) => opened.write(event));
      await opened.openExporters(agent.policy.exporters, options.stateDir);
    } catch (error) {
      await agent.stop();
      await outputs?.close();
      throw error;
    }
    // Armed: what only the start-up needed can leave the resident set.
    dropStartupPages();
    const { files, mode } = agent.policy;
    if (
      files?.protect.length && mode === "block" && files.action === "kill" &&
      agent.fileEnforcement
    ) {
      log(enforcementLine(agent.fileEnforcement));
    }
    return new AgentSession(agent, outputs, policyFile);
  }

  /** Stops the agent and closes the outputs, reporting nothing. */
  async close(): Promise<void> {
    this.#stopReloading();
    await this.agent.stop();
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
      integrityReasons: await this.#policyChanged(),
    });
    // Imported at the end: an agent arms without it.
    const { renderMarkdown } = await import("../report/markdown.ts");
    await publish(report, renderMarkdown(report));
    console.error(summaryLine(agent, ending, outputs.summaryParts()));
    for (const line of tamperLines(tamper)) console.error(line);
    const { tamperedLines } = await import("../report/integrity.ts");
    for (const line of tamperedLines(report.integrity)) console.error(line);
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

/** How `files.protect` is enforced on this host. */
function enforcementLine(enforcement: FileEnforcement): string {
  return enforcement.method === "lsm"
    ? "files.protect: changes refused with EPERM by BPF LSM"
    : `files.protect: writers killed by SIGKILL after the syscall, which has completed (no BPF LSM: ${enforcement.reason})`;
}

/**
 * SIGHUP re-reads the policy and puts it in force in one step; a policy
 * that does not parse or compile is reported and the old one stays.
 * Returns a function that stops listening.
 */
function reloadOnHangup(agent: Agent, file: string | undefined): () => void {
  const reload = async () => {
    try {
      agent.updatePolicy(await policyFrom(file));
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
