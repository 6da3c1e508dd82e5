/**
 * sensor.network judges every TCP and UDP packet where it leaves, by its
 * real destination: a DNAT rule in the OUTPUT chain (made here by the
 * unpoliced test, as by an actor before the job) gains a policed step
 * nothing. The attacker listens in a network namespace the test creates,
 * outside the scope; the tests assert that no byte reaches it.
 */
import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import { destroyTcpSocket } from "../sensors/sock_destroy.ts";
import { kernelTest, readJsonLines, ringfence } from "./helpers/kernel.ts";
import {
  DNS_SERVER,
  NetHarness,
  PROBE,
  TestNetns,
} from "./helpers/net_harness.ts";

const LISTENER = new URL("./helpers/net_listener.py", import.meta.url)
  .pathname;

/** The attacker's address inside the namespace. */
const ATTACKER = "127.0.0.66";

/** The allowed resolver, as the policy names it. */
const RESOLVER = {
  family: 4 as const,
  address: new Uint8Array([127, 0, 0, 53]),
  port: 53,
};

/** A listener out of scope, with what it printed so far. */
class Listener {
  readonly #child: Deno.ChildProcess;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #text = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  /** Starts net_listener.py in `netns` on `ports` and waits for "ready". */
  static start(
    h: NetHarness,
    netns: TestNetns,
    ports: string[],
  ): Promise<Listener> {
    return Listener.#ready(
      h.spawnOutside(netns.exec(["python3", LISTENER, ...ports])),
    );
  }

  /** Starts one with no sensors loaded, so that it outlives them. */
  static startAlone(netns: TestNetns, ports: string[]): Promise<Listener> {
    const command = netns.exec(["python3", LISTENER, ...ports]);
    return Listener.#ready(
      new Deno.Command(command[0], {
        args: command.slice(1),
        stdout: "piped",
        stderr: "null",
      }).spawn(),
    );
  }

  static async #ready(child: Deno.ChildProcess): Promise<Listener> {
    const listener = new Listener(child);
    while (!listener.#text.includes("ready\n")) {
      const { value, done } = await listener.#reader.read();
      if (done) throw new Error("the listener exited");
      listener.#text += value;
    }
    return listener;
  }

  /** Stops the listener: every line it printed after "ready". */
  async receipts(): Promise<string[]> {
    await new Promise((resolve) => setTimeout(resolve, 300));
    try {
      this.#child.kill("SIGKILL");
    } catch { /* already gone */ }
    await this.#child.status;
    for (;;) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#text += value;
    }
    return this.#text.split("\n").filter((line) => line && line !== "ready");
  }
}

/**
 * Runs `nft` commands inside the namespace (never on the host), out of
 * scope: the rule models one made before the job or by an unpoliced actor,
 * and a policed nft is killed (network.privileged).
 */
async function nft(
  h: NetHarness,
  netns: TestNetns,
  script: string,
): Promise<void> {
  const output = await h.spawnOutside(netns.exec(["nft", script])).output();
  if (!output.success) {
    throw new Error(`nft: ${new TextDecoder().decode(output.stderr)}`);
  }
}

async function withSensors(
  fn: (h: NetHarness, netns: TestNetns) => Promise<void>,
): Promise<void> {
  const h = await NetHarness.start({ mode: "block" });
  try {
    const netns = await TestNetns.create();
    try {
      await fn(h, netns);
    } finally {
      await netns.close();
    }
  } finally {
    await h.close();
  }
}

function refusals(events: NetworkEvent[]): NetworkEvent[] {
  return events.filter((event) => event.verdict === "deny");
}

kernelTest(
  "NAT: a DNAT rule to an attacker gains nothing, TCP, UDP and the resolver",
  async () => {
    await withSensors(async (h, netns) => {
      h.network.setPolicy({
        v4: [
          {
            prefixLength: 32,
            address: new Uint8Array([127, 1, 0, 5]),
            ports: [],
          },
          {
            prefixLength: 32,
            address: new Uint8Array([127, 1, 0, 7]),
            ports: [],
          },
        ],
        v6: [],
        resolvers: [RESOLVER],
        domains: [{ name: "allowed.test", wildcard: true }],
      });
      await nft(
        h,
        netns,
        "add table ip rf; " +
          "add chain ip rf out { type nat hook output priority -100; }; " +
          `add rule ip rf out ip daddr 127.1.0.5 dnat to ${ATTACKER}; ` +
          `add rule ip rf out ip daddr 127.0.0.53 dnat to ${ATTACKER}`,
      );
      const listener = await Listener.start(h, netns, [
        "tcp:443",
        "udp:443",
        "tcp:53",
        "udp:53",
      ]);
      const probe = (...args: string[]) =>
        h.run(netns.exec(["python3", PROBE, ...args]));

      // the control: an allowed address nobody rewrites is reached
      const control = await probe("tcpsend", "127.1.0.7", "443");
      assert.deepEqual(control.lines, ["ok"], control.stderr);

      const tcp = await probe("tcpsend", "127.1.0.5", "443");
      assert.notDeepEqual(tcp.lines, ["ok"], tcp.stderr);
      const udp = await probe("udp", "127.1.0.5", "443", "3");
      const dnsUdp = await probe(
        "dns",
        "127.0.0.53",
        "53",
        "n1.allowed.test",
        "443",
      );
      const dnsTcp = await probe(
        "dns",
        "127.0.0.53",
        "53",
        "n2.allowed.test",
        "443",
        "tcp",
      );
      assert.match(dnsUdp.lines[0] ?? "", /^query /, dnsUdp.stderr);
      assert.match(dnsTcp.lines[0] ?? "", /^query /, dnsTcp.stderr);

      const receipts = await listener.receipts();
      assert.deepEqual(
        receipts.filter((line) =>
          !line.includes(ATTACKER) &&
          !line.startsWith("udp")
        ),
        ["tcp 127.1.0.7:443 6"],
      );
      assert.deepEqual(
        receipts.filter((line) =>
          line.includes(ATTACKER) ||
          line.startsWith("udp")
        ),
        [],
        "bytes reached the attacker",
      );

      for (
        const [result, protocol, port] of [
          [tcp, "tcp", 443],
          [udp, "udp", 443],
          [dnsUdp, "udp", 53],
          [dnsTcp, "tcp", 53],
        ] as const
      ) {
        const denied = refusals(h.events(result.pid));
        assert.equal(denied.length, 1, JSON.stringify(h.events(result.pid)));
        assert.equal(denied[0].reason, "destination_changed");
        assert.equal(denied[0].daddr, ATTACKER);
        assert.equal(denied[0].dport, port);
        assert.equal(denied[0].protocol, protocol);
      }
    });
  },
);

/** Starts the test DNS server on 127.0.0.53:53 in `netns`, out of scope. */
async function startDns(h: NetHarness, netns: TestNetns): Promise<void> {
  // the namespace plays the host's, where the trusted resolvers answer
  h.network.configure({ resolverNetns: await netns.cookie() });
  const server = h.spawnOutside(
    netns.exec(["python3", DNS_SERVER, "127.0.0.53", "53"]),
  );
  assert.equal(await h.firstLine(server), "ready");
}

kernelTest(
  "UDP to an address a name admitted is refused unless the rule names UDP",
  async () => {
    await withSensors(async (h, netns) => {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [
          { name: "allowed.test", wildcard: true, port: 443 },
          { name: "quic.allowed.test", wildcard: false, port: 443, udp: true },
        ],
      });
      await startDns(h, netns);
      const listener = await Listener.start(h, netns, ["udp:443"]);
      const probe = (...args: string[]) =>
        h.run(netns.exec(["python3", PROBE, ...args]));

      // QUIC to a name allowed for TCP only
      const quic = await probe(
        "dnsudp",
        "127.0.0.53",
        "53",
        "n3.allowed.test",
        "443",
      );
      assert.deepEqual(
        quic.lines,
        ["address 127.1.0.3", "errno 1"],
        quic.stderr,
      );
      const allowed = await probe(
        "dnsudp",
        "127.0.0.53",
        "53",
        "quic.allowed.test",
        "443",
      );
      assert.deepEqual(
        allowed.lines,
        ["address 127.0.0.9", "ok"],
        allowed.stderr,
      );

      assert.deepEqual(await listener.receipts(), [
        "udp 443 1",
        "udp 443 1",
        "udp 443 1",
      ]);
      const denied = refusals(h.events(quic.pid));
      assert.equal(denied.length, 1, JSON.stringify(h.events(quic.pid)));
      assert.equal(denied[0].reason, "udp_not_allowed");
      assert.equal(denied[0].protocol, "udp");
      assert.equal(denied[0].daddr, "127.1.0.3");
      assert.deepEqual(refusals(h.events(allowed.pid)), []);
    });
  },
);

/** Bytes the listener got per local address:port. */
function bytesAt(receipts: string[]): Map<string, number> {
  const total = new Map<string, number>();
  for (const line of receipts) {
    const [transport, where, count] = line.split(" ");
    if (transport !== "tcp") continue;
    total.set(where, (total.get(where) ?? 0) + Number(count));
  }
  return total;
}

kernelTest(
  "server names: a flow to a DNS-admitted address carries data only once named",
  async () => {
    await withSensors(async (h, netns) => {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [{ name: "allowed.test", wildcard: true }],
      });
      await startDns(h, netns);
      const listener = await Listener.start(h, netns, ["tcp:443", "tcp:80"]);
      // [variant, server name, port, i (the address 127.1.0.i), refusal]
      const cases = [
        ["raw", "", 443, 1, "name_not_verified"],
        ["http-no-host", "", 80, 2, "name_not_verified"],
        ["http-keepalive", "", 80, 3, "sni_not_allowed"],
        ["http-absolute", "", 80, 4, "sni_not_allowed"],
        ["byte", "", 443, 5, "name_not_verified"],
        ["tls-byte", "", 443, 6, undefined],
        ["tls-padded", "evil.example", 443, 7, "sni_not_allowed"],
        ["http-chunked", "", 80, 8, "name_not_verified"],
        ["tls-padded", "", 443, 11, undefined],
        ["tls-split", "", 443, 12, undefined],
        ["http", "", 80, 13, undefined],
        ["tls", "", 443, 14, undefined],
      ] as const;
      const results = [];
      for (const [variant, serverName, port, i] of cases) {
        results.push(
          h.run(netns.exec([
            "python3",
            PROBE,
            "stream",
            "127.0.0.53",
            "53",
            `n${i}.allowed.test`,
            String(port),
            variant,
            serverName,
          ])),
        );
      }
      const done = await Promise.all(results);
      const received = bytesAt(await listener.receipts());
      // net_probe.py's hello is 100 bytes plus the name, plus 4 and the
      // padding when padded; its requests are written out here
      const hello = (name: string, padding = 0) =>
        100 + name.length + (padding ? 4 + padding : 0);
      const request = (name: string, body: string) =>
        `POST / HTTP/1.1\r\nHost: ${name}\r\nContent-Length: ${body.length}\r\n\r\n${body}`
          .length;
      assert.deepEqual(
        Object.fromEntries(received),
        {
          "127.1.0.3:80": request("n3.allowed.test", "first"),
          "127.1.0.11:443": hello("n11.allowed.test", 1100),
          "127.1.0.12:443": hello("n12.allowed.test", 300),
          "127.1.0.13:80": request("n13.allowed.test", "data"),
          "127.1.0.14:443": hello("n14.allowed.test"),
        },
      );
      cases.forEach(([variant, serverName, , , refusal], index) => {
        const result = done[index];
        assert.deepEqual(
          result.lines,
          ["sent"],
          `${variant}: ${result.stderr}`,
        );
        const denied = refusals(h.events(result.pid));
        if (refusal === undefined) {
          assert.deepEqual(denied, [], variant);
          return;
        }
        assert.equal(denied.length, 1, `${variant}: ${JSON.stringify(denied)}`);
        assert.equal(denied[0].reason, refusal, variant);
        assert.equal(denied[0].protocol, "tcp");
        if (refusal === "sni_not_allowed") {
          assert.equal(denied[0].query, serverName || "evil.example", variant);
        }
      });
    });
  },
);

kernelTest(
  "a refused flow, its socket destroyed, sends nothing after the sensors stop",
  async () => {
    const netns = await TestNetns.create();
    const listener = await Listener.startAlone(netns, ["tcp:443"]);
    const h = await NetHarness.start({ mode: "block" });
    let closed = false;
    try {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [{ name: "allowed.test", wildcard: true }],
      });
      await startDns(h, netns);
      // the step keeps its socket open well past the sensors' exit
      const command = netns.exec([
        "python3",
        PROBE,
        "stream",
        "127.0.0.53",
        "53",
        "n21.allowed.test",
        "443",
        "raw",
        "",
        "6",
      ]);
      // spawned in scope, not by h.run(), which reads the ring throughout
      const run = new Deno.Command(command[0], {
        args: command.slice(1),
        stdout: "piped",
        stderr: "piped",
      }).output();
      let refusal: NetworkEvent | undefined;
      for (let i = 0; i < 50 && !refusal; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
        refusal = refusals(h.events()).find((e) => e.daddr === "127.1.0.21");
      }
      assert.ok(refusal?.saddr && refusal.sport, JSON.stringify(refusal));
      assert.equal(refusal.reason, "name_not_verified");
      assert.equal(
        destroyTcpSocket(refusal.pid, {
          family: refusal.family,
          saddr: refusal.saddr,
          sport: refusal.sport,
          daddr: refusal.daddr,
          dport: refusal.dport!,
        }),
        0,
      );
      closed = true;
      await h.close();
      await run;
      assert.deepEqual(await listener.receipts(), []);
    } finally {
      if (!closed) await h.close();
      await listener.receipts();
      await netns.close();
    }
  },
);

kernelTest(
  "ringfence run: a refused flow delivers nothing after the agent exits",
  async () => {
    const netns = await TestNetns.create();
    const listener = await Listener.startAlone(netns, ["tcp:443"]);
    const dnsCommand = netns.exec([
      "python3",
      DNS_SERVER,
      "127.0.0.53",
      "53",
    ]);
    const dns = new Deno.Command(dnsCommand[0], {
      args: dnsCommand.slice(1),
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const dir = await Deno.makeTempDir();
    try {
      const reader = dns.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      assert.equal((await reader.read()).value?.trim(), "ready");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "mode: block",
          "network:",
          "  loopback: deny",
          '  allow: ["*.allowed.test"]',
          "  dns:",
          '    resolvers: ["127.0.0.53"]',
          "",
        ].join("\n"),
      );
      // the step closes its socket with the held bytes unsent: TCP goes on
      // retransmitting them after the step and the agent are gone. The
      // agent runs in the namespace, whose resolver it then trusts
      // (nsenter, not ip netns exec, which remounts /sys and with it the
      // cgroup2 mount the agent attaches to).
      const result = await ringfence([
        "run",
        "--policy",
        `${dir}/policy.yaml`,
        "--output",
        `${dir}/events.jsonl`,
        "--",
        ...netns.exec([
          "python3",
          PROBE,
          "stream",
          "127.0.0.53",
          "53",
          "n31.allowed.test",
          "443",
          "raw",
          "",
          "0.5",
        ]),
      ], { wrap: ["nsenter", `--net=/run/netns/${netns.name}`] });
      assert.equal(result.code, 0, result.stderr);
      await new Promise((resolve) => setTimeout(resolve, 4000));
      assert.deepEqual(await listener.receipts(), []);
      const refused = (await readJsonLines<NetworkEvent>(
        `${dir}/events.jsonl`,
      )).filter((event) =>
        event.type === "network_event" && event.verdict === "deny"
      );
      assert.deepEqual(
        refused.map((event) => [event.daddr, event.reason]),
        [["127.1.0.31", "name_not_verified"]],
      );
    } finally {
      dns.kill("SIGKILL");
      await dns.status;
      await listener.receipts();
      await netns.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "audit mode: an unnamed flow is reported and delivered, nothing held",
  async () => {
    const h = await NetHarness.start({ mode: "audit" });
    const netns = await TestNetns.create();
    try {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [{ name: "allowed.test", wildcard: true }],
      });
      await startDns(h, netns);
      const listener = await Listener.start(h, netns, ["tcp:443"]);
      const result = await h.run(netns.exec([
        "python3",
        PROBE,
        "stream",
        "127.0.0.53",
        "53",
        "n41.allowed.test",
        "443",
        "tls-split",
        "evil.example",
        "0.5",
      ]));
      assert.deepEqual(result.lines, ["sent"], result.stderr);
      assert.deepEqual(Object.fromEntries(bytesAt(await listener.receipts())), {
        "127.1.0.41:443": 100 + "evil.example".length + 4 + 300,
      });
      const audits = h.events(result.pid).filter((e) => e.verdict === "audit");
      assert.deepEqual(
        audits.map((e) => [e.reason, e.query]),
        [["sni_not_allowed", "evil.example"]],
      );
    } finally {
      await netns.close();
      await h.close();
    }
  },
);
