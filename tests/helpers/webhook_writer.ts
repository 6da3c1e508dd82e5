/**
 * Writes `COUNT` events to a webhook exporter (URL, spool DIR), commits
 * them as the agent does after each drain, says "committed" on stdout and
 * waits to be killed: what a killed agent leaves behind.
 *
 *     deno run -A webhook_writer.ts URL DIR COUNT
 */
import { WebhookExporter } from "../../exporters/webhook.ts";
import type { RingfenceEvent } from "../../sensors/events.ts";

const [url, dir, count] = Deno.args;
const exporter = new WebhookExporter({ url, spoolDir: dir, queue: 100 });
for (let n = 1; n <= Number(count); n++) {
  exporter.write({
    type: "process_event",
    kind: "exec",
    time: new Date().toISOString(),
    pid: 1000 + n,
    tid: 1000 + n,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "true",
    cgroup_id: 1,
    path: "/bin/true",
    argv: ["true", String(n)],
  } as unknown as RingfenceEvent);
  if (n % 500 === 0) exporter.commit();
}
exporter.commit();
console.log("committed");
await new Promise(() => {});
