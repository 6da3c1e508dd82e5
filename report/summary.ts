/**
 * The one-line human summary printed when an agent stops, from a running
 * agent's counters or from the report a stopped one saved.
 *
 * @module
 */

import type { Agent } from "../agent/agent.ts";
import { unvouchedPaths } from "./protected_files.ts";
import type { Report } from "./types.ts";

/** What a summary line counts. */
export interface SummaryCounts {
  processes: number;
  events: number;
  dropped: number;
  /** File changes counted in bulk summaries rather than sent one by one. */
  summarised?: number;
  blocked: number;
  wouldBlock: number;
  /** Processes killed, when the source counts them. */
  killed?: number;
  /** Processes block mode would have killed (audit mode). */
  wouldKill?: number;
  scopeFull: number;
  /** What became of untracked processes, when the mode is known. */
  scopeFate?: "killed" | "reported";
  /** Tampering with the agent found. */
  tampered?: number;
  /** Protected files a finding left unrepaired. */
  unvouched?: number;
}

/** e.g. "ringfence: 7 processes, 21 events, 0 dropped, exit 3". */
export function formatSummary(
  counts: SummaryCounts,
  ending: string,
  extra: readonly string[] = [],
): string {
  const parts = [
    `${counts.processes} processes`,
    `${counts.events} events`,
    `${counts.dropped} dropped`,
  ];
  if (counts.summarised) {
    parts.push(`${counts.summarised} file changes summarised`);
  }
  if (counts.blocked) parts.push(`${counts.blocked} blocked`);
  if (counts.wouldBlock) parts.push(`${counts.wouldBlock} would be blocked`);
  if (counts.killed) parts.push(`${counts.killed} killed`);
  if (counts.wouldKill) parts.push(`${counts.wouldKill} would be killed`);
  if (counts.scopeFull) {
    const fate = counts.scopeFate ? `, ${counts.scopeFate}` : "";
    parts.push(`${counts.scopeFull} untracked (scope full${fate})`);
  }
  if (counts.tampered) {
    parts.push(`${counts.tampered} tampering with the agent found`);
  }
  if (counts.unvouched) {
    parts.push(
      `${counts.unvouched} protected ${
        counts.unvouched === 1 ? "file" : "files"
      } no longer vouched for`,
    );
  }
  parts.push(...extra);
  return `ringfence: ${parts.join(", ")}, ${ending}`;
}

/**
 * The summary line of a running or just stopped agent; with its report's
 * summary, the processes killed and that block mode would have killed.
 */
export function summaryLine(
  agent: Agent,
  ending: string,
  extra: readonly string[] = [],
  report?: Pick<Report["summary"], "killed" | "wouldKill">,
): string {
  const stats = agent.stats();
  return formatSummary(
    {
      processes: stats.processes,
      events: stats.events,
      dropped: stats.drops,
      summarised: stats.sensors["file-system"]?.summarised,
      blocked: stats.blocked,
      wouldBlock: stats.wouldBlock,
      killed: report?.killed,
      wouldKill: report?.wouldKill,
      scopeFull: stats.scopeFull,
      // A full scope map fails closed: each untracked process is killed in
      // block mode, reported in audit mode.
      scopeFate: agent.policy.mode === "block" ? "killed" : "reported",
      tampered: stats.tampered,
      unvouched: unvouchedPaths(agent.tamperReport().findings ?? []).length,
    },
    ending,
    extra,
  );
}
