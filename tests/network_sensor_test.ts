/**
 * sensor.network on the real kernel: connect/sendmsg enforcement, egress
 * for raw sockets, listen/bind reports and DNS-admitted addresses.
 *
 * Every packet goes to loopback or into a network namespace the test
 * creates; "forbidden" destinations are loopback addresses with the
 * sensor's implicit loopback allowance turned off.
 */
import assert from "node:assert/strict";
import type { AllowPrefix, NetworkEvent } from "../sensors/network.ts";
import { ScopeFlag } from "../sensors/process.ts";
import { kernelTest } from "./helpers/kernel.ts";
import { RESOLVER, withDns } from "./helpers/net_dns.ts";
import { NetHarness, PROBE } from "./helpers/net_harness.ts";

const EPERM = "errno 1";

/** An allow-trie entry for `address/prefix` with `ports` (none: any). */
function rule(
  address: number[],
  prefixLength: number,
  ports: number[] = [],
): AllowPrefix {
  return { prefixLength, address: new Uint8Array(address), ports };
}

const LOOPBACK_V6 = [...Array(15).fill(0), 1];

function only(events: NetworkEvent[], kind: string): NetworkEvent {
  const matching = events.filter((event) => event.kind === kind);
  assert.equal(
    matching.length,
    1,
    `expected one ${kind} event, got ${JSON.stringify(events, null, 1)}`,
  );
  return matching[0];
}

/** Runs `fn` with both sensors attached; always cleans up. */
async function withSensors(
  settings: Parameters<typeof NetHarness.start>[0],
  fn: (harness: NetHarness) => Promise<void>,
): Promise<void> {
  const harness = await NetHarness.start(settings);
  try {
    await fn(harness);
  } finally {
    await harness.close();
  }
}

/** A TCP listener on a loopback address, owned by this (unmonitored) test. */
function listen(hostname: string): Deno.TcpListener {
  return Deno.listen({ hostname, port: 0, transport: "tcp" });
}

kernelTest(
  "block mode: TCP connect allowed by rule, denied (EPERM) without",
  async () => {
    using allowed = listen("127.0.0.1");
    using forbidden = listen("127.0.0.2");
    await withSensors({ mode: "block" }, async (h) => {
      h.network.setPolicy({ v4: [rule([127, 0, 0, 1], 32)], v6: [] });
      const ok = await h.probe("tcp", "127.0.0.1", String(allowed.addr.port));
      assert.deepEqual(ok.lines, ["ok"], ok.stderr);
      const denied = await h.probe(
        "tcp",
        "127.0.0.2",
        String(forbidden.addr.port),
      );
      assert.deepEqual(denied.lines, [EPERM], denied.stderr);

      const allow = only(h.events(ok.pid), "connect");
      assert.equal(allow.type, "network_event");
      assert.equal(allow.protocol, "tcp");
      assert.equal(allow.family, 4);
      assert.equal(allow.daddr, "127.0.0.1");
      assert.equal(allow.dport, allowed.addr.port);
      assert.equal(allow.verdict, "allow");
      assert.equal(allow.reason, "allowed_by_rule");
      assert.equal(allow.comm, "python3");
      const deny = only(h.events(denied.pid), "connect");
      assert.equal(deny.daddr, "127.0.0.2");
      assert.equal(deny.verdict, "deny");
      assert.equal(deny.reason, "not_in_allow_list");
      assert.equal(deny.killed, undefined);
    });
  },
);

kernelTest(
  "block mode with action kill: the offender dies of SIGKILL",
  async () => {
    using forbidden = listen("127.0.0.2");
    await withSensors({ mode: "block", action: "kill" }, async (h) => {
      const result = await h.probe(
        "tcp",
        "127.0.0.2",
        String(forbidden.addr.port),
      );
      assert.equal(result.signal, "SIGKILL", JSON.stringify(result));
      assert.deepEqual(result.lines, []);
      const event = only(h.events(result.pid), "connect");
      assert.equal(event.verdict, "deny");
      assert.equal(event.killed, true);
    });
  },
);

kernelTest(
  "audit mode lets the connect through and reports verdict audit",
  async () => {
    using forbidden = listen("127.0.0.2");
    await withSensors({ mode: "audit" }, async (h) => {
      const result = await h.probe(
        "tcp",
        "127.0.0.2",
        String(forbidden.addr.port),
      );
      assert.deepEqual(result.lines, ["ok"], result.stderr);
      const event = only(h.events(result.pid), "connect");
      assert.equal(event.verdict, "audit");
      assert.equal(event.reason, "not_in_allow_list");
    });
  },
);

kernelTest("loopback is allowed by the config flag alone", async () => {
  using server = listen("127.0.0.2");
  await withSensors({ mode: "block", allowLoopback: true }, async (h) => {
    const result = await h.probe("tcp", "127.0.0.2", String(server.addr.port));
    assert.deepEqual(result.lines, ["ok"], result.stderr);
    assert.equal(only(h.events(result.pid), "connect").reason, "loopback");
  });
});

kernelTest(
  "UDP sendto allowed and denied; repeated sends reported once",
  async () => {
    await withSensors({ mode: "block" }, async (h) => {
      h.network.setPolicy({ v4: [rule([127, 0, 0, 1], 32, [9999])], v6: [] });
      const ok = await h.probe("udp", "127.0.0.1", "9999", "50");
      assert.deepEqual(ok.lines, ["ok"], ok.stderr);
      const denied = await h.probe("udp", "127.0.0.1", "9998");
      assert.deepEqual(denied.lines, [EPERM], denied.stderr);

      const send = only(h.events(ok.pid), "send");
      assert.equal(send.protocol, "udp");
      assert.equal(send.dport, 9999);
      assert.equal(send.verdict, "allow");
      const deny = only(h.events(denied.pid), "send");
      assert.equal(deny.verdict, "deny");
      assert.equal(deny.reason, "port_not_allowed");
    });
  },
);

kernelTest("connected UDP is judged at connect", async () => {
  await withSensors({ mode: "block" }, async (h) => {
    h.network.setPolicy({ v4: [rule([127, 0, 0, 1], 32, [9999])], v6: [] });
    const ok = await h.probe("udpconn", "127.0.0.1", "9999");
    assert.deepEqual(ok.lines, ["ok"], ok.stderr);
    const denied = await h.probe("udpconn", "127.0.0.3", "9999");
    assert.deepEqual(denied.lines, [EPERM], denied.stderr);
    const event = only(h.events(denied.pid), "connect");
    assert.equal(event.protocol, "udp");
    assert.equal(event.verdict, "deny");
  });
});

kernelTest(
  "IPv6 ::1 by rule, and v4-mapped destinations match IPv4 rules",
  async () => {
    using v6 = listen("::1");
    using v4 = listen("127.0.0.2");
    await withSensors({ mode: "block" }, async (h) => {
      const denied = await h.probe("tcp", "::1", String(v6.addr.port));
      assert.deepEqual(denied.lines, [EPERM], denied.stderr);
      const deny = only(h.events(denied.pid), "connect");
      assert.equal(deny.family, 6);
      assert.equal(deny.daddr, "::1");

      h.network.setPolicy({
        v4: [rule([127, 0, 0, 2], 32, [v4.addr.port])],
        v6: [rule(LOOPBACK_V6, 128, [v6.addr.port])],
      });
      const ok = await h.probe("tcp", "::1", String(v6.addr.port));
      assert.deepEqual(ok.lines, ["ok"], ok.stderr);
      assert.equal(only(h.events(ok.pid), "connect").reason, "allowed_by_rule");

      const mapped = await h.probe(
        "tcp",
        "::ffff:127.0.0.2",
        String(v4.addr.port),
      );
      assert.deepEqual(mapped.lines, ["ok"], mapped.stderr);
      const event = only(h.events(mapped.pid), "connect");
      assert.equal(event.family, 4);
      assert.equal(event.daddr, "127.0.0.2");
      assert.equal(event.verdict, "allow");

      const mappedDenied = await h.probe("udp", "::ffff:127.0.0.3", "9999");
      assert.deepEqual(mappedDenied.lines, [EPERM], mappedDenied.stderr);
      const send = only(h.events(mappedDenied.pid), "send");
      assert.equal(send.family, 4);
      assert.equal(send.daddr, "127.0.0.3");
    });
  },
);

kernelTest(
  "a CIDR rule with a port passes its port and fails another",
  async () => {
    using server = listen("127.0.0.3");
    using other = listen("127.0.0.3");
    await withSensors({ mode: "block" }, async (h) => {
      h.network.setPolicy({
        v4: [rule([127, 0, 0, 0], 24, [server.addr.port])],
        v6: [],
      });
      const ok = await h.probe("tcp", "127.0.0.3", String(server.addr.port));
      assert.deepEqual(ok.lines, ["ok"], ok.stderr);
      const denied = await h.probe("tcp", "127.0.0.3", String(other.addr.port));
      assert.deepEqual(denied.lines, [EPERM], denied.stderr);
      assert.equal(
        only(h.events(denied.pid), "connect").reason,
        "port_not_allowed",
      );
      // outside the /24
      const outside = await h.probe(
        "tcp",
        "127.0.1.3",
        String(server.addr.port),
      );
      assert.deepEqual(outside.lines, [EPERM], outside.stderr);
    });
  },
);

kernelTest(
  "a policy swap takes effect at once and flips the generation",
  async () => {
    using server = listen("127.0.0.2");
    await withSensors({ mode: "block" }, async (h) => {
      const port = String(server.addr.port);
      const before = h.network.generation;
      h.network.setPolicy({ v4: [rule([127, 0, 0, 2], 32)], v6: [] });
      assert.notEqual(h.network.generation, before);
      assert.deepEqual((await h.probe("tcp", "127.0.0.2", port)).lines, ["ok"]);
      h.network.setPolicy({ v4: [], v6: [] });
      assert.deepEqual((await h.probe("tcp", "127.0.0.2", port)).lines, [
        EPERM,
      ]);
      h.network.setPolicy({ v4: [rule([127, 0, 0, 0], 8)], v6: [] });
      assert.deepEqual((await h.probe("tcp", "127.0.0.2", port)).lines, ["ok"]);
    });
  },
);

kernelTest(
  "a process not in scope is neither blocked nor reported",
  async () => {
    using server = listen("127.0.0.2");
    await withSensors({ mode: "block", action: "kill" }, async (h) => {
      const child = h.spawnOutside([
        "python3",
        PROBE,
        "tcp",
        "127.0.0.2",
        String(server.addr.port),
      ]);
      const output = await child.output();
      assert.equal(new TextDecoder().decode(output.stdout).trim(), "ok");
      assert.equal(output.signal, null);
      assert.deepEqual(h.events(child.pid), []);
    });
  },
);

kernelTest(
  "a scope root's connect is judged, and refused without a kill",
  async () => {
    using server = listen("127.0.0.2");
    await withSensors({ mode: "block", action: "kill" }, async (h) => {
      const child = h.spawnOutside([
        "python3",
        PROBE,
        "wait",
        "tcp",
        "127.0.0.2",
        String(server.addr.port),
      ], "piped");
      assert.equal(await h.firstLine(child), "ready");
      h.process.setScope(child.pid, {
        flags: ScopeFlag.monitored | ScopeFlag.exempt,
        rootPid: child.pid,
      });
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode("go\n"));
      await writer.close();
      const status = await child.status;
      assert.equal(status.signal, null);
      assert.equal(status.code, 0);
      const event = only(h.events(child.pid), "connect");
      assert.equal(event.verdict, "deny");
      assert.equal(event.reason, "not_in_allow_list");
      assert.equal(event.killed, undefined);
    });
  },
);

kernelTest(
  "TCP fast open (sendto MSG_FASTOPEN) is judged like connect",
  async () => {
    using server = listen("127.0.0.2");
    await withSensors({ mode: "block" }, async (h) => {
      const result = await h.probe(
        "tfo",
        "127.0.0.2",
        String(server.addr.port),
      );
      assert.deepEqual(result.lines, [EPERM], result.stderr);
      assert.equal(only(h.events(result.pid), "connect").verdict, "deny");
    });
  },
);

kernelTest(
  "raw ICMP is held at egress: dropped when denied, passed when allowed",
  async () => {
    // raw sockets themselves are refused unless the policy allows them
    const rawAllowed = { mode: "block", allowPrivileged: ["raw"] } as const;
    await withSensors(rawAllowed, async (h) => {
      const denied = await h.probe("icmp", "127.0.0.2");
      assert.ok(
        denied.lines[0] === EPERM || denied.lines[0] === "noreply",
        JSON.stringify(denied),
      );
      const event = only(h.events(denied.pid), "send");
      assert.equal(event.protocol, "icmp");
      assert.equal(event.daddr, "127.0.0.2");
      assert.equal(event.verdict, "deny");

      h.network.setPolicy({ v4: [rule([127, 0, 0, 2], 32)], v6: [] });
      const ok = await h.probe("icmp", "127.0.0.2");
      assert.deepEqual(ok.lines, ["ok"], ok.stderr);
      assert.equal(only(h.events(ok.pid), "send").verdict, "allow");
    });
  },
);

kernelTest(
  "listen and bind of a monitored process are reported, IPv4 and IPv6",
  async () => {
    await withSensors({ mode: "block" }, async (h) => {
      for (const host of ["127.0.0.1", "::1"]) {
        const result = await h.probe("listen", host);
        assert.deepEqual(result.lines, ["ok"], result.stderr);
        const events = h.events(result.pid);
        const bind = only(events, "bind");
        assert.equal(bind.saddr, host);
        assert.equal(bind.verdict, "allow");
        assert.equal(bind.reason, "not_enforced");
        const listenEvent = only(events, "listen");
        assert.equal(listenEvent.protocol, "tcp");
        assert.equal(listenEvent.saddr, host);
        assert.ok(listenEvent.sport! > 0);
        // The listen is on the port the bind was given (0: the kernel's pick).
        assert.notEqual(listenEvent.sport, bind.sport);
      }
    });
  },
);

kernelTest(
  "DNS: an allowed name admits its answer's address before connect",
  async () => {
    // queries for any name leave, so that the answers for names outside
    // the allow-list can be seen to admit nothing
    await withSensors({ mode: "block", dnsQueries: "any" }, async (h) => {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [{ name: "allowed.test", wildcard: true, port: 8080 }],
      });
      await withDns(h, async (netns) => {
        const ok = await h.run(netns.exec([
          "python3",
          PROBE,
          "dns",
          "127.0.0.53",
          "53",
          "n5.allowed.test",
          "8080",
        ]));
        // nothing listens in the namespace: refused (111) means it got through
        assert.deepEqual(
          ok.lines,
          ["address 127.1.0.5", "errno 111"],
          ok.stderr,
        );
        const events = h.events(ok.pid);
        const dns = only(events, "dns");
        assert.equal(dns.query, "n5.allowed.test");
        assert.equal(dns.qtype, "A");
        assert.equal(dns.daddr, "127.0.0.53");
        assert.equal(dns.dport, 53);
        assert.equal(dns.reason, "resolver");
        assert.equal(only(events, "send").reason, "resolver");
        assert.equal(only(events, "connect").reason, "allowed_by_dns");

        const admitted = h.network.dnsAdmitted();
        const entry = admitted.find((a) => a.address === "127.1.0.5");
        assert.deepEqual(entry?.ports, [8080]);

        // another port of the admitted address is refused
        const otherPort = await h.run(netns.exec([
          "python3",
          PROBE,
          "dns",
          "127.0.0.53",
          "53",
          "n5.allowed.test",
          "8081",
        ]));
        assert.deepEqual(otherPort.lines, ["address 127.1.0.5", EPERM]);

        // a name outside the allow-list admits nothing
        const evil = await h.run(netns.exec([
          "python3",
          PROBE,
          "dns",
          "127.0.0.53",
          "53",
          "n6.evil.test",
          "8080",
        ]));
        assert.deepEqual(evil.lines, ["address 127.1.0.6", EPERM], evil.stderr);
        // the wildcard does not cover the name itself
        const bare = await h.run(netns.exec([
          "python3",
          PROBE,
          "dns",
          "127.0.0.53",
          "53",
          "allowed.test",
          "8080",
        ]));
        assert.deepEqual(bare.lines, ["address 127.0.0.9", EPERM], bare.stderr);
      });
    });
  },
);

kernelTest(
  "DNS: two allowed names of one address admit the ports of both",
  async () => {
    await withSensors({ mode: "block" }, async (h) => {
      // The test server answers n<i>.<any suffix> with 127.1.0.<i>.
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [
          { name: "allowed.test", wildcard: true, port: 8080 },
          { name: "other.test", wildcard: true, port: 9090 },
          // rules on one name merge: eight ports, as many as an entry holds
          ...[1, 2, 3, 4, 5, 6, 7, 8].map((port) => ({
            name: "many.test",
            wildcard: true,
            port,
          })),
        ],
      });
      await withDns(h, async (netns) => {
        const connect = (name: string, port: string) =>
          h.run(netns.exec([
            "python3",
            PROBE,
            "dns",
            "127.0.0.53",
            "53",
            name,
            port,
          ]));
        const ports = (address: string) =>
          h.network.dnsAdmitted().find((a) => a.address === address)?.ports
            .toSorted((a, b) => a - b);
        // nothing listens in the namespace: refused (111) means it got through
        const first = await connect("n5.allowed.test", "8080");
        assert.deepEqual(first.lines, ["address 127.1.0.5", "errno 111"]);
        assert.deepEqual(ports("127.1.0.5"), [8080]);
        const second = await connect("n5.other.test", "9090");
        assert.deepEqual(second.lines, ["address 127.1.0.5", "errno 111"]);
        assert.deepEqual(ports("127.1.0.5"), [8080, 9090]);
        // the first name's port stays allowed; a third is not
        const again = await connect("n5.other.test", "8080");
        assert.deepEqual(again.lines, ["address 127.1.0.5", "errno 111"]);
        const third = await connect("n5.other.test", "7070");
        assert.deepEqual(third.lines, ["address 127.1.0.5", EPERM]);
        // more ports than an entry holds: the newer name's set, whole
        const many = await connect("n5.many.test", "8");
        assert.deepEqual(many.lines, ["address 127.1.0.5", "errno 111"]);
        assert.deepEqual(ports("127.1.0.5"), [1, 2, 3, 4, 5, 6, 7, 8]);
      });
    });
  },
);

kernelTest(
  "DNS: CNAME chains, TCP transport, the system resolver and AAAA",
  async () => {
    await withSensors({ mode: "block" }, async (h) => {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [
          { name: "alias.allowed.test", wildcard: false },
          { name: "tcp.allowed.test", wildcard: false },
          { name: "glibc.allowed.test", wildcard: false },
          { name: "v6.allowed.test", wildcard: false },
        ],
      });
      await withDns(h, async (netns) => {
        const dns = (...args: string[]) =>
          h.run(
            netns.exec(["python3", PROBE, "dns", "127.0.0.53", "53", ...args]),
          );
        const alias = await dns("alias.allowed.test", "8080");
        assert.deepEqual(alias.lines, ["address 127.0.0.7", "errno 111"]);

        const tcp = await dns("tcp.allowed.test", "8080", "tcp");
        assert.deepEqual(tcp.lines, ["address 127.0.0.9", "errno 111"]);
        const query = only(h.events(tcp.pid), "dns");
        assert.equal(query.protocol, "tcp");
        assert.equal(query.query, "tcp.allowed.test");

        // glibc's resolver: connected UDP, A and AAAA in one sendmmsg
        h.network.forgetDnsAdmissions();
        const glibc = await h.run(
          netns.exec([
            "python3",
            PROBE,
            "resolve",
            "glibc.allowed.test",
            "8080",
          ]),
        );
        assert.deepEqual(
          glibc.lines,
          ["address 127.0.0.9", "errno 111"],
          glibc.stderr,
        );
        const asked = h.events(glibc.pid).filter((e) => e.kind === "dns")
          .map((e) => `${e.query} ${e.qtype}`);
        assert.ok(asked.includes("glibc.allowed.test A"), asked.join(", "));

        const v6 = await dns("v6.allowed.test", "8080", "udp", "28");
        assert.deepEqual(v6.lines, ["address ::1", "errno 111"], v6.stderr);
        const connect = only(h.events(v6.pid), "connect");
        assert.equal(connect.family, 6);
        assert.equal(connect.reason, "allowed_by_dns");
      });
    });
  },
);

kernelTest("DNS: a query to a resolver not allowed is denied", async () => {
  await withSensors({ mode: "block" }, async (h) => {
    h.network.setPolicy({ resolvers: [], domains: [] });
    await withDns(h, async (netns) => {
      const result = await h.run(netns.exec([
        "python3",
        PROBE,
        "dns",
        "127.0.0.53",
        "53",
        "n1.allowed.test",
        "8080",
      ]));
      assert.deepEqual(result.lines, [`query ${EPERM}`], result.stderr);
      const send = only(h.events(result.pid), "send");
      assert.equal(send.verdict, "deny");
      assert.equal(send.reason, "dns_resolver_not_allowed");
    });
  });
});

kernelTest("DNS: 1000 of 1000 resolve-then-connect succeed", async () => {
  await withSensors({ mode: "block" }, async (h) => {
    h.network.setPolicy({
      resolvers: [RESOLVER],
      domains: [{ name: "allowed.test", wildcard: true }],
    });
    await withDns(h, async (netns) => {
      const result = await h.run(netns.exec([
        "python3",
        PROBE,
        "dnsloop",
        "127.0.0.53",
        "53",
        "1000",
        "loop.allowed.test",
      ]));
      assert.match(
        result.lines[0] ?? "",
        /^ok 1000 in /,
        result.lines.join("\n") + result.stderr,
      );
      assert.equal(h.network.stats().drops, 0);
    });
  });
});

kernelTest(
  "TLS: a hello to a DNS-admitted address must name an allowed domain",
  async () => {
    await withSensors({ mode: "block" }, async (h) => {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [{ name: "allowed.test", wildcard: true }],
      });
      await withDns(h, async (netns) => {
        const tls = (name: string, serverName: string) =>
          h.run(netns.exec([
            "python3",
            PROBE,
            "tls",
            "127.0.0.53",
            "53",
            name,
            serverName,
          ]));
        const ok = await tls("n7.allowed.test", "N7.Allowed.Test");
        assert.deepEqual(ok.lines, ["delivered"], ok.stderr);
        assert.equal(
          h.events(ok.pid).filter((e) => e.reason === "sni_not_allowed").length,
          0,
        );

        const fronted = await tls("n8.allowed.test", "evil.example");
        assert.deepEqual(fronted.lines, ["dropped"], fronted.stderr);
        const event = h.events(fronted.pid).find((e) =>
          e.reason === "sni_not_allowed"
        );
        assert.ok(event, JSON.stringify(h.events(fronted.pid)));
        assert.equal(event.verdict, "deny");
        assert.equal(event.query, "evil.example");
        assert.equal(event.daddr, "127.1.0.8");
        assert.equal(event.dport, 443);
      });
    });
  },
);

kernelTest(
  "HTTP Host and TLS on other ports: the first payload must name an allowed domain",
  async () => {
    await withSensors({ mode: "block" }, async (h) => {
      h.network.setPolicy({
        resolvers: [RESOLVER],
        domains: [{ name: "allowed.test", wildcard: true }],
      });
      await withDns(h, async (netns) => {
        const probe = (...args: string[]) =>
          h.run(netns.exec(["python3", PROBE, ...args]));
        const http = (name: string, host: string) =>
          probe("http", "127.0.0.53", "53", name, host, "8080");
        const ok = await http("h1.allowed.test", "H1.allowed.test");
        assert.deepEqual(ok.lines, ["delivered"], ok.stderr);

        const fronted = await http("h2.allowed.test", "evil.example");
        assert.deepEqual(fronted.lines, ["dropped"], fronted.stderr);
        const event = h.events(fronted.pid).find((e) =>
          e.reason === "sni_not_allowed"
        );
        assert.ok(event, JSON.stringify(h.events(fronted.pid)));
        assert.equal(event.query, "evil.example");
        assert.equal(event.dport, 8080);

        const tls = await probe(
          "tls",
          "127.0.0.53",
          "53",
          "h3.allowed.test",
          "evil.example",
          "8443",
        );
        assert.deepEqual(tls.lines, ["dropped"], tls.stderr);
      });
    });
  },
);
