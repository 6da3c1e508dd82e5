/**
 * sensor.network on the real kernel: scope roots are policed. A runner
 * root (SCOPE_RUNNER) may reach scope.runner.allow besides the rest of
 * the policy, by range or by name; another root (the container runtime)
 * and every step are held to network.allow; no root is killed.
 *
 * The roots are fake_root.py processes spawned outside the scope and
 * given their flags by hand, in a network namespace of the test's own
 * where the test DNS server answers.
 */
import assert from "node:assert/strict";
import type { NetworkEvent, NetworkSettings } from "../sensors/network.ts";
import { ScopeFlag } from "../sensors/process.ts";
import { FAKE_ROOT, FakeRoot } from "./helpers/fake_root.ts";
import { kernelTest } from "./helpers/kernel.ts";
import { RESOLVER, withDns } from "./helpers/net_dns.ts";
import { NetHarness, type TestNetns } from "./helpers/net_harness.ts";

const EPERM = "errno 1";
/** No listener there: a connect that the sensor lets through is refused. */
const ECONNREFUSED = "errno 111";
/** Only scope.runner.allow lists it. */
const RUNNER_HOST = "127.0.0.2";
/** No list has it. */
const OTHER_HOST = "127.0.0.3";
const PORT = "9443";

/** A runner root, a policed root: the flags a fake root is given. */
const RUNNER = ScopeFlag.monitored | ScopeFlag.exempt | ScopeFlag.runner;
const POLICED = ScopeFlag.monitored | ScopeFlag.exempt;

/**
 * Sensors in `settings`, a policy whose only runner entries are
 * RUNNER_HOST:PORT and the name runner.example:PORT, the test resolver,
 * and a fake root with `flags` in the namespace.
 */
async function withRoot(
  settings: NetworkSettings,
  flags: number,
  fn: (h: NetHarness, root: FakeRoot, netns: TestNetns) => Promise<void>,
): Promise<void> {
  const h = await NetHarness.start(settings);
  try {
    h.network.setPolicy({
      v4: [],
      v6: [],
      resolvers: [RESOLVER],
      domains: [],
      runner: {
        v4: [{
          prefixLength: 32,
          address: new Uint8Array([127, 0, 0, 2]),
          ports: [Number(PORT)],
        }],
        v6: [],
        domains: [{ name: "runner.example", wildcard: false, port: 9443 }],
      },
    });
    await withDns(h, async (netns) => {
      const root = new FakeRoot(
        h.spawnOutside(netns.exec(["python3", FAKE_ROOT]), "piped"),
      );
      try {
        await root.ready();
        h.process.setScope(root.pid, { flags, rootPid: root.pid });
        await fn(h, root, netns);
      } finally {
        await root.close();
      }
    });
  } finally {
    await h.close();
  }
}

function connects(events: NetworkEvent[], daddr: string): NetworkEvent[] {
  return events.filter((event) =>
    event.kind === "connect" && event.daddr === daddr
  );
}

function one(events: NetworkEvent[], what: string): NetworkEvent {
  assert.equal(
    events.length,
    1,
    `expected one ${what}, got ${JSON.stringify(events, null, 1)}`,
  );
  return events[0];
}

kernelTest(
  "a runner root reaches its own range (exempt_root) and nothing else",
  async () => {
    await withRoot(
      { mode: "block", action: "kill" },
      RUNNER,
      async (h, root) => {
        assert.deepEqual(await root.run("self", "tcp", RUNNER_HOST, PORT), [
          ECONNREFUSED,
        ]);
        assert.deepEqual(await root.run("self", "tcp", OTHER_HOST, PORT), [
          EPERM,
        ]);
        // Another port of the runner's host is outside its list too.
        assert.deepEqual(await root.run("self", "tcp", RUNNER_HOST, "9444"), [
          EPERM,
        ]);
        const events = h.events(root.pid);
        const [allowed, otherPort] = connects(events, RUNNER_HOST);
        assert.equal(allowed.verdict, "allow");
        assert.equal(allowed.reason, "exempt_root");
        assert.equal(otherPort.verdict, "deny");
        assert.equal(otherPort.reason, "exempt_root_outside_list");
        const refused = one(connects(events, OTHER_HOST), "connect");
        assert.equal(refused.verdict, "deny");
        assert.equal(refused.reason, "exempt_root_outside_list");
        // Refused, not killed: network.action kill spares scope roots.
        assert.equal(refused.killed, undefined);
      },
    );
  },
);

kernelTest(
  "a runner root's step may not reach the runner's range",
  async () => {
    await withRoot({ mode: "block" }, RUNNER, async (h, root) => {
      const lines = await root.run("child", "tcp", RUNNER_HOST, PORT);
      assert.equal(lines[1], EPERM, lines.join("\n"));
      const step = Number(lines[0].split(" ")[1]);
      const event = one(connects(h.events(step), RUNNER_HOST), "connect");
      assert.equal(event.verdict, "deny");
      assert.equal(event.reason, "not_in_allow_list");
    });
  },
);

kernelTest(
  "a policed root (the container runtime) is refused like a step, not killed",
  async () => {
    await withRoot(
      { mode: "block", action: "kill" },
      POLICED,
      async (h, root) => {
        assert.deepEqual(await root.run("self", "tcp", RUNNER_HOST, PORT), [
          EPERM,
        ]);
        assert.deepEqual(await root.run("self", "tcp", OTHER_HOST, PORT), [
          EPERM,
        ]);
        const events = h.events(root.pid);
        for (const host of [RUNNER_HOST, OTHER_HOST]) {
          const event = one(connects(events, host), "connect");
          assert.equal(event.verdict, "deny");
          assert.equal(event.reason, "not_in_allow_list");
          assert.equal(event.killed, undefined);
        }
      },
    );
  },
);

kernelTest(
  "audit mode: a runner root outside its lists is reported, not stopped",
  async () => {
    await withRoot({ mode: "audit" }, RUNNER, async (h, root) => {
      assert.deepEqual(await root.run("self", "tcp", OTHER_HOST, PORT), [
        ECONNREFUSED,
      ]);
      const event = one(connects(h.events(root.pid), OTHER_HOST), "connect");
      assert.equal(event.verdict, "audit");
      assert.equal(event.reason, "exempt_root_outside_list");
    });
  },
);

kernelTest(
  "a runner's name: the runner may ask and reach it, its steps may not",
  async () => {
    await withRoot({ mode: "block" }, RUNNER, async (h, root) => {
      // The test server answers 127.0.0.9 for runner.example.
      const own = await root.run(
        "self",
        "dns",
        "127.0.0.53",
        "53",
        "runner.example",
        PORT,
      );
      assert.deepEqual(own, ["address 127.0.0.9", ECONNREFUSED]);
      const query = h.events(root.pid).find((event) => event.kind === "dns");
      assert.equal(query?.verdict, "allow");
      assert.equal(
        one(connects(h.events(root.pid), "127.0.0.9"), "connect").reason,
        "exempt_root",
      );
      // The address the runner's answer admitted is the runner's alone.
      const direct = await root.run("child", "tcp", "127.0.0.9", PORT);
      assert.equal(direct[1], EPERM, direct.join("\n"));
      // And a step may not even ask for the name.
      const asked = await root.run(
        "child",
        "dns",
        "127.0.0.53",
        "53",
        "runner.example",
        PORT,
      );
      const step = Number(asked[0].split(" ")[1]);
      assert.ok(
        !asked.some((line) => line.startsWith("address")),
        asked.join("\n"),
      );
      const refused = h.events(step).find((event) => event.kind === "dns");
      assert.equal(refused?.verdict, "deny");
      assert.equal(refused?.reason, "dns_query_not_allowed");
    });
  },
);

/**
 * A child of a fake root with `flags` calls bpf() (BPF_LINK_GET_NEXT_ID)
 * under runner.bpf in block mode; returns how it ended ("exit N" or
 * "signal N") and the guard events of it.
 */
async function bpfUnderRoot(flags: number): Promise<string> {
  const h = await NetHarness.start({ mode: "block" });
  const dir = await Deno.makeTempDir();
  try {
    h.process.setGuard({ memory: "kill", bpf: "kill", signal: "report" });
    const root = new FakeRoot(h.spawnOutside(["python3", FAKE_ROOT], "piped"));
    try {
      await root.ready();
      h.process.setScope(root.pid, { flags, rootPid: root.pid });
      const attack = new URL("./helpers/guard_attack.py", import.meta.url)
        .pathname;
      // One word per argument: the fake root splits its commands on spaces.
      await Deno.writeTextFile(
        `${dir}/attack.sh`,
        `python3 ${attack} bpf 0 0 0; echo $? > ${dir}/status\n`,
      );
      await root.run("spawn", "/bin/sh", `${dir}/attack.sh`);
      for (let i = 0; i < 100; i++) {
        try {
          return (await Deno.readTextFile(`${dir}/status`)).trim();
        } catch {
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
      }
      throw new Error("the bpf() caller never ended");
    } finally {
      await root.close();
    }
  } finally {
    await h.close();
    await Deno.remove(dir, { recursive: true });
  }
}

kernelTest(
  "runner.bpf spares the container runtime's children (runc), not the runner's",
  async () => {
    // sh reports 128 + 9 for a child killed by SIGKILL
    assert.equal(await bpfUnderRoot(POLICED), "0");
    assert.equal(await bpfUnderRoot(RUNNER), "137");
  },
);
