/**
 * `network.privileged` end to end through `ringfence run`: a step that
 * writes an AF_PACKET frame is killed and the report lists it as blocked;
 * a policy that allows raw sockets lets a raw UDP datagram through. The
 * step runs in a namespace the test makes, the sniffer in another.
 */
import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  runInDir,
} from "./helpers/kernel.ts";
import { PROBE } from "./helpers/net_harness.ts";
import { A, B, Lines, marker, NetPair } from "./helpers/net_pair.ts";

const PORT = "9999";

/**
 * `ringfence run` of the probe `args` (then the marker) in a under
 * `policy`, with a sniffer in b: its output, events, report and whether
 * the marker arrived.
 */
async function runAttack(pair: NetPair, policy: string, args: string[]) {
  const dir = await Deno.makeTempDir();
  const mark = marker(args[0]);
  const sniffer = new Deno.Command(pair.sniffer(mark, 8)[0], {
    args: pair.sniffer(mark, 8).slice(1),
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = new Lines(sniffer);
  try {
    assert.equal(await lines.next(), "ready");
    await Deno.writeTextFile(`${dir}/policy.yaml`, policy);
    const result = await ringfence([
      ...runInDir(dir),
      ...pair.a.exec(["python3", PROBE, ...args, mark]),
    ]);
    // a frame on its way is read within this, or never
    await new Promise((resolve) => setTimeout(resolve, 500));
    try {
      sniffer.kill("SIGTERM");
    } catch { /* done */ }
    const seen = await lines.next();
    const events = (await readJsonLines<NetworkEvent>(`${dir}/events.jsonl`))
      .filter((event) => event.type === "network_event");
    const report = await Deno.readTextFile(`${dir}/report.md`);
    return { ...result, events, report, arrived: seen === "got" };
  } finally {
    lines.release();
    await sniffer.status;
    await sniffer.stdout.cancel().catch(() => {});
    await Deno.remove(dir, { recursive: true });
  }
}

async function withPair(fn: (pair: NetPair) => Promise<void>): Promise<void> {
  const pair = await NetPair.create();
  try {
    await fn(pair);
  } finally {
    await pair.close();
  }
}

kernelTest(
  "ringfence run: an AF_PACKET frame kills the step and is reported blocked",
  async () => {
    await withPair(async (pair) => {
      const run = await runAttack(
        pair,
        "version: 1\nmode: block\n",
        ["packet", "rfa0", A, B, PORT],
      );
      assert.equal(run.arrived, false, "a frame arrived");
      assert.equal(run.code, 128 + 9, run.stderr);
      assert.match(run.stderr, /, 1 blocked, 1 killed, exit 137$/m);
      const [event] = run.events.filter((event) => event.kind === "socket");
      assert.equal(event?.reason, "packet_socket", JSON.stringify(run.events));
      assert.equal(event.verdict, "deny");
      assert.equal(event.killed, true);
      assert.match(run.report, /### Privileged network primitives/);
      assert.match(run.report, /⛔ blocked \(killed\) \| packet socket \|/);
      assert.match(run.report, /### Processes killed/);
    });
  },
);

kernelTest(
  "ringfence run: network.privileged.raw allow lets a raw socket send",
  async () => {
    await withPair(async (pair) => {
      const run = await runAttack(
        pair,
        `version: 1\nmode: block\nnetwork:\n  allow: [${B}]\n` +
          "  privileged:\n    raw: allow\n",
        ["rawudp", A, B, PORT],
      );
      assert.equal(run.stdout.trim(), "ok", run.stderr);
      assert.equal(run.arrived, true, "the datagram never arrived");
      const sockets = run.events.filter((event) => event.kind === "socket");
      assert.equal(sockets.length, 1, JSON.stringify(run.events));
      assert.equal(sockets[0].verdict, "allow");
      assert.equal(sockets[0].reason, "raw_socket");
      assert.doesNotMatch(run.stderr, /blocked/);
    });
  },
);
