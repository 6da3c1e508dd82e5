/**
 * A real browser for the web view's tests: Debian's `/usr/bin/chromium`
 * driven headless through `playwright-core` (npm; it ships no browser of its
 * own). A missing browser fails the test with the reason rather than skipping
 * it: CI installs chromium with `scripts/setup`, and a skipped browser test
 * would let the page break unseen.
 *
 * @module
 */
import { chromium, type Page } from "playwright-core";

export type { Page } from "playwright-core";

/** Where Debian's chromium package puts the browser. */
export const CHROMIUM = "/usr/bin/chromium";

/** Flags that keep the browser headless, offline and free of side work. */
const FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];

/** Options of {@link withBrowser}. */
export interface BrowserOptions {
  /**
   * Whether console errors and uncaught page errors fail the test after `fn`
   * returns (default true). With false they are only in `errors`.
   */
  failOnConsoleErrors?: boolean;
  /** Viewport size (default 1280x800). */
  viewport?: { width: number; height: number };
}

/** What `fn` gets besides the page: the console errors seen so far. */
export interface BrowserSession {
  /** Console `error` messages and uncaught page errors, in order. */
  errors: string[];
}

/**
 * Launches chromium with a fresh profile, gives `fn` a page, and closes
 * everything afterwards. Throws when the browser is missing or fails to
 * start (with why), and, unless disabled, when the page logged console
 * errors or threw.
 */
export async function withBrowser(
  fn: (page: Page, context: BrowserSession) => Promise<void>,
  options: BrowserOptions = {},
): Promise<void> {
  try {
    await Deno.stat(CHROMIUM);
  } catch (error) {
    throw new Error(
      `browser test needs ${CHROMIUM} (apt-get install chromium, or scripts/setup): ${
        (error as Error).message
      }`,
    );
  }
  const profile = await Deno.makeTempDir({ prefix: "ringfence-chromium-" });
  const errors: string[] = [];
  try {
    // A persistent context is how playwright takes --user-data-dir.
    const browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: FLAGS,
      viewport: options.viewport ?? { width: 1280, height: 800 },
      // The pages forbid eval; the test's own probes (waitForFunction with
      // an expression) are not the page's scripts.
      bypassCSP: true,
    }).catch((error: Error) => {
      throw new Error(`cannot start ${CHROMIUM}: ${error.message}`);
    });
    try {
      const page = browser.pages()[0] ?? await browser.newPage();
      page.on("console", (message) => {
        if (message.type() === "error") errors.push(message.text());
      });
      page.on("pageerror", (error) => errors.push(String(error)));
      await fn(page, { errors });
    } finally {
      await browser.close();
    }
  } finally {
    await Deno.remove(profile, { recursive: true }).catch(() => {});
  }
  if (options.failOnConsoleErrors !== false && errors.length > 0) {
    throw new Error(`page logged errors:\n${errors.join("\n")}`);
  }
}

/** The visible text of the page's body. */
export function bodyText(page: Page): Promise<string> {
  return page.innerText("body");
}

/**
 * Waits until the page's visible text contains `text` (polling; the live
 * view re-renders on its own), failing after `timeoutMs` with the text seen.
 */
export async function waitForText(
  page: Page,
  text: string,
  timeoutMs = 10_000,
): Promise<void> {
  try {
    // A string expression: it runs in the page, where `document` exists.
    await page.waitForFunction(
      `document.body?.innerText.includes(${JSON.stringify(text)}) ?? false`,
      undefined,
      { timeout: timeoutMs, polling: 100 },
    );
  } catch {
    const seen = await bodyText(page).catch(() => "(no page)");
    throw new Error(
      `page did not show ${JSON.stringify(text)} within ${timeoutMs} ms; ` +
        `it shows:\n${seen.slice(0, 2000)}`,
    );
  }
}
