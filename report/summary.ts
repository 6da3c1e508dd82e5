/**
 * The one-line human summary printed when an agent stops.
 *
 * @module
 */

import type { Agent } from "../agent/agent.ts";

/** e.g. "ringfence: 7 processes, 21 events, 0 dropped, exit 3". */
export function summaryLine(
  agent: Agent,
  ending: string,
  extra: readonly string[] = [],
): string {
  const stats = agent.stats();
  const parts = [
    `${stats.processes} processes`,
    `${stats.events} events`,
    `${stats.drops} dropped`,
  ];
  if (stats.blocked) parts.push(`${stats.blocked} blocked`);
  if (stats.wouldBlock) parts.push(`${stats.wouldBlock} would be blocked`);
  if (stats.scopeFull) {
    // A full scope map fails closed: each untracked process is killed in
    // block mode, reported in audit mode.
    const fate = agent.policy.mode === "block" ? "killed" : "reported";
    parts.push(`${stats.scopeFull} untracked (scope full, ${fate})`);
  }
  if (stats.tampered) {
    parts.push(`${stats.tampered} tampering with the agent found`);
  }
  parts.push(...extra);
  return `ringfence: ${parts.join(", ")}, ${ending}`;
}
