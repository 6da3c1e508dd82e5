/**
 * The job report: events in, markdown or JSON out, and a suggested
 * block-mode policy.
 *
 * ```ts ignore
 * import { buildReport, renderMarkdown, suggestPolicy } from "./report/mod.ts";
 *
 * const report = buildReport(events);
 * console.log(renderMarkdown(report));
 * console.log(suggestPolicy(events, { text: auditedYaml, name: "audit.yaml" }));
 * ```
 *
 * @module
 */

export * from "./types.ts";
export { buildReport, ReportBuilder } from "./build.ts";
export { renderMarkdown } from "./markdown.ts";
export { renderJson } from "./json.ts";
export { SuggestionBuilder, suggestPolicy } from "./suggest.ts";
