/**
 * `ringfence stop`: ends the agent a `ringfence start` left running and
 * publishes its report, trusting only what a step cannot forge.
 *
 * The agent is the process its root-only record names (agent/identity.ts),
 * checked against /proc for the same start time, executable and boot; the
 * pid file is only compared with it, and `agent.log` and the state
 * directory's report are not read at all: the job may be able to write
 * them. The report published is the one the agent saved in its root-only
 * directory. An agent missing, dead, replaced or stopped before this, a
 * record that is not root-only, a pid file naming another process, or
 * the agent's own findings (a guarded sysctl changed, its policy file
 * rewritten) make the report red ("agent tampered") and the exit code 3.
 *
 * @module
 */

import {
  type AgentCheck,
  type AgentRecord,
  checkAgent,
  describeProcess,
  type Heartbeat,
  instanceFiles,
  processIdentity,
  readTrusted,
  sha256File,
} from "../agent/identity.ts";
import { absolutePath, instanceDir } from "../agent/instance.ts";
import {
  mergeIntegrity,
  renderTamperedReport,
  tamperedLines,
} from "../report/integrity.ts";
import type {
  AgentFacts,
  IntegrityEvidence,
  IntegrityReport,
  Report,
  ReportHeader,
} from "../report/types.ts";
import { Fatal, log } from "./command.ts";
import { type PublishFlags, publishReport } from "./publish.ts";
import { formatSummary } from "../report/summary.ts";
import { unvouchedPaths } from "../report/protected_files.ts";
import { restoreAbandonedSudo } from "./restore_sudo.ts";
import { instanceDir as pinDir, startInstanceName } from "../agent/pins.ts";
import {
  evidenceLines,
  type KernelEvidence,
  recoverInstance,
} from "../agent/evidence.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { writeAllSync } from "../exporters/jsonl.ts";
import { stateFiles } from "./state.ts";
import { FileAlerts, notRegularFile, underGitHubActions } from "./alerts.ts";
import { forEachLine, openRegular } from "./event_lines.ts";

/** The exit code of a stop that found the agent tampered with. */
export const EXIT_TAMPERED = 3;

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
 * When the agent is gone and its pins are left: drains their rings, reads
 * the counters and `agent_signals`, removes the pins, and only then appends
 * the drained records to the events file the agent wrote (while the pins
 * enforce, a policed `stop` writing there would be refused). When the
 * agent had pinned (its marker in the root-only instance directory) and
 * the pins are
 * gone while it was dead, says that someone else removed them.
 */
function recoverPins(
  instance: string,
  marker: string,
  agentDied: boolean,
): { evidence?: KernelEvidence; removed?: string } {
  const pinnedBefore = readText(marker)?.trim();
  const events: RingfenceEvent[] = [];
  const evidence = recoverInstance(instance, (event) => events.push(event));
  try {
    Deno.removeSync(marker);
  } catch { /* none */ }
  if (!evidence) {
    // Whoever removed them could also detach what they held.
    return agentDied && pinnedBefore ? { removed: pinnedBefore } : {};
  }
  if (evidence.output && events.length) {
    try {
      using output = Deno.openSync(evidence.output, {
        append: true,
        create: true,
      });
      const encoder = new TextEncoder();
      for (const event of events) {
        writeAllSync(output, encoder.encode(JSON.stringify(event) + "\n"));
      }
    } catch (error) {
      log(`cannot append to ${evidence.output}: ${(error as Error).message}`);
    }
  }
  for (const line of evidenceLines(evidence)) log(line);
  log(`removed the pins ${pinDir(instance)}`);
  return { evidence };
}

/** The kernel's evidence in the report's terms. */
function integrityEvidence(
  evidence: KernelEvidence | undefined,
): IntegrityEvidence | undefined {
  if (!evidence) return undefined;
  return {
    signals: evidence.signals.map((signal) => ({
      senderPid: signal.senderPid,
      comm: signal.comm,
      signal: signal.signal,
      count: signal.count,
      uid: signal.uid,
    })),
    refused: evidence.refusedSinceAgent,
    killed: evidence.killedSinceAgent,
  };
}

/** What `stop` can be given besides its flags. */
export interface StopSources {
  /**
   * Kernel-side evidence of tampering (agent/evidence.ts: who signalled
   * the agent, what the kernel enforced while none ran), for the record
   * of the agent when there is one.
   */
  evidence?: (
    record: AgentRecord | undefined,
  ) => Promise<IntegrityEvidence | undefined>;
}

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return undefined;
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function validRecord(value: unknown): value is AgentRecord {
  const record = value as AgentRecord;
  return typeof record === "object" && record !== null &&
    Number.isInteger(record.pid) && record.pid > 1 &&
    Number.isFinite(record.startTime) && typeof record.exe === "string" &&
    typeof record.token === "string" && typeof record.bootId === "string";
}

/** The evidence less this process's own SIGTERM to the agent. */
function withoutOwnSignals(
  evidence: IntegrityEvidence | undefined,
): IntegrityEvidence | undefined {
  if (!evidence?.signals) return evidence;
  return {
    ...evidence,
    signals: evidence.signals.filter((signal) => signal.senderPid !== Deno.pid),
  };
}

/**
 * The report's guard rows without this command's own SIGTERM: the stop
 * request is not tampering (a step that stops the agent early is found by
 * the agent's absence when the job ends).
 */
function withoutOwnGuardRows(
  rows: Report["guard"],
): Report["guard"] {
  return rows?.filter((row) =>
    !(row.kind === "signal" && row.pid === Deno.pid && row.count === 1)
  );
}

/** "3 s", "2 min 5 s": how long before now `iso` was. */
function ago(iso: string): string {
  const seconds = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1e3));
  return seconds < 60
    ? `${seconds} s`
    : `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

/** Waits until the record's agent is no longer running, or the deadline. */
async function waitForExit(
  record: AgentRecord,
  deadline: number,
): Promise<boolean> {
  while (checkAgent(record).status === "alive") {
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  return true;
}

/** What the checks found, and the report the agent left. */
interface Findings {
  reasons: string[];
  agent?: AgentFacts;
  report?: Report;
}

/**
 * `ringfence stop`: checks the agent against its record, SIGTERM to it,
 * waits until it has gone (its report is then saved), and publishes the
 * report, red when tampering was found. 0, or 3 when tampered.
 */
export async function stop(
  options: StopOptions,
  sources: StopSources = {},
): Promise<number> {
  // Whatever happened, sudo rights an agent took and did not give back
  // (it died) are given back.
  try {
    return await stopAgent(options, sources);
  } finally {
    restoreAbandonedSudo();
  }
}

async function stopAgent(
  options: StopOptions,
  sources: StopSources,
): Promise<number> {
  const dir = absolutePath(options.stateDir);
  const instance = await instanceDir(dir);
  const files = instanceFiles(instance);
  const pidFile = options.pidFile ?? stateFiles(dir).pid;
  const pidText = readText(pidFile);
  const pins = await startInstanceName(dir);
  if (
    pidText === undefined && !exists(files.record) && !exists(pinDir(pins))
  ) {
    throw new Fatal(
      `no agent to stop: neither ${files.record} nor ${pidFile} exists`,
      1,
    );
  }
  const trusted = readTrusted<unknown>(files.record);
  const record = validRecord(trusted.value) ? trusted.value : undefined;
  const findings: Findings = { reasons: [] };
  if (!record) {
    findings.reasons.push(
      !exists(files.record)
        ? `the agent's root-only record ${files.record} is missing: it was removed, or no agent armed for ${dir}`
        : `the agent's record cannot be trusted: ${
          trusted.problem ?? `${files.record} is not an agent record`
        }`,
    );
  } else {
    await checkRecordedAgent(record, files, options, findings);
    comparePidFile(record, pidFile, pidText, findings);
  }
  // The agent has gone: a dead one's pins still enforce until removed.
  const kernel = recoverPins(pins, files.pins, findings.reasons.length > 0);
  if (kernel.removed) {
    findings.reasons.push(
      `the agent's pins ${kernel.removed} were removed by someone else while no agent ran: the kernel's enforcement ended with them`,
    );
  }
  const evidence = withoutOwnSignals(
    sources.evidence
      ? await sources.evidence(record)
      : integrityEvidence(kernel.evidence),
  );
  // Signal 0 only asks whether the agent lives (the hooks do).
  for (const signal of evidence?.signals ?? []) {
    if (signal.signal === 0) continue;
    findings.reasons.push(
      `pid ${signal.senderPid} (${signal.comm}, uid ${signal.uid}) sent signal ${signal.signal} to the agent${
        signal.count > 1 ? ` (${signal.count} signals)` : ""
      }`,
    );
  }
  const integrity = mergeIntegrity(
    findings.report?.integrity ?? { status: "ok", reasons: [] },
    {
      reasons: findings.reasons,
      ...(findings.reasons.length && findings.agent
        ? { agent: findings.agent }
        : {}),
      ...(evidence ? { evidence } : {}),
    },
  );
  await publish(dir, integrity, findings.report, options);
  await replayEvents(
    record?.output ?? `${dir}/events.jsonl`,
    `${dir}/report.html`,
    findings.report?.header,
  );
  for (const file of Object.values(files)) {
    try {
      Deno.removeSync(file);
    } catch { /* absent */ }
  }
  try {
    Deno.removeSync(instance);
  } catch { /* not empty: someone else's files stay */ }
  return integrity.status === "ok" ? 0 : EXIT_TAMPERED;
}

/**
 * Checks the record's agent; stops it when it is the agent, and takes the
 * report it saved.
 */
async function checkRecordedAgent(
  record: AgentRecord,
  files: ReturnType<typeof instanceFiles>,
  options: StopOptions,
  findings: Findings,
): Promise<void> {
  const beat = (): Heartbeat | undefined => {
    const read = readTrusted<Heartbeat>(files.heartbeat).value;
    return read?.token === record.token ? read : undefined;
  };
  const last = beat();
  findings.agent = {
    pid: record.pid,
    started: record.started,
    ...(last
      ? {
        lastSeen: last.time,
        counters: {
          events: last.events,
          denied: last.denied,
          refused: last.refused,
          killed: last.killed,
        },
      }
      : {}),
  };
  const check: AgentCheck = checkAgent(record);
  if (check.status === "alive") {
    if (check.process.state === "T" || check.process.state === "t") {
      // Stopped (SIGSTOP) or traced: its user space did nothing since.
      findings.reasons.push(
        `the agent (pid ${record.pid}) was found stopped or traced (state ${check.process.state}); last heartbeat at ${
          last?.time ?? "none"
        }`,
      );
      Deno.kill(record.pid, "SIGCONT");
    }
    Deno.kill(record.pid, "SIGTERM");
    const seconds = Number(options.timeout);
    const deadline = Date.now() + (seconds > 0 ? seconds : 30) * 1000;
    if (!await waitForExit(record, deadline)) {
      throw new Fatal(
        `the agent (pid ${record.pid}) did not stop within ${options.timeout}s`,
        1,
      );
    }
  } else {
    const seen = last
      ? `; last seen alive at ${last.time} (${ago(last.time)} ago)`
      : "; no heartbeat of it was found";
    findings.reasons.push(
      check.status === "dead"
        ? last?.state === "stopped"
          ? `the agent (pid ${record.pid}) stopped at ${last.time}, before ringfence stop: something else ended it`
          : `the agent (pid ${record.pid}) is not running: it was killed or died during the job${seen}`
        : `the agent (pid ${record.pid}) is gone: ${check.why}${seen}`,
    );
    // Nothing of the agent's tells now whether its policy file changed.
    if (record.policy) {
      const now = await sha256File(record.policy.path);
      if (now !== record.policy.sha256) {
        findings.reasons.push(
          `the policy file ${record.policy.path} changed while the agent ran`,
        );
      }
    }
  }
  const final = beat();
  const saved = readTrusted<Report>(files.report).value;
  if (final?.state === "stopped" && saved?.integrity && saved.summary) {
    findings.report = saved;
  } else if (check.status === "alive") {
    findings.reasons.push(
      `the agent (pid ${record.pid}) exited without saving its report`,
    );
  }
}

/** Compares the pid file with the record: a difference is tampering. */
function comparePidFile(
  record: AgentRecord,
  pidFile: string,
  pidText: string | undefined,
  findings: Findings,
): void {
  if (pidText === undefined) {
    // The agent removes it as it stops, once its report is saved.
    if (!findings.report) {
      findings.reasons.push(`the pid file ${pidFile} was removed`);
      if (findings.agent) findings.agent.pidFile = "(missing)";
    }
    return;
  }
  const text = pidText.trim().split("\n")[0] ?? "";
  const pid = Number(text);
  if (pid === record.pid) return;
  const other = Number.isInteger(pid) && pid > 0
    ? processIdentity(pid)
    : undefined;
  const named = !Number.isInteger(pid) || pid <= 0
    ? JSON.stringify(text.slice(0, 40))
    : other
    ? `pid ${pid}, ${describeProcess(other)}`
    : `pid ${pid}, not running`;
  findings.reasons.push(
    `the pid file ${pidFile} names ${named}, not the agent (pid ${record.pid}): it was rewritten`,
  );
  if (findings.agent) {
    findings.agent.pidFile = `${text.slice(0, 40)}${
      other ? ` (${describeProcess(other)})` : ""
    }`;
  }
}

/**
 * The agent's summary line from its saved report, e.g.
 * "ringfence: 7 processes, 21 events, 0 dropped, stopped".
 */
function summaryOf(report: Report): string {
  const { summary } = report;
  return formatSummary({
    processes: summary.processes,
    events: summary.events,
    dropped: summary.kernelDrops +
      Object.values(summary.exporterDrops).reduce((a, b) => a + b, 0),
    blocked: summary.blocked,
    wouldBlock: summary.wouldBlock,
    killed: summary.killed,
    wouldKill: summary.wouldKill,
    scopeFull: summary.scopeFull,
    unvouched: unvouchedPaths(report.protectedFiles ?? []).length,
  }, "stopped");
}

/**
 * Publishes the report: the agent's with the integrity merged in, or the
 * findings alone when it left none; prints the findings; keeps copies in
 * the state directory for scripts.
 */
async function publish(
  dir: string,
  integrity: IntegrityReport,
  saved: Report | undefined,
  options: StopOptions,
): Promise<void> {
  const files = stateFiles(dir);
  const report = saved
    ? { ...saved, integrity, guard: withoutOwnGuardRows(saved.guard) }
    : undefined;
  let markdown: string;
  if (report) {
    const { renderMarkdown } = await import("../report/markdown.ts");
    markdown = renderMarkdown(report);
  } else {
    const events = `${dir}/events.jsonl`;
    markdown = renderTamperedReport(
      integrity,
      exists(events) ? events : undefined,
    );
  }
  if (report) console.log(summaryOf(report));
  const lines = tamperedLines(integrity);
  for (const line of lines) console.error(line);
  if (lines.length && Deno.env.get("GITHUB_ACTIONS") === "true") {
    // Workflow commands are read from stdout; a newline would end one.
    const text = integrity.reasons.join("; ").replace(/[\r\n%]/g, " ");
    console.log(`::error title=ringfence: AGENT TAMPERED::${text}`);
  }
  await publishReport(markdown, { ...options, printIfNowhere: true });
  // Copies for scripts, in fresh files: a name a step left (a symlink)
  // is not followed.
  const copies: [string, string][] = [[files.report, markdown]];
  copies.push([
    files.json,
    JSON.stringify(report ?? { integrity }, null, 2) + "\n",
  ]);
  for (const [path, text] of copies) {
    try {
      Deno.removeSync(path);
    } catch { /* absent */ }
    try {
      Deno.writeTextFileSync(path, text, { createNew: true });
    } catch (error) {
      log(`cannot write ${path}: ${(error as Error).message}`);
    }
  }
}

/**
 * One pass over the detached agent's events file: its blocks and kills
 * are printed (and annotated) here, as it could not reach the job's log,
 * and the job's page (`html`) is built from the same lines.
 */
async function replayEvents(
  events: string,
  html: string,
  header: ReportHeader | undefined,
): Promise<void> {
  const file = await openRegular(events, notRegularFile);
  if (!file) return;
  const { HtmlReport } = await import("./report_html.ts");
  const page = await HtmlReport.create(header);
  const alerts = new FileAlerts(
    underGitHubActions() ? "stdout" : undefined,
    // its own SIGTERM to the agent is no kill of the job's
    (event) =>
      event.type === "process_event" && event.kind === "signal" &&
      event.pid === Deno.pid,
  );
  await forEachLine(file, (line) => {
    if (!line.trim()) return;
    let event: unknown;
    try {
      event = JSON.parse(line);
    } catch {
      return; // a cut line
    }
    page.add(event);
    if (FileAlerts.wants(line)) alerts.add(event);
  });
  alerts.end(events);
  page.write(html);
}
