/**
 * Enforcement that outlives the agent, on the real kernel: a `kill -9` of
 * `ringfence run` leaves the pinned links enforcing the last policy and
 * loses no line of the events file; a detached cgroup link and a config
 * map rewritten to audit are put back within a second and reported; a
 * `ringfence start` adopts a dead agent's pins, and `ringfence stop`
 * recovers what a dead agent's pins held and removes them.
 *
 * The listener lives in a network namespace the test creates; the step
 * reaches it through `nsenter --net` (which keeps cgroup2 visible).
 */
import assert from "node:assert/strict";
import { AGENT_V8_FLAGS } from "../scripts/_dist.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { encodeInt } from "../sensors/layout.ts";
import { mapLookup, mapUpdate } from "../sensors/libbpf.ts";
import { closeFd } from "../sensors/libc.ts";
import { NETWORK_CONFIG, NetworkMode } from "../sensors/network_maps.ts";
import { linkInfo, mapInfo, openPinned } from "../sensors/pin.ts";
import { RingBufferReader } from "../sensors/ringbuf.ts";
import {
  DENO,
  kernelTest,
  readJsonLines,
  ROOT,
  rootShell,
} from "./helpers/kernel.ts";
import { PROBE, TestNetns } from "./helpers/net_harness.ts";
import { startInstanceName } from "../agent/pins.ts";
import { instanceDir } from "../agent/instance.ts";

const LISTENER = new URL("./helpers/net_listener.py", import.meta.url)
  .pathname;
const PINS = "/sys/fs/bpf/ringfence";
const ALLOWED = 8080, DENIED = 9090;
/** A packet socket, which no policy here allows: killed at its syscall. */
const PACKET_SOCKET =
  `python3 -c 'import socket; socket.socket(socket.AF_PACKET, socket.SOCK_RAW)'`;

/** The listener in the namespace, out of any scope. */
class Listener {
  readonly #child: Deno.ChildProcess;
  readonly #reader: ReadableStreamDefaultReader<string>;
  #text = "";

  private constructor(child: Deno.ChildProcess) {
    this.#child = child;
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  static async start(netns: TestNetns): Promise<Listener> {
    const command = netns.exec([
      "python3",
      LISTENER,
      `tcp:${ALLOWED}`,
      `tcp:${DENIED}`,
    ]);
    const listener = new Listener(
      new Deno.Command(command[0], {
        args: command.slice(1),
        stdout: "piped",
        stderr: "null",
      }).spawn(),
    );
    while (!listener.#text.includes("ready\n")) {
      const { value, done } = await listener.#reader.read();
      if (done) throw new Error("the listener exited");
      listener.#text += value;
    }
    return listener;
  }

  /** Stops it: every receipt it printed. */
  async receipts(): Promise<string[]> {
    await sleep(300);
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

function policy(): string {
  return [
    "version: 1",
    "mode: block",
    "network:",
    "  loopback: deny",
    `  allow: ["127.0.0.1:${ALLOWED}"]`,
    "",
  ].join("\n");
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(
  what: string,
  test: () => boolean | Promise<boolean>,
  timeoutMs = 15_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!await test()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting: ${what}`);
    await sleep(5);
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `tcpsend` from the step into the namespace, its answer into `file`. */
function send(netns: TestNetns, port: number, file: string): string {
  return `nsenter --net=/run/netns/${netns.name} python3 ${PROBE} tcpsend 127.0.0.1 ${port} > ${file}`;
}

/**
 * The step waits for the test's go (at most 30 s: a failed test must not
 * leave it behind).
 */
function waitForGo(dir: string): string {
  return `i=0; while [ ! -f ${dir}/go ] && [ $i -lt 1500 ]; do sleep 0.02; i=$((i + 1)); done`;
}

/** `ringfence run` of a shell script, its events to `dir`/events.jsonl. */
function spawnRun(dir: string, script: string): Deno.ChildProcess {
  return new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      `--v8-flags=${AGENT_V8_FLAGS}`,
      `${ROOT}main.ts`,
      "run",
      "--policy",
      `${dir}/policy.yaml`,
      "--output",
      `${dir}/events.jsonl`,
      "--",
      "/bin/sh",
      "-c",
      script,
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).spawn();
}

async function stderrOf(child: Deno.ChildProcess): Promise<string> {
  let text = "";
  for await (const chunk of child.stderr.pipeThrough(new TextDecoderStream())) {
    text += chunk;
  }
  return text;
}

/** Waits until another process has read the pinned ring to its end. */
async function ringRead(path: string): Promise<void> {
  const fd = openPinned(path);
  try {
    using ring = new RingBufferReader(fd, mapInfo(fd).maxEntries);
    await waitFor(
      `ring ${path} read`,
      () => ring.produced > 0 && ring.consumed === ring.produced,
    );
  } finally {
    closeFd(fd);
  }
}

kernelTest(
  "kill -9 of ringfence run: the kernel still refuses, no line is lost",
  async () => {
    const dir = await Deno.makeTempDir();
    const netns = await TestNetns.create();
    const listener = await Listener.start(netns);
    let instance = "";
    try {
      await Deno.writeTextFile(`${dir}/policy.yaml`, policy());
      const child = spawnRun(
        dir,
        [
          send(netns, DENIED, `${dir}/first`),
          `touch ${dir}/phase1`,
          waitForGo(dir),
          send(netns, DENIED, `${dir}/second`),
          send(netns, ALLOWED, `${dir}/allowed`),
          `${PACKET_SOCKET}; echo $? > ${dir}/packet`,
          `touch ${dir}/done`,
        ].join("; "),
      );
      const stderr = stderrOf(child);
      instance = `${PINS}/run-${child.pid}`;
      await waitFor("the first refusal", () => exists(`${dir}/phase1`));
      assert.equal(Deno.readTextFileSync(`${dir}/first`).trim(), "errno 1");
      // The agent has read the refusal's record: it is in the file, or
      // nowhere once the agent is killed.
      await ringRead(`${instance}/network/map_events`);
      child.kill("SIGKILL");
      await child.status;
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const refusal = events.find((event) =>
        event.type === "network_event" && event.verdict === "deny" &&
        event.dport === DENIED
      );
      assert.ok(refusal, `the refusal line, among ${events.length}`);

      // The step holds the agent's stderr until it ends.
      Deno.writeTextFileSync(`${dir}/go`, "");
      await waitFor("the step's end", () => exists(`${dir}/done`));
      assert.match(await stderr, /enforcement outlives the agent: pinned/);
      assert.equal(Deno.readTextFileSync(`${dir}/second`).trim(), "errno 1");
      assert.equal(Deno.readTextFileSync(`${dir}/allowed`).trim(), "ok");
      // The pinned syscall chain still runs the network sensor's check.
      assert.equal(Deno.readTextFileSync(`${dir}/packet`).trim(), "137");
      const receipts = await listener.receipts();
      assert.ok(
        receipts.some((line) => line.includes(`:${ALLOWED} `)),
        `the allowed port got the bytes: ${receipts}`,
      );
      assert.ok(
        !receipts.some((line) => line.includes(`:${DENIED} `)),
        `no byte reached the unlisted port: ${receipts}`,
      );
    } finally {
      Deno.writeTextFileSync(`${dir}/go`, "");
      await listener.receipts();
      if (instance && exists(instance)) {
        Deno.removeSync(instance, { recursive: true });
      }
      await netns.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "a detached cgroup link and a config rewritten to audit are put back",
  async () => {
    const dir = await Deno.makeTempDir();
    const netns = await TestNetns.create();
    const listener = await Listener.start(netns);
    try {
      await Deno.writeTextFile(`${dir}/policy.yaml`, policy());
      const child = spawnRun(
        dir,
        [
          waitForGo(dir),
          send(netns, DENIED, `${dir}/denied`),
        ].join("; "),
      );
      const stderr = stderrOf(child);
      const instance = `${PINS}/run-${child.pid}`;
      await waitFor("the pins", () => exists(`${instance}/meta`));
      // Root, out of scope: detach the connect4 link, rewrite the config.
      const linkPath = `${instance}/network/link_connect4`;
      const before = withFd(linkPath, linkInfo);
      const detach = await new Deno.Command("bpftool", {
        args: ["link", "detach", "id", String(before.id)],
        stdout: "piped",
        stderr: "piped",
      }).output();
      assert.ok(detach.success, new TextDecoder().decode(detach.stderr));
      assert.equal(withFd(linkPath, linkInfo).cgroupId, 0n, "detached");
      const configPath = `${instance}/network/map_net_config`;
      const key = encodeInt("u32", 0);
      const written = new Uint8Array(NETWORK_CONFIG.size);
      withFd(configPath, (fd) => {
        assert.ok(mapLookup(fd, key, written));
        const audit = new Uint8Array(written);
        new DataView(audit.buffer).setUint32(
          NETWORK_CONFIG.fields.mode,
          NetworkMode.audit,
          true,
        );
        mapUpdate(fd, key, audit);
      });

      await sleep(1500);
      const after = withFd(linkPath, linkInfo);
      assert.notEqual(after.cgroupId, 0n, "a link is attached again");
      assert.notEqual(after.id, before.id, "a new link, pinned in place");
      const now = new Uint8Array(NETWORK_CONFIG.size);
      withFd(configPath, (fd) => assert.ok(mapLookup(fd, key, now)));
      assert.deepEqual(now, written, "the config is restored");

      Deno.writeTextFileSync(`${dir}/go`, "");
      const status = await child.status;
      assert.equal(status.code, 0, await stderr);
      assert.equal(Deno.readTextFileSync(`${dir}/denied`).trim(), "errno 1");
      const receipts = await listener.receipts();
      assert.ok(
        !receipts.some((line) => line.includes(`:${DENIED} `)),
        `no byte reached the unlisted port: ${receipts}`,
      );
      const tamper = (await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      )).filter((event) => event.type === "agent" && event.kind === "tamper");
      const whats = tamper.map((event) =>
        event.type === "agent" &&
        `${event.what} ${event.name} ${event.repaired}`
      );
      assert.ok(
        whats.includes("link_detached network/connect4 true"),
        `${whats}`,
      );
      assert.ok(whats.includes("map_changed net_config true"), `${whats}`);
      assert.ok(!exists(instance), "run removes its pins at its end");
    } finally {
      Deno.writeTextFileSync(`${dir}/go`, "");
      await listener.receipts();
      await netns.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** The program id in `slot` of the prog array pinned at `path`; 0 if empty. */
function slotId(path: string, slot: number): number {
  return withFd(path, (fd) => {
    const id = new Uint8Array(4);
    if (!mapLookup(fd, encodeInt("u32", slot), id)) return 0;
    return new DataView(id.buffer).getUint32(0, true);
  });
}

async function bpftool(...args: string[]): Promise<void> {
  const output = await new Deno.Command("bpftool", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
}

kernelTest(
  "a syscall chain slot emptied or given another program is put back",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.writeTextFile(`${dir}/resolv.conf`, "nameserver 1.1.1.1\n");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "mode: block",
          "files:",
          `  protect: ["${dir}/resolv.conf"]`,
          "  action: kill",
          "",
        ].join("\n"),
      );
      const child = spawnRun(
        dir,
        [
          waitForGo(dir),
          `${PACKET_SOCKET}; echo $? > ${dir}/packet`,
          `sh -c 'exec 3>>${dir}/resolv.conf; echo bad >&3'`,
          `echo $? > ${dir}/writer`,
        ].join("; "),
      );
      const stderr = stderrOf(child);
      const instance = `${PINS}/run-${child.pid}`;
      await waitFor("the pins", () => exists(`${instance}/meta`));
      // Root, out of scope: empty the network sensor's slot and give the
      // file-system sensor's to another program.
      const chain = `${instance}/process/map_syscall_enter_chain`;
      const network = slotId(chain, 0), fileSystem = slotId(chain, 1);
      assert.ok(network && fileSystem && network !== fileSystem);
      await bpftool(
        "map",
        "delete",
        "pinned",
        chain,
        "key",
        "0",
        "0",
        "0",
        "0",
      );
      await bpftool(
        "map",
        "update",
        "pinned",
        chain,
        "key",
        "1",
        "0",
        "0",
        "0",
        "value",
        "id",
        String(network),
      );
      assert.equal(slotId(chain, 0), 0, "emptied");
      assert.equal(slotId(chain, 1), network, "replaced");

      await sleep(1500);
      assert.equal(slotId(chain, 0), network, "the network check is back");
      assert.equal(slotId(chain, 1), fileSystem, "the file check is back");

      Deno.writeTextFileSync(`${dir}/go`, "");
      const status = await child.status;
      assert.equal(status.code, 0, await stderr);
      assert.equal(Deno.readTextFileSync(`${dir}/packet`).trim(), "137");
      assert.equal(Deno.readTextFileSync(`${dir}/writer`).trim(), "137");
      assert.equal(
        Deno.readTextFileSync(`${dir}/resolv.conf`),
        "nameserver 1.1.1.1\n",
      );
      const whats = (await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      )).filter((event) => event.type === "agent" && event.kind === "tamper")
        .map((event) =>
          event.type === "agent" &&
          `${event.what} ${event.name} ${event.repaired}`
        );
      assert.ok(
        whats.includes("chain_changed network/sys_enter true"),
        `${whats}`,
      );
      assert.ok(
        whats.includes("chain_changed file-system/sys_enter true"),
        `${whats}`,
      );
    } finally {
      Deno.writeTextFileSync(`${dir}/go`, "");
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "start adopts a dead agent's pins; stop recovers a dead agent's pins",
  async () => {
    const dir = await Deno.makeTempDir();
    const netns = await TestNetns.create();
    const state = `${dir}/state`;
    const shell = await rootShell(dir, "rfpinroot");
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      policy() + "scope:\n  processes: [rfpinroot]\n",
    );
    const agents: Deno.ChildProcess[] = [];
    const start = (output: string) => {
      const child = new Deno.Command(DENO, {
        args: [
          "run",
          "-A",
          `${ROOT}main.ts`,
          "start",
          "--policy",
          `${dir}/policy.yaml`,
          "--output",
          output,
          "--state-dir",
          state,
          "--ready-file",
          `${dir}/ready`,
        ],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
      agents.push(child);
      return child;
    };
    const stop = async () => {
      const output = await new Deno.Command(DENO, {
        args: ["run", "-A", `${ROOT}main.ts`, "stop", "--state-dir", state],
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
      return {
        code: output.code,
        stderr: new TextDecoder().decode(output.stderr),
      };
    };
    const armed = async (child: Deno.ChildProcess) => {
      await waitFor("ready", () => exists(`${dir}/ready`));
      Deno.removeSync(`${dir}/ready`);
      return child;
    };
    let pinsDir = `${PINS}/${await startInstanceName(state)}`;
    // A child of the root: the root itself is exempt, never refused.
    const refuse = async (file: string) => {
      const out = await new Deno.Command(shell, {
        args: ["-c", `${send(netns, DENIED, file)}; true`],
      }).output();
      assert.ok(out.success);
      return Deno.readTextFileSync(file).trim();
    };
    // A child of the root asks for a packet socket: its exit status.
    const packetSocket = async () => {
      const out = await new Deno.Command(shell, {
        args: ["-c", `${PACKET_SOCKET}; echo $?`],
        stdout: "piped",
      }).output();
      return new TextDecoder().decode(out.stdout).trim();
    };
    try {
      const first = await armed(start(`${dir}/first.jsonl`));
      const firstErr = stderrOf(first);
      pinsDir = Deno.readTextFileSync(
        `${await instanceDir(state)}/pinned`,
      ).trim();
      first.kill("SIGKILL");
      await first.status;
      await firstErr;
      // Refused by the kernel alone; its record waits in the pinned ring.
      assert.equal(await refuse(`${dir}/a`), "errno 1");
      // The pinned syscall chain still runs the network sensor's check.
      assert.equal(await packetSocket(), "137");

      // A second start in a state directory whose agent is alive fails.
      const second = await armed(start(`${dir}/second.jsonl`));
      const secondErr = stderrOf(second);
      const third = start(`${dir}/third.jsonl`);
      const thirdErr = await stderrOf(third);
      assert.notEqual((await third.status).code, 0);
      assert.match(thirdErr, /already running|belong to a running agent/);

      second.kill("SIGKILL");
      await second.status;
      assert.match(
        await secondErr,
        /adopted the pins of start-[0-9a-f]{12} left by agent pid \d+ \(not running\) without a gap: while no agent ran, the kernel refused [1-9]\d* actions/,
      );
      const adopted = await readJsonLines<RingfenceEvent>(
        `${dir}/second.jsonl`,
      );
      assert.equal(adopted[0].type, "agent");
      assert.equal(adopted[0].kind, "adopted");
      assert.ok(
        adopted.some((event) =>
          event.type === "network_event" && event.dport === DENIED
        ),
        "the dead agent's record, delivered by the new one",
      );

      // The second agent died too: stop recovers and removes its pins.
      assert.equal(await refuse(`${dir}/b`), "errno 1");
      assert.equal(await packetSocket(), "137", "the adopter's chain");
      const stopped = await stop();
      assert.equal(stopped.code, 3, "a dead agent is tampering");
      assert.match(stopped.stderr, /AGENT TAMPERED/);
      assert.match(stopped.stderr, /is not running/);
      assert.match(
        stopped.stderr,
        /while no agent ran, the kernel refused [1-9]\d* actions and killed 1 processes/,
      );
      assert.match(stopped.stderr, /removed the pins/);
      assert.ok(!exists(pinsDir), "no pins left");
      const recovered = (await readJsonLines<RingfenceEvent>(
        `${dir}/second.jsonl`,
      )).filter((event) =>
        event.type === "network_event" && event.dport === DENIED
      );
      assert.equal(recovered.length, 2, "the second refusal, recovered");
    } finally {
      for (const agent of agents) {
        try {
          agent.kill("SIGKILL");
        } catch { /* gone */ }
      }
      if (pinsDir && exists(pinsDir)) {
        Deno.removeSync(pinsDir, { recursive: true });
      }
      await netns.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

function withFd<T>(path: string, use: (fd: number) => T): T {
  const fd = openPinned(path);
  try {
    return use(fd);
  } finally {
    closeFd(fd);
  }
}

kernelTest(
  "a step's bpf() detach of the agent's link kills it, and the link comes back",
  async () => {
    const dir = await Deno.makeTempDir();
    const netns = await TestNetns.create();
    const listener = await Listener.start(netns);
    const steal = new URL("./helpers/steal_detach.py", import.meta.url)
      .pathname;
    try {
      await Deno.writeTextFile(`${dir}/policy.yaml`, policy());
      const child = spawnRun(
        dir,
        [
          waitForGo(dir),
          `python3 ${steal} $PPID $(cat ${dir}/go) > ${dir}/attack`,
          `echo $? > ${dir}/attack-status`,
          "sleep 1.5",
          send(netns, DENIED, `${dir}/denied`),
        ].join("; "),
      );
      const stderr = stderrOf(child);
      const instance = `${PINS}/run-${child.pid}`;
      await waitFor("the pins", () => exists(`${instance}/meta`));
      const linkPath = `${instance}/network/link_connect4`;
      const before = withFd(linkPath, linkInfo);
      Deno.writeTextFileSync(`${dir}/go`, String(before.id));
      const status = await child.status;
      assert.equal(status.code, 0, await stderr);
      const attack = Deno.readTextFileSync(`${dir}/attack`);
      assert.match(attack, /detaching/, attack);
      assert.doesNotMatch(attack, /survived/, "killed as bpf() returned");
      assert.equal(
        Deno.readTextFileSync(`${dir}/attack-status`).trim(),
        "137",
        "SIGKILL",
      );
      assert.equal(Deno.readTextFileSync(`${dir}/denied`).trim(), "errno 1");
      const receipts = await listener.receipts();
      assert.ok(
        !receipts.some((line) => line.includes(`:${DENIED} `)),
        `no byte reached the unlisted port: ${receipts}`,
      );
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const bpf = events.find((event) =>
        event.type === "process_event" && event.kind === "bpf"
      );
      assert.equal(
        (bpf as { command?: string } | undefined)?.command,
        "BPF_LINK_DETACH",
      );
      const repaired = events.find((event) =>
        event.type === "agent" && event.kind === "tamper" &&
        event.what === "link_detached" && event.name === "network/connect4"
      );
      assert.equal(
        (repaired as { repaired?: boolean } | undefined)?.repaired,
        true,
        JSON.stringify(events.filter((event) => event.type === "agent")),
      );
    } finally {
      Deno.writeTextFileSync(`${dir}/go`, "");
      await listener.receipts();
      await netns.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
