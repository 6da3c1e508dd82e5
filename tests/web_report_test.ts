/**
 * The HTML report of a real block-mode `ringfence run`, opened from disk in
 * headless Chromium: a connection to a loopback listener the policy does not
 * allow is refused (nothing reaches the listener) and a `process.deny`
 * program is killed (it prints nothing); the page loads with no console
 * errors, shows both, filters the egress table, expands the process tree
 * and finds a command line by search.
 */
import assert from "node:assert/strict";
import { kernelTest, ringfence, runInDir } from "./helpers/kernel.ts";
import { withBrowser } from "./helpers/browser.ts";

/** A loopback listener outside the run's scope, counting what it hears. */
function listen(): { port: number; heard: () => number; close: () => void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let heard = 0;
  (async () => {
    for await (const conn of listener) {
      heard++;
      conn.close();
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    heard: () => heard,
    close: () => listener.close(),
  };
}

kernelTest(
  "web report: a real run's HTML report opens from disk and shows the job",
  async () => {
    const dir = await Deno.makeTempDir();
    const first = listen(), second = listen();
    try {
      await Deno.copyFile("/bin/echo", `${dir}/forbidden`);
      await Deno.chmod(`${dir}/forbidden`, 0o755);
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "mode: block",
          "network:",
          '  allow: ["*.allowed.test"]',
          "  loopback: deny",
          "process:",
          `  deny: ["${dir}/forbidden"]`,
          "",
        ].join("\n"),
      );
      const script = [
        `/bin/bash -c 'echo secret > /dev/tcp/127.0.0.1/${first.port}'`,
        `/bin/bash -c 'echo secret > /dev/tcp/127.0.0.1/${second.port}'`,
        `${dir}/forbidden denied program ran`,
        "echo done",
      ].join("\n");
      await Deno.writeTextFile(`${dir}/job.sh`, script + "\n");
      const run = await ringfence([
        ...runInDir(dir),
        "/bin/sh",
        `${dir}/job.sh`,
      ]);
      assert.equal(run.stdout, "done\n", run.stderr);
      assert.equal(first.heard() + second.heard(), 0, "nothing got through");

      const report = await ringfence([
        "report",
        `${dir}/events.jsonl`,
        "--format",
        "html",
        "--policy",
        `${dir}/policy.yaml`,
        "--out",
        `${dir}/report.html`,
      ]);
      assert.equal(report.code, 0, report.stderr);

      await withBrowser(async (page) => {
        await page.goto(`file://${dir}/report.html`);
        const body = await page.innerText("body");
        // The header: the mode and the policy it ran under.
        assert.match(body, /Mode\s+block/);
        // The blocked connections, in the egress table.
        const egress = page.locator("#egress-table tbody tr");
        assert.equal(await egress.count(), 2);
        assert.match(
          await page.innerText("#egress-table"),
          new RegExp(`127\\.0\\.0\\.1\\s+${first.port}[\\s\\S]*blocked 1`),
        );
        // The killed process, marked in words.
        const flagged = await page.innerText("#flagged");
        assert.match(flagged, /forbidden denied program ran[\s\S]*KILLED/);
        assert.match(flagged, /BLOCKED/);
        // Filtering the egress table narrows its rows.
        await page.fill("#egress-filter", String(second.port));
        assert.equal(await egress.count(), 1);
        assert.match(
          await egress.first().innerText(),
          new RegExp(`${second.port}`),
        );
        // Expanding a tree node shows its children.
        const nodes = page.locator("#tree li.node");
        const before = await nodes.count();
        const toggle = page.locator('#tree .toggle[aria-expanded="false"]')
          .first();
        await toggle.focus();
        await page.keyboard.press("Enter");
        assert.ok(await nodes.count() > before, "children shown");
        assert.equal(
          await page.locator('#tree .toggle[aria-expanded="true"]').count(),
          1,
        );
        assert.match(await page.innerText("#tree"), /denied program ran/);
        // Search finds a command line.
        await page.fill("#search-input", "denied program");
        assert.match(
          await page.innerText("#search"),
          /command\s+\S*forbidden denied program ran/,
        );
      });
    } finally {
      first.close();
      second.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
