/**
 * The job as one self-contained HTML page: the front end (web/app.ts,
 * bundled by scripts/build_web.ts) and its styles inline, and the job's
 * data (web/model.ts JobData) as JSON in the page, so the file opens from
 * disk with no network fetch. The live page is the same front end without
 * data: it reads the agent's event stream instead.
 *
 * @module
 */

import appJs from "../web/build/app.js" with { type: "text" };
import styleCss from "../web/build/style.css" with { type: "text" };
import type { JobData } from "../web/model.ts";

export { type JobContext, type JobData, JobModel } from "../web/model.ts";

/** Escapes text for HTML content and attribute values. */
function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (char) => `&#${char.charCodeAt(0)};`);
}

/**
 * JSON that cannot end its `<script>` element: `<`, `>`, `&` and the line
 * separators a page's script reads differently are written as `\u` escapes,
 * which JSON.parse reads back unchanged.
 */
function scriptJson(value: unknown): string {
  return JSON.stringify(value).replace(
    /[<>&\u2028\u2029]/g,
    (char) => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

/** Script text that cannot end its element early (`</script`, `<!--`). */
function inlineScript(text: string): string {
  return text.replace(/<\/(script)/gi, "<\\/$1").replace(/<!--/g, "<\\!--");
}

/** Style text that cannot end its element early. */
function inlineStyle(text: string): string {
  return text.replace(/<\/(style)/gi, "<\\/$1");
}

function page(title: string, head: string, body: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'">
<title>${escapeHtml(title)}</title>
${head}<style>${inlineStyle(styleCss)}</style>
</head>
<body>
<div id="app"><noscript>This report needs JavaScript.</noscript></div>
${body}<script>${inlineScript(appJs)}</script>
</body>
</html>
`;
}

/** The static report of a job: one file, scripts, styles and data inline. */
export function renderHtml(
  data: JobData,
  title = "ringfence job report",
): string {
  return page(
    title,
    "",
    `<script id="ringfence-data" type="application/json">${
      scriptJson(data)
    }</script>\n`,
  );
}

/** Options of the live page. */
export interface LivePageOptions {
  /** The path of the event stream the page reads (SSE or JSON lines). */
  eventsPath: string;
  /** The page's title. */
  title?: string;
}

/** The live page: the same front end, fed by the agent's event stream. */
export function renderLivePage(options: LivePageOptions): string {
  return page(
    options.title ?? "ringfence live job",
    `<meta name="ringfence-live" content="${
      escapeHtml(options.eventsPath)
    }">\n`,
    "",
  );
}
