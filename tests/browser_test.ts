/**
 * The browser helper itself: chromium starts, renders a page and runs its
 * script, and a console error fails the test.
 */
import assert from "node:assert/strict";
import { bodyText, waitForText, withBrowser } from "./helpers/browser.ts";

Deno.test("browser: chromium renders a data: page and runs its script", async () => {
  const html = "<!doctype html><title>t</title><p id=p>static</p>" +
    "<script>document.getElementById('p').textContent = 'from script'</script>";
  await withBrowser(async (page) => {
    await page.goto(`data:text/html,${encodeURIComponent(html)}`);
    await waitForText(page, "from script");
    assert.equal(await page.title(), "t");
    assert.ok((await bodyText(page)).includes("from script"));
  });
});

Deno.test("browser: a console error fails the test", async () => {
  await assert.rejects(
    () =>
      withBrowser(async (page) => {
        const html = "<script>console.error('boom')</script>";
        await page.goto(`data:text/html,${encodeURIComponent(html)}`);
        await page.waitForTimeout(100);
      }),
    /boom/,
  );
});
