/**
 * Privileged network primitives on the real kernel: raw inet sockets
 * (raw UDP, IP_HDRINCL, a TCP SYN carrying data), an AF_PACKET frame, a
 * packet written to a TUN device, the netfilter netlink socket, and an
 * AF_PACKET socket opened through the i386 ABI (`int $0x80`) or io_uring.
 *
 * Each attack runs in scope inside a namespace the test makes ("a"), aimed
 * at a second one ("b") across a veth pair, where a packet sniffer outside
 * the scope watches for the attack's marker: the test asserts that no byte
 * arrives, that the process failed with EPERM or was killed, and what the
 * event says.
 */
import assert from "node:assert/strict";
import type { NetworkEvent, NetworkSettings } from "../sensors/network.ts";
import { clang, kernelTest } from "./helpers/kernel.ts";
import { NetHarness, PROBE, type ProbeResult } from "./helpers/net_harness.ts";
import {
  A,
  B,
  Lines,
  marker,
  NetPair,
  sh,
  TUN_SOURCE,
} from "./helpers/net_pair.ts";

const EPERM = "errno 1";
const PORT = "9999";

/** Runs `fn` with sensors attached and a fresh pair of namespaces. */
async function withPair(
  settings: NetworkSettings,
  fn: (h: NetHarness, pair: NetPair) => Promise<void>,
): Promise<void> {
  const pair = await NetPair.create();
  try {
    const h = await NetHarness.start(settings);
    try {
      await fn(h, pair);
    } finally {
      await h.close();
    }
  } finally {
    await pair.close();
  }
}

/** What an attack did, and whether its marker reached b. */
interface Outcome {
  result: ProbeResult;
  arrived: boolean;
  events: NetworkEvent[];
}

/**
 * Runs `command(marker)` in scope inside a while a sniffer outside the
 * scope watches rfb0 in b for the marker.
 */
async function attack(
  h: NetHarness,
  pair: NetPair,
  name: string,
  command: (marker: string) => string[],
): Promise<Outcome> {
  const mark = marker(name);
  const sniffer = h.spawnOutside(pair.sniffer(mark));
  const lines = new Lines(sniffer);
  try {
    assert.equal(await lines.next(), "ready");
    const result = await h.run(pair.a.exec(command(mark)));
    const seen = await lines.next();
    assert.ok(seen === "got" || seen === "nothing", seen);
    return { result, arrived: seen === "got", events: h.events(result.pid) };
  } finally {
    lines.release();
  }
}

function probe(...args: string[]): (marker: string) => string[] {
  return (mark) => ["python3", PROBE, ...args, mark];
}

/** The attacks on raw inet sockets, refused with EPERM. */
const RAW: [string, (marker: string) => string[], string][] = [
  ["raw UDP", probe("rawudp", A, B, PORT), "udp"],
  ["IP_HDRINCL UDP", probe("hdrincl", A, B, PORT), "udp"],
  ["raw TCP SYN with data", probe("rawsyn", A, B, PORT), "tcp"],
];

/** The attacks no hook can refuse: the caller is killed. */
const KILLED: [string, (marker: string) => string[], string][] = [
  ["AF_PACKET frame", probe("packet", "rfa0", A, B, PORT), "packet_socket"],
  ["TUN attach and write", probe("tun", "rftun0", TUN_SOURCE, B, PORT), "tun"],
];

function socketEvent(outcome: Outcome): NetworkEvent {
  const events = outcome.events.filter((event) => event.kind === "socket");
  assert.equal(
    events.length,
    1,
    `expected one socket event: ${JSON.stringify(outcome, null, 1)}`,
  );
  return events[0];
}

function assertRefused(outcome: Outcome, reason: string): NetworkEvent {
  assert.equal(outcome.arrived, false, "a byte arrived");
  const event = socketEvent(outcome);
  assert.equal(event.reason, reason);
  assert.equal(event.verdict, "deny");
  assert.equal(event.pid, outcome.result.pid);
  return event;
}

function assertKilled(outcome: Outcome, reason: string): void {
  const { result } = outcome;
  assert.equal(result.signal, "SIGKILL", JSON.stringify(result));
  assert.deepEqual(result.lines, []);
  const event = assertRefused(outcome, reason);
  assert.equal(event.killed, true);
}

kernelTest(
  "block mode: raw inet sockets fail with EPERM and nothing arrives",
  async () => {
    await withPair({ mode: "block" }, async (h, pair) => {
      for (const [name, command, protocol] of RAW) {
        const outcome = await attack(h, pair, name, command);
        assert.deepEqual(outcome.result.lines, [EPERM], name);
        const event = assertRefused(outcome, "raw_socket");
        assert.equal(event.protocol, protocol, name);
        assert.equal(event.killed, undefined, name);
      }
    });
  },
);

kernelTest(
  "block mode: AF_PACKET and TUN kill the caller and nothing arrives",
  async () => {
    await withPair({ mode: "block" }, async (h, pair) => {
      for (const [name, command, reason] of KILLED) {
        assertKilled(await attack(h, pair, name, command), reason);
      }
    });
  },
);

kernelTest(
  "block mode: nft is killed at its netfilter socket, no table is made",
  async () => {
    await withPair({ mode: "block" }, async (h, pair) => {
      const bare = await h.run(pair.a.exec(["python3", PROBE, "nfnetlink"]));
      assert.equal(bare.signal, "SIGKILL", JSON.stringify(bare));
      const event = only(h.events(bare.pid), "socket");
      assert.equal(event.reason, "netfilter");
      assert.equal(event.protocol, "netlink");
      assert.equal(event.killed, true);
      const nft = await h.run(
        pair.a.exec(["nft", "add", "table", "ip", "rfprobe"]),
      );
      assert.equal(nft.signal, "SIGKILL", JSON.stringify(nft));
      assert.equal(only(h.events(nft.pid), "socket").reason, "netfilter");
      h.process.removeScope(Deno.pid);
      try {
        const tables = await sh(pair.a.exec(["nft", "list", "tables"]));
        assert.doesNotMatch(tables, /rfprobe/);
      } finally {
        h.becomeSpawner();
      }
    });
  },
);

/**
 * Builds tests/helpers/NAME.c into a temporary directory and runs `fn`
 * with its path. clang is part of the setup, so a failed build fails the
 * test rather than skipping it.
 */
async function withHelper(
  name: string,
  fn: (path: string) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/${name}`;
    const source = new URL(`./helpers/${name}.c`, import.meta.url).pathname;
    const error = await clang(["-O2", "-o", path, source]);
    if (error) throw new Error(`building ${name}.c: ${error}`);
    await fn(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

kernelTest(
  "block mode: an AF_PACKET socket through int $0x80 kills the caller",
  async () => {
    await withHelper("int80", async (int80) => {
      await withPair({ mode: "block" }, async (h, pair) => {
        for (const mode of ["socket", "socketcall"]) {
          const outcome = await attack(
            h,
            pair,
            `int80 ${mode}`,
            (mark) => [int80, mode, "rfa0", mark],
          );
          assertKilled(outcome, "packet_socket");
        }
      });
    });
  },
);

kernelTest(
  "block mode: an AF_PACKET socket from io_uring kills the submitter",
  async () => {
    await withHelper("uring_socket", async (uring) => {
      await withPair({ mode: "block" }, async (h, pair) => {
        const command = (mark: string) => [uring, "rfa0", mark];
        const outcome = await attack(h, pair, "io_uring socket", command);
        if (outcome.result.lines[0] === "unsupported") {
          console.log("skipping io_uring: IORING_OP_SOCKET is unavailable");
          return;
        }
        assertKilled(outcome, "packet_socket");
      });
    });
  },
);

kernelTest(
  "audit mode lets each primitive through and reports it as audit",
  async () => {
    await withPair({ mode: "audit" }, async (h, pair) => {
      for (const [name, command] of [...RAW, ...KILLED]) {
        const outcome = await attack(h, pair, name, command);
        assert.deepEqual(outcome.result.lines, ["ok"], name);
        assert.equal(outcome.arrived, true, name);
        const event = socketEvent(outcome);
        assert.equal(event.verdict, "audit", name);
        assert.equal(event.killed, undefined, name);
      }
    });
  },
);

kernelTest(
  "network.privileged raw: allow lets raw sockets through, no deny event",
  async () => {
    await withPair(
      { mode: "block", allowPrivileged: ["raw"] },
      async (h, pair) => {
        // An allowed raw socket still reaches only allowed destinations:
        // egress judges its packets as it judges any other socket's.
        for (const [name, command] of RAW) {
          const outcome = await attack(h, pair, name, command);
          assert.equal(outcome.arrived, false, name);
          assert.ok(
            outcome.events.some((event) => event.verdict === "deny"),
            JSON.stringify(outcome.events),
          );
        }
        h.network.setPolicy({
          v4: [{
            prefixLength: 32,
            address: new Uint8Array([10, 201, 0, 2]),
            ports: [],
          }],
          v6: [],
        });
        for (const [name, command] of RAW) {
          const outcome = await attack(h, pair, name, command);
          assert.deepEqual(outcome.result.lines, ["ok"], name);
          assert.equal(outcome.arrived, true, name);
          const event = socketEvent(outcome);
          assert.equal(event.verdict, "allow", name);
          assert.equal(event.reason, "raw_socket", name);
          assert.ok(
            outcome.events.every((event) => event.verdict !== "deny"),
            JSON.stringify(outcome.events),
          );
        }
        // the others stay refused
        const [name, command, reason] = KILLED[0];
        assertKilled(await attack(h, pair, name, command), reason);
      },
    );
  },
);

kernelTest(
  "block mode: an ICMP ping socket (SOCK_DGRAM) is no raw socket",
  async () => {
    await withPair({ mode: "block" }, async (h, pair) => {
      h.network.setPolicy({
        v4: [{
          prefixLength: 32,
          address: new Uint8Array([10, 201, 0, 2]),
          ports: [],
        }],
        v6: [],
      });
      const outcome = await attack(h, pair, "ping", () => [
        "python3",
        PROBE,
        "ping",
        B,
      ]);
      assert.deepEqual(outcome.result.lines, ["ok"], outcome.result.stderr);
      assert.equal(outcome.result.signal, null);
      assert.ok(
        outcome.events.every((event) => event.kind !== "socket"),
        JSON.stringify(outcome.events),
      );
    });
  },
);

function only(events: NetworkEvent[], kind: string): NetworkEvent {
  const matching = events.filter((event) => event.kind === kind);
  assert.equal(matching.length, 1, JSON.stringify(events, null, 1));
  return matching[0];
}
