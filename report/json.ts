/**
 * The job report as JSON (`ringfence report --format json`): the
 * {@linkcode Report} itself, indented, one trailing newline.
 *
 * @module
 */

import type { Report } from "./types.ts";

/** The report as indented JSON text, ending in a newline. */
export function renderJson(report: Report): string {
  return JSON.stringify(report, null, 2) + "\n";
}
