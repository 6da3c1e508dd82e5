/**
 * Takes the README's screenshot of the web view: `deno run -A
 * scripts/web_screenshot.ts REPORT.html OUT.png` opens the page in the
 * browser tests' chromium (tests/helpers/browser.ts) and saves what a
 * 1280x900 window shows.
 *
 * @module
 */
import { withBrowser } from "../tests/helpers/browser.ts";

const [html, out] = Deno.args;
if (!html || !out) {
  console.error("usage: web_screenshot.ts REPORT.html OUT.png");
  Deno.exit(2);
}
await withBrowser(async (page) => {
  await page.goto(new URL(html, `file://${Deno.cwd()}/`).href);
  await page.waitForSelector("#app > *");
  await page.screenshot({ path: out });
}, { viewport: { width: 1280, height: 900 } });
