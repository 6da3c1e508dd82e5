import assert from "node:assert/strict";
import { JobModel } from "../web/model.ts";
import { fixtureEvents, syntheticEvents } from "../tests/helpers/job_events.ts";
import { renderHtml, renderLivePage } from "./html.ts";

function dataOf(events: ReturnType<typeof fixtureEvents>) {
  const model = new JobModel({ mode: "block" });
  for (const event of events) model.add(event);
  return model.data();
}

Deno.test("the HTML report is self-contained", () => {
  const html = renderHtml(dataOf(fixtureEvents()));
  assert.doesNotMatch(html, /\s(src|href)\s*=\s*["']?\s*(https?:)?\/\//i);
  assert.doesNotMatch(html, /<link\b/i);
  assert.match(html, /<script id="ringfence-data" type="application\/json">/);
  assert.match(html, /<style>[^<]*\.badge/);
});

Deno.test("a </script> in the data does not end the data element", () => {
  const html = renderHtml(dataOf(fixtureEvents()));
  const start = html.indexOf('<script id="ringfence-data"');
  const end = html.indexOf("</script>", start);
  const json = html.slice(html.indexOf(">", start) + 1, end);
  // The fixture's command line holds `</script><b>x</b>`: it is in the
  // JSON, escaped, and reads back whole.
  assert.doesNotMatch(json, /</);
  const data = JSON.parse(json);
  assert.equal(
    data.processes[0].command,
    "bash -c echo </script><b>x</b>",
  );
  // Only the data, the app and nothing else close a script element.
  assert.equal(html.match(/<\/script>/g)!.length, 2);
});

Deno.test("a 100,000-event job gives an HTML report under 5 MB", () => {
  const html = renderHtml(dataOf(syntheticEvents(100_000)));
  const bytes = new TextEncoder().encode(html).length;
  assert.ok(bytes < 5_000_000, `${bytes} bytes`);
});

Deno.test("the live page names its event stream and carries no data", () => {
  const html = renderLivePage({ eventsPath: '/events?x="1"' });
  assert.match(
    html,
    /<meta name="ringfence-live" content="\/events\?x=&#34;1&#34;">/,
  );
  assert.doesNotMatch(html, /id="ringfence-data"/);
});
