/**
 * The job summary from a real run, compared with a golden file: `ringfence
 * run` in block mode over a script that connects to a listener the policy
 * does not allow, asks the resolver for a name it does not allow, runs a
 * denied program and writes a protected file. Each is refused or killed
 * for real (nothing reaches the listener or the resolver, the program
 * prints nothing, the file keeps its contents), and the markdown report,
 * with pids, times, digests, paths and counts that vary normalised, is
 * tests/golden/job_summary.md (regenerate with UPDATE_GOLDEN=1).
 */
import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  ROOT,
  runInDir,
} from "./helpers/kernel.ts";
import { DNS_SERVER, firstLine, TestNetns } from "./helpers/net_harness.ts";

const GOLDEN = new URL("./golden/job_summary.md", import.meta.url).pathname;
const LISTENER = new URL("./helpers/net_listener.py", import.meta.url)
  .pathname;

/** The report with what differs from run to run replaced by names. */
export function normalise(
  markdown: string,
  names: Record<string, string>,
): string {
  let text = markdown;
  for (const [value, name] of Object.entries(names)) {
    text = text.replaceAll(value, name);
  }
  return text
    .replace(/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z/g, "TIME")
    .replace(/sha256 `[0-9a-f]{16}`/g, "sha256 `DIGEST`")
    .replace(/sha256 [0-9a-f]{16}/g, "sha256 DIGEST")
    .replace(/ringfence \d+\.\d+\.\d+\S*/g, "ringfence VERSION")
    .replace(/\b\d+ events\b/g, "N events")
    .replace(
      /agent CPU \d+\.\d\d s \(\d+\.\d\d s to start\)/g,
      "agent CPU S s (S s to start)",
    )
    // pids: table cells, tree lines, "pid N"
    .replace(/^\| \d+ \|/gm, "| PID |")
    .replace(/^( *)\d+ (?!processes)/gm, "$1PID ")
    .replace(/pid \d+/g, "pid PID");
}

kernelTest(
  "job summary: a real block-mode run's report matches the golden one",
  async () => {
    const dir = await Deno.makeTempDir();
    const netns = await TestNetns.create();
    const queryLog = `${dir}/queries.log`;
    await Deno.writeTextFile(queryLog, "");
    const spawn = (args: string[]) =>
      new Deno.Command("ip", {
        args: netns.exec(args).slice(1),
        stdout: "piped",
        stderr: "null",
      }).spawn();
    // Out of scope, in the namespace: the resolver and the listener.
    const server = spawn(["python3", DNS_SERVER, "127.0.0.53", "53", queryLog]);
    const listener = spawn(["python3", LISTENER, "tcp:8081"]);
    // The listener's lines are read to the end: one per receipt.
    const heard = listener.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let said = "";
    const hear = async (until: (text: string) => boolean) => {
      while (!until(said)) {
        const { value, done } = await heard.read();
        if (done) break;
        said += value;
      }
    };
    try {
      assert.equal(await firstLine(server), "ready");
      await hear((text) => text.includes("\n"));
      assert.equal(said, "ready\n");
      await Deno.copyFile("/bin/echo", `${dir}/forbidden`);
      await Deno.chmod(`${dir}/forbidden`, 0o755);
      await Deno.writeTextFile(`${dir}/protected`, "original\n");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "mode: block",
          "network:",
          '  allow: ["*.allowed.test"]',
          "  dns:",
          '    resolvers: ["127.0.0.53"]',
          "  loopback: deny",
          "  action: kill",
          "process:",
          `  deny: ["${dir}/forbidden"]`,
          "files:",
          `  protect: ["${dir}/protected"]`,
          "  action: kill",
          "",
        ].join("\n"),
      );
      // `ip netns exec` puts this resolv.conf in place for getent.
      await Deno.mkdir(`/etc/netns/${netns.name}`, { recursive: true });
      await Deno.writeTextFile(
        `/etc/netns/${netns.name}/resolv.conf`,
        "nameserver 127.0.0.53\noptions attempts:1 timeout:2\n",
      );
      const inNetns = (command: string) =>
        `${netns.exec([]).join(" ")} ${command}`;
      const script = [
        inNetns("/bin/bash -c 'echo secret > /dev/tcp/127.0.0.1/8081'"),
        inNetns("getent hosts refused.example"),
        `${dir}/forbidden denied program ran`,
        `/bin/sh -c 'echo tampered >> ${dir}/protected'`,
        "echo done",
      ].join("\n");
      // In a file: the step's name (the command line) stays short.
      await Deno.writeTextFile(`${dir}/job.sh`, script + "\n");
      const result = await ringfence([
        ...runInDir(dir),
        "/bin/sh",
        `${dir}/job.sh`,
      ]);
      // Each was stopped: killed before it printed, or before it wrote.
      assert.equal(result.stdout, "done\n", result.stderr);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(await Deno.readTextFile(queryLog), "", "no query left");
      assert.equal(
        await Deno.readTextFile(`${dir}/protected`),
        "original\n",
        "the protected file kept its contents",
      );
      listener.kill("SIGKILL");
      await hear(() => false);
      assert.equal(said, "ready\n", "nothing reached the listener");
      assert.match(result.stderr, /, 4 killed, exit 0$/m);

      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      // In time order across the rings.
      const times = events.filter((event) => event.type !== "file_integrity")
        .map((event) => event.time);
      assert.deepEqual(times, [...times].sort(), "events in time order");
      // Ancestors stop at the run's root: never the agent.
      for (const event of events) {
        if (event.type !== "network_event") continue;
        assert.ok(
          !event.ancestors?.some((one) => one.pid === result.pid),
          JSON.stringify(event.ancestors),
        );
      }

      const raw = await Deno.readTextFile(`${dir}/report.md`);
      // The agent's CPU: its start (the kernel verifying the sensors in
      // its threads) and all of it, no less.
      const cpu = raw.match(
        /agent CPU (\d+\.\d\d) s \((\d+\.\d\d) s to start\)/,
      );
      assert.ok(cpu, "the agent's CPU in the facts line");
      assert.ok(Number(cpu[2]) > 0, cpu[0]);
      assert.ok(Number(cpu[1]) >= Number(cpu[2]), cpu[0]);
      const markdown = normalise(
        raw,
        { [dir]: "DIR", [netns.name]: "NETNS", [ROOT]: "ROOT/" },
      );
      if (Deno.env.get("UPDATE_GOLDEN") === "1") {
        await Deno.writeTextFile(GOLDEN, markdown);
      }
      assert.equal(markdown, await Deno.readTextFile(GOLDEN));
    } finally {
      for (const child of [server, listener]) {
        try {
          child.kill("SIGKILL");
        } catch { /* gone */ }
        await child.status;
      }
      await server.stdout.cancel().catch(() => {});
      await heard.cancel().catch(() => {});
      await netns.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
