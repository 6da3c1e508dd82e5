/**
 * The tamper report as the lines a stopping agent prints to stderr, and
 * the one-phrase form of a protected file's state that the job report
 * shares.
 *
 * @module
 */

import type { FileState, TamperReport } from "../agent/tamper.ts";
import { findingLine, unvouchedHeadline } from "./protected_files.ts";

/** At most this many tampered files are printed; the rest are counted. */
export const MAX_LINES = 50;

/** `12 bytes, mtime … sha256 …` (its first 16 hex digits), or `absent`. */
export function describeFileState(state: FileState): string {
  if (!state.exists) return "absent";
  const hash = state.sha256 ? ` sha256 ${state.sha256.slice(0, 16)}` : "";
  return `${state.size} bytes, mtime ${state.mtime}${hash}`;
}

function quoted(text: string): string {
  return JSON.stringify(text.length > 120 ? text.slice(0, 119) + "…" : text);
}

/**
 * The report as lines for stderr: one per tampered or protected file, and
 * per finding about a protected file, under a headline when any finding
 * stays unrepaired.
 */
export function tamperLines(report: TamperReport): string[] {
  const findings = report.findings ?? [];
  const headline = unvouchedHeadline(findings);
  const lines = headline ? [`ringfence: ${headline}`] : [];
  for (const finding of findings.slice(0, MAX_LINES)) {
    lines.push(findingLine(finding));
  }
  if (findings.length > MAX_LINES) {
    lines.push(
      `ringfence: ... and ${
        findings.length - MAX_LINES
      } more findings about protected files (see the events)`,
    );
  }
  lines.push(
    ...report.protected.map((change) =>
      `ringfence: protected ${change.path} changed: ${
        describeFileState(change.before)
      } -> ${describeFileState(change.after)}`
    ),
  );
  for (const entry of report.files.slice(0, MAX_LINES)) {
    const who = entry.atStop
      ? "a process no event named (found when the agent stopped)"
      : `pid ${entry.pid} ${entry.comm}${entry.exe ? ` (${entry.exe})` : ""}`;
    const step = entry.step ? ` in step ${quoted(entry.step)}` : "";
    lines.push(
      `ringfence: tampered ${entry.path} (${entry.kind}) by ${who}${step}, after checkout by ${
        quoted(entry.checkout)
      }`,
    );
  }
  if (report.files.length > MAX_LINES) {
    lines.push(
      `ringfence: ... and ${
        report.files.length - MAX_LINES
      } more tampered files (see the events)`,
    );
  }
  const others = report.otherChanges ?? 0;
  if (others) {
    lines.push(
      `ringfence: ${others} other ${
        others === 1 ? "change" : "changes"
      } under files.watch (see the events)`,
    );
  }
  return lines;
}
