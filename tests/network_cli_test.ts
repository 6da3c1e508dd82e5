/**
 * The network policy end to end through the CLI: block, audit and kill
 * modes from a policy file, and SIGHUP swapping the policy of a running
 * agent (a broken one is refused and the old one stays). Loopback only.
 */
import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  rootShell,
  startAgent,
} from "./helpers/kernel.ts";
import { PROBE } from "./helpers/net_harness.ts";

const PYTHON = "/usr/bin/python3";

/** Two loopback listeners owned by the test (outside any scope). */
function listeners(): { allowed: number; denied: number; close(): void } {
  const a = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const b = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  for (const listener of [a, b]) {
    (async () => {
      for await (const connection of listener) connection.close();
    })().catch(() => {});
  }
  return {
    allowed: (a.addr as Deno.NetAddr).port,
    denied: (b.addr as Deno.NetAddr).port,
    close() {
      a.close();
      b.close();
    },
  };
}

function policyText(mode: string, action: string, port: number): string {
  return [
    "version: 1",
    `mode: ${mode}`,
    "network:",
    "  loopback: deny",
    `  allow: ["127.0.0.1:${port}"]`,
    `  action: ${action}`,
    "",
  ].join("\n");
}

async function runProbe(policy: string, port: number) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/policy.yaml`, policy);
    const result = await ringfence([
      "run",
      "--policy",
      `${dir}/policy.yaml`,
      "--output",
      `${dir}/events.jsonl`,
      "--",
      PYTHON,
      PROBE,
      "tcp",
      "127.0.0.1",
      String(port),
    ]);
    const events = (await readJsonLines<NetworkEvent>(`${dir}/events.jsonl`))
      .filter((event) => event.type === "network_event");
    return { ...result, events };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

kernelTest(
  "block mode: an allowed port connects, another gets EPERM and is reported",
  async () => {
    const ports = listeners();
    try {
      const policy = policyText("block", "deny", ports.allowed);
      const allowed = await runProbe(policy, ports.allowed);
      assert.equal(allowed.code, 0, allowed.stderr);
      assert.equal(allowed.stdout.trim(), "ok");
      assert.equal(allowed.events.length, 1);
      assert.equal(allowed.events[0].verdict, "allow");
      assert.equal(allowed.events[0].reason, "allowed_by_rule");

      const denied = await runProbe(policy, ports.denied);
      assert.equal(denied.stdout.trim(), "errno 1", "EPERM");
      assert.match(denied.stderr, /, 1 blocked, exit 0$/m);
      const [event] = denied.events;
      assert.equal(event.kind, "connect");
      assert.equal(event.protocol, "tcp");
      assert.equal(event.daddr, "127.0.0.1");
      assert.equal(event.dport, ports.denied);
      assert.equal(event.verdict, "deny");
      assert.equal(event.exe, PYTHON);
      // The probe is the scope root: what is above it (ringfence and its
      // parents) is not the job's.
      assert.equal(event.ancestors, undefined, "no ancestors above the root");
    } finally {
      ports.close();
    }
  },
);

kernelTest(
  "audit mode lets the connection through and reports the would-be verdict",
  async () => {
    const ports = listeners();
    try {
      const result = await runProbe(
        policyText("audit", "deny", ports.allowed),
        ports.denied,
      );
      assert.equal(result.stdout.trim(), "ok");
      assert.equal(result.events[0].verdict, "audit");
      assert.match(result.stderr, /, 1 would be blocked, exit 0$/m);
    } finally {
      ports.close();
    }
  },
);

kernelTest(
  "action kill refuses the connection and kills the process",
  async () => {
    const ports = listeners();
    try {
      const result = await runProbe(
        policyText("block", "kill", ports.allowed),
        ports.denied,
      );
      assert.equal(result.code, 137, result.stderr);
      assert.equal(result.events[0].verdict, "deny");
      assert.equal(result.events[0].killed, true);
    } finally {
      ports.close();
    }
  },
);

kernelTest(
  "SIGHUP swaps the policy of a running agent; a broken one is refused",
  async () => {
    const ports = listeners();
    const dir = await Deno.makeTempDir();
    const shell = await rootShell(dir, "rfnetroot");
    const policy = `${dir}/policy.yaml`;
    const withScope = (text: string) =>
      text.replace("network:", "scope:\n  processes: [rfnetroot]\nnetwork:");
    await Deno.writeTextFile(
      policy,
      withScope(policyText("block", "deny", ports.allowed)),
    );
    const agent = await startAgent([
      "--policy",
      policy,
      "--output",
      "/dev/null",
    ]);
    const probe = async (port: number) => {
      const output = await new Deno.Command(shell, {
        args: ["-c", `${PYTHON} ${PROBE} tcp 127.0.0.1 ${port}`],
        stdout: "piped",
      }).output();
      return new TextDecoder().decode(output.stdout).trim();
    };
    try {
      assert.equal(await probe(ports.allowed), "ok");
      assert.equal(await probe(ports.denied), "errno 1");

      await Deno.writeTextFile(policy, "version: 1\nmode: blok\n");
      agent.kill("SIGHUP");
      await agent.waitFor("previous policy stays");
      assert.match(
        agent.stderr(),
        /policy\.yaml:2:7: "mode" must be one of audit, block \(got "blok"\); the previous policy stays in force/,
      );
      assert.equal(
        await probe(ports.denied),
        "errno 1",
        "old policy still in force",
      );
      assert.equal(await probe(ports.allowed), "ok");

      await Deno.writeTextFile(
        policy,
        withScope(policyText("block", "deny", ports.denied)),
      );
      agent.kill("SIGHUP");
      await agent.waitFor("policy reloaded");
      assert.equal(await probe(ports.denied), "ok");
      assert.equal(await probe(ports.allowed), "errno 1");
    } finally {
      assert.equal((await agent.stop()).code, 0);
      ports.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
