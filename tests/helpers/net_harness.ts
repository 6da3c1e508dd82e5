/**
 * Loads sensor.process and sensor.network for a test, runs probe programs
 * in or out of scope, and collects the network events. Everything it
 * starts is released by {@linkcode NetHarness.close}.
 *
 * @module
 */

import { TimeFormatter } from "../../sensors/event.ts";
import {
  decodeNetworkEvent,
  type NetworkEvent,
  NetworkSensor,
  type NetworkSettings,
} from "../../sensors/network.ts";
import { readSensorObject } from "../../sensors/objects.ts";
import { ProcessSensor, ScopeFlag } from "../../sensors/process.ts";
import { RING_POLL_MS } from "../../sensors/ringbuf.ts";

const HELPERS = new URL("./", import.meta.url).pathname;
/** The probe program: one network action per run. */
export const PROBE = `${HELPERS}net_probe.py`;
/** The test DNS server. */
export const DNS_SERVER = `${HELPERS}net_dns_server.py`;

/** What a probe printed and how it ended. */
export interface ProbeResult {
  pid: number;
  code: number;
  signal: Deno.Signal | null;
  lines: string[];
  stderr: string;
}

/** Both sensors, loaded and attached, with this process as the spawner. */
export class NetHarness {
  readonly process: ProcessSensor;
  readonly network: NetworkSensor;
  readonly #time = new TimeFormatter();
  readonly #events: NetworkEvent[] = [];
  readonly #children: Deno.ChildProcess[] = [];

  private constructor(process: ProcessSensor, network: NetworkSensor) {
    this.process = process;
    this.network = network;
  }

  /** Loads and attaches both sensors with `settings` (loopback off by default). */
  static async start(settings: NetworkSettings): Promise<NetHarness> {
    const process = new ProcessSensor(await readSensorObject("process"));
    let network: NetworkSensor | undefined;
    try {
      process.load();
      process.attach();
      network = new NetworkSensor(await readSensorObject("network"), {
        sharedMaps: process.sharedMaps(),
      });
      network.load();
      network.configure({ allowLoopback: false, ...settings });
      network.attach();
    } catch (error) {
      network?.close();
      process.close();
      throw error;
    }
    const harness = new NetHarness(process, network);
    harness.becomeSpawner();
    return harness;
  }

  /** From now on, every process this one spawns is monitored. */
  becomeSpawner(): void {
    this.process.setScope(Deno.pid, {
      flags: ScopeFlag.spawner,
      rootPid: Deno.pid,
    });
  }

  /**
   * Runs `command` in scope (monitored) and waits for it, reading the ring
   * meanwhile as the agent does (at least every RING_POLL_MS).
   */
  async run(command: string[], input?: string): Promise<ProbeResult> {
    const child = new Deno.Command(command[0], {
      args: command.slice(1),
      stdin: input === undefined ? "null" : "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    if (input !== undefined) {
      const writer = child.stdin.getWriter();
      await writer.write(new TextEncoder().encode(input));
      await writer.close();
    }
    const pump = setInterval(() => this.events(), RING_POLL_MS);
    try {
      return await collect(child);
    } finally {
      clearInterval(pump);
    }
  }

  /** Runs the probe with `args` in scope. */
  probe(...args: string[]): Promise<ProbeResult> {
    return this.run(["python3", PROBE, ...args]);
  }

  /** Spawns `command` outside the scope (kept until close()). */
  spawnOutside(
    command: string[],
    stdin: "null" | "piped" = "null",
  ): Deno.ChildProcess {
    this.process.removeScope(Deno.pid);
    try {
      const child = new Deno.Command(command[0], {
        args: command.slice(1),
        stdin,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      this.#children.push(child);
      return child;
    } finally {
      this.becomeSpawner();
    }
  }

  /** Waits for the first line of a child's stdout ("ready"). */
  firstLine(child: Deno.ChildProcess): Promise<string> {
    return firstLine(child);
  }

  /** The network events so far (drained from the ring), optionally of one pid. */
  events(pid?: number): NetworkEvent[] {
    this.network.drain((view, offset) => {
      this.#events.push(decodeNetworkEvent(view, offset, this.#time));
    });
    return pid === undefined
      ? [...this.#events]
      : this.#events.filter((event) => event.pid === pid);
  }

  /** Stops children, detaches and frees both sensors. */
  async close(): Promise<void> {
    for (const child of this.#children) {
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
    }
    try {
      this.process.removeScope(Deno.pid);
    } finally {
      this.network.close();
      this.process.close();
    }
  }
}

async function collect(child: Deno.ChildProcess): Promise<ProbeResult> {
  const output = await child.output();
  return {
    pid: child.pid,
    code: output.code,
    signal: output.signal,
    lines: new TextDecoder().decode(output.stdout).split("\n").filter(Boolean),
    stderr: new TextDecoder().decode(output.stderr),
  };
}

/** A network namespace the test owns, with lo up; deleted by close(). */
export class TestNetns {
  readonly name: string;

  private constructor(name: string) {
    this.name = name;
  }

  /** Creates `rf-net-<pid>-<n>` with lo up and extra `ip` commands run in it. */
  static async create(setup: string[][] = []): Promise<TestNetns> {
    const name = `rf-net-${Deno.pid}-${Math.floor(Math.random() * 1e6)}`;
    await ip(["netns", "add", name]);
    const netns = new TestNetns(name);
    try {
      await ip(["-n", name, "link", "set", "lo", "up"]);
      for (const command of setup) await ip(["-n", name, ...command]);
    } catch (error) {
      await netns.close();
      throw error;
    }
    return netns;
  }

  /** The namespace's cookie (SO_NETNS_COOKIE), as the sensors know it. */
  async cookie(): Promise<bigint> {
    const output = await new Deno.Command("ip", {
      args: [
        "netns",
        "exec",
        this.name,
        "python3",
        "-c",
        "import socket; s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); " +
        "print(int.from_bytes(s.getsockopt(socket.SOL_SOCKET, 71, 8), 'little'))",
      ],
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(
        `netns cookie: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
    return BigInt(new TextDecoder().decode(output.stdout).trim());
  }

  /** `command` prefixed to run inside the namespace. */
  exec(command: string[]): string[] {
    return ["ip", "netns", "exec", this.name, ...command];
  }

  /** Deletes the namespace and its /etc/netns files. */
  async close(): Promise<void> {
    await ip(["netns", "del", this.name]).catch(() => {});
    await Deno.remove(`/etc/netns/${this.name}`, { recursive: true })
      .catch(() => {});
  }
}

async function ip(args: string[]): Promise<void> {
  const output = await new Deno.Command("ip", {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `ip ${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

/** The first line a child prints on stdout ("ready"). */
export async function firstLine(child: Deno.ChildProcess): Promise<string> {
  const reader = child.stdout.pipeThrough(new TextDecoderStream())
    .getReader();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) break;
    text += value;
  }
  reader.releaseLock();
  return text.split("\n")[0];
}
