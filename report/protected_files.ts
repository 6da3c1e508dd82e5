/**
 * What the agent found wrong with protected files (agent/file_findings.ts,
 * the `{"type":"agent","kind":"file"}` events): the report's list, its
 * headline when any stays unrepaired, and stop's lines on stderr.
 *
 * @module
 */

import type { ProtectedFileFinding } from "../sensors/agent_event.ts";

/** Findings listed at most; the rest are counted. */
export const MAX_FINDINGS = 1_000;

/** Words for a finding's kind. */
export const FINDING_TEXT: Readonly<Record<string, string>> = {
  changed: "changed",
  removed: "removed or replaced",
  mounted_over: "mounted over",
  bind_mounted: "mounted elsewhere",
  hard_linked: "hard-linked",
  held_open: "held open for writing",
};

/** The protected paths a finding left unrepaired, each once. */
export function unvouchedPaths(
  findings: readonly ProtectedFileFinding[],
): string[] {
  return [
    ...new Set(
      findings.filter((finding) => !finding.repaired).map((finding) =>
        finding.path
      ),
    ),
  ];
}

/**
 * "integrity of 2 protected files can no longer be vouched for", or
 * undefined when every finding was put right.
 */
export function unvouchedHeadline(
  findings: readonly ProtectedFileFinding[],
): string | undefined {
  const count = unvouchedPaths(findings).length;
  if (!count) return undefined;
  return `integrity of ${count} protected ${
    count === 1 ? "file" : "files"
  } can no longer be vouched for`;
}

/** Who did it, e.g. `pid 12 /usr/bin/mount in step "evil"`, or undefined. */
export function describeCulprit(
  finding: ProtectedFileFinding,
): string | undefined {
  if (finding.pid === undefined && !finding.exe) return undefined;
  const parts: string[] = [];
  if (finding.pid !== undefined) parts.push(`pid ${finding.pid}`);
  if (finding.exe) parts.push(finding.exe);
  if (finding.step) parts.push(`in step ${JSON.stringify(finding.step)}`);
  return parts.join(" ");
}

/** One line for stderr, e.g. `ringfence: protected /x mounted over ...`. */
export function findingLine(finding: ProtectedFileFinding): string {
  const what = FINDING_TEXT[finding.kind] ?? finding.kind;
  const other = finding.other_path ? ` (${finding.other_path})` : "";
  const who = describeCulprit(finding);
  const by = who ? ` by ${who}` : "";
  const outcome = finding.repaired ? "repaired" : "NOT repaired";
  const detail = finding.detail ? `: ${finding.detail}` : "";
  return `ringfence: protected ${finding.path} ${what}${other}${by}, ${outcome}${detail}`;
}

/** Collects the findings of `file` events, up to a limit. */
export class FindingList {
  readonly #findings: ProtectedFileFinding[] = [];
  #omitted = 0;

  /** Takes one finding. */
  add(finding: ProtectedFileFinding): void {
    if (this.#findings.length < MAX_FINDINGS) this.#findings.push(finding);
    else this.#omitted++;
  }

  /** The findings so far. */
  list(): ProtectedFileFinding[] {
    return [...this.#findings];
  }

  /** Findings beyond the limit. */
  get omitted(): number {
    return this.#omitted;
  }
}
