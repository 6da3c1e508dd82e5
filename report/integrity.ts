/**
 * The integrity part of the report: whether the agent ran to the end as
 * itself and what it guards stayed as it was. A finding turns the report
 * red ("agent tampered") and `ringfence stop` nonzero.
 *
 * Findings come from three places: the agent's own tamper events (a sysctl
 * it had to put back, links or maps re-attached), what the agent noticed
 * about itself (its policy file changed), and what `ringfence stop` found
 * when it checked the agent against its root-only record (dead, replaced,
 * a pid file naming another process). Kernel-side evidence (who signalled
 * the agent) is rendered when the caller hands it in.
 *
 * @module
 */

import type { AgentEvent } from "../sensors/agent_event.ts";
import type { IntegrityEvidence, IntegrityReport, Report } from "./types.ts";

/** Findings listed before the rest are summarised as a count. */
const MAX_REASONS = 100;

/** The sentence for an agent tamper event. */
export function tamperReason(event: AgentEvent): string {
  const values = event.before !== undefined || event.after !== undefined
    ? ` from ${JSON.stringify(event.before ?? "")} to ${
      JSON.stringify(event.after ?? "")
    }`
    : "";
  const outcome = event.repaired === true
    ? "; the agent put it back"
    : event.repaired === false
    ? `; not put back${event.detail ? ` (${event.detail})` : ""}`
    : event.detail
    ? ` (${event.detail})`
    : "";
  return `${event.what} changed${values} at ${event.time}${outcome}`;
}

/** Collects the agent's tamper events into findings. */
export class IntegrityFindings {
  readonly #reasons: string[] = [];
  #omitted = 0;

  /** Takes one `{"type":"agent"}` event. */
  add(event: AgentEvent): void {
    if (event.kind !== "tamper") return;
    if (this.#reasons.length < MAX_REASONS) {
      this.#reasons.push(tamperReason(event));
    } else this.#omitted++;
  }

  /**
   * Takes a policed write to what the agent's integrity rests on (a file
   * event marked `integrity`).
   */
  write(
    event: {
      kind: string;
      path?: unknown;
      new_path?: unknown;
      pid?: unknown;
      comm: string;
      verdict?: unknown;
      killed?: unknown;
      time?: unknown;
    },
    process: string,
    step: string | undefined,
  ): void {
    const target = typeof event.new_path === "string"
      ? `${event.path} → ${event.new_path}`
      : String(event.path);
    const outcome = event.killed === true
      ? "; the writer was killed"
      : event.verdict === "deny"
      ? "; refused"
      : "";
    const sentence = `${target} written (${event.kind}) by pid ${
      String(event.pid)
    } ${process}${step ? ` in step ${JSON.stringify(step)}` : ""}${outcome}`;
    if (this.#reasons.length < MAX_REASONS) this.#reasons.push(sentence);
    else this.#omitted++;
  }

  /** The integrity so far, with `extra` findings first. */
  build(extra: readonly string[] = []): IntegrityReport {
    const reasons = [...extra, ...this.#reasons];
    if (this.#omitted) reasons.push(`${this.#omitted} more tamper events`);
    return { status: reasons.length ? "tampered" : "ok", reasons };
  }
}

/**
 * `integrity` with more findings, agent facts and evidence merged in; the
 * status follows the findings.
 */
export function mergeIntegrity(
  integrity: IntegrityReport,
  more: {
    reasons?: readonly string[];
    agent?: IntegrityReport["agent"];
    evidence?: IntegrityEvidence;
  },
): IntegrityReport {
  const reasons = [...(more.reasons ?? []), ...integrity.reasons];
  const merged: IntegrityReport = {
    status: reasons.length ? "tampered" : "ok",
    reasons,
  };
  const agent = more.agent ?? integrity.agent;
  if (agent) merged.agent = agent;
  const evidence = more.evidence ?? integrity.evidence;
  if (evidence) merged.evidence = evidence;
  return merged;
}

/** Text for a table cell: `|` escaped, line breaks folded. */
function cell(text: string | number): string {
  return String(text).replace(/\|/g, "\\|").replace(/[\r\n]+/g, " ");
}

/** Markdown of the integrity findings; nothing when intact. */
export function renderIntegrity(integrity: IntegrityReport): string[] {
  if (integrity.status === "ok") return [];
  const lines = [
    "> [!CAUTION]",
    "> ### 🟥 ringfence: AGENT TAMPERED",
    ">",
    "> Enforcement or reporting was interfered with during this job. What" +
    " follows is what is known; the rest of the report cannot be taken" +
    " as complete.",
    ">",
    ...integrity.reasons.map((reason) => `> - ${cell(reason)}`),
    "",
  ];
  const agent = integrity.agent;
  if (agent) {
    const facts = [`pid ${agent.pid}`];
    if (agent.started) facts.push(`armed at ${agent.started}`);
    if (agent.lastSeen) facts.push(`last seen alive at ${agent.lastSeen}`);
    if (agent.pidFile !== undefined) {
      facts.push(`pid file: ${cell(agent.pidFile)}`);
    }
    lines.push(`**The agent:** ${facts.join(" · ")}`, "");
    if (agent.counters) {
      const c = agent.counters;
      lines.push(
        `**Its last counters:** ${c.events} events · ${c.denied} denied · ` +
          `${c.refused} refused in the kernel · ${c.killed} killed`,
        "",
      );
    }
  }
  lines.push(...renderEvidence(integrity.evidence));
  return lines;
}

function renderEvidence(evidence: IntegrityEvidence | undefined): string[] {
  if (!evidence) return [];
  const lines: string[] = [];
  if (evidence.signals?.length) {
    lines.push(
      "**Signals to the agent, as the kernel recorded them:**",
      "",
      "| sender pid | command | uid | signal | count |",
      "| ---: | --- | ---: | ---: | ---: |",
      ...evidence.signals.map((signal) =>
        `| ${signal.senderPid} | ${
          cell(signal.comm)
        } | ${signal.uid} | ${signal.signal} | ${signal.count} |`
      ),
      "",
    );
  }
  const counts: string[] = [];
  if (evidence.refused !== undefined) {
    counts.push(`${evidence.refused} refused`);
  }
  if (evidence.killed !== undefined) counts.push(`${evidence.killed} killed`);
  if (counts.length) {
    lines.push(
      `**Enforced by the kernel while no agent ran:** ${counts.join(" · ")}`,
      "",
    );
  }
  return lines;
}

/** The lines for the job log: one per finding, `ringfence: AGENT TAMPERED — `. */
export function tamperedLines(integrity: IntegrityReport): string[] {
  return integrity.status === "ok"
    ? []
    : integrity.reasons.map((reason) =>
      `ringfence: AGENT TAMPERED — ${reason}`
    );
}

/**
 * The whole report when the agent could not deliver one (dead or
 * replaced): the findings, and where the rest may be found.
 */
export function renderTamperedReport(
  integrity: IntegrityReport,
  events: string | undefined,
  title = "ringfence",
): string {
  return [
    `## ${title}`,
    "",
    ...renderIntegrity(integrity),
    "The agent left no report of its own." +
    (events
      ? ` Its events until it stopped are in \`${
        events.replace(/`/g, "'")
      }\`, a file the job could also write: read it as a lead, not as proof.`
      : ""),
    "",
  ].join("\n");
}

/** Whether a report's integrity is intact. */
export function intact(report: Pick<Report, "integrity">): boolean {
  return report.integrity.status === "ok";
}
