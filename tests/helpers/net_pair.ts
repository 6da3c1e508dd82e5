/**
 * Two network namespaces for attacks on privileged primitives: "a", where
 * the policed step runs, and "b", where a packet sniffer outside the scope
 * watches for what arrives, joined by a veth pair (rfa0 in a, rfb0 in b).
 * a also holds a persistent TUN device, rftun0, and forwards what it
 * injects on to b. Nothing of the host's own namespace changes.
 *
 * @module
 */

import { PROBE, TestNetns } from "./net_harness.ts";

/** a's address on rfa0, and b's on rfb0. */
export const A = "10.201.0.1", B = "10.201.0.2";
/** Where packets written to the TUN device claim to come from. */
export const TUN_SOURCE = "10.203.0.9";

/** Runs `command` and returns its stdout; throws when it fails. */
export async function sh(command: string[]): Promise<string> {
  const output = await new Deno.Command(command[0], {
    args: command.slice(1),
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `${command.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

/** The two namespaces; made before any sensor runs (their setup attaches
 * a TUN device, which a policed process may not). */
export class NetPair {
  readonly a: TestNetns;
  readonly b: TestNetns;

  private constructor(a: TestNetns, b: TestNetns) {
    this.a = a;
    this.b = b;
  }

  /** Creates both namespaces and the links between them. */
  static async create(): Promise<NetPair> {
    const b = await TestNetns.create();
    let a: TestNetns | undefined;
    try {
      a = await TestNetns.create([
        ["link", "add", "rfa0", "type", "veth", "peer", "name", "rfb0"],
        ["link", "set", "rfb0", "netns", b.name],
        ["addr", "add", `${A}/24`, "dev", "rfa0"],
        ["link", "set", "rfa0", "up"],
        ["tuntap", "add", "dev", "rftun0", "mode", "tun"],
        ["link", "set", "rftun0", "up"],
        ["route", "add", "10.203.0.0/24", "dev", "rftun0"],
      ]);
      await sh(["ip", "-n", b.name, "addr", "add", `${B}/24`, "dev", "rfb0"]);
      await sh(["ip", "-n", b.name, "link", "set", "rfb0", "up"]);
      // a forwards what the TUN device hands it on to b
      for (
        const setting of [
          "net.ipv4.ip_forward=1",
          "net.ipv4.conf.all.rp_filter=0",
          "net.ipv4.conf.rftun0.rp_filter=0",
          "net.ipv4.ping_group_range=0 0",
        ]
      ) {
        await sh(a.exec(["sysctl", "-qw", setting]));
      }
      return new NetPair(a, b);
    } catch (error) {
      await a?.close();
      await b.close();
      throw error;
    }
  }

  /** The command that sniffs rfb0 in b for `marker` (net_probe.py sniff). */
  sniffer(marker: string, seconds = 2): string[] {
    return this.b.exec([
      "python3",
      PROBE,
      "sniff",
      "rfb0",
      marker,
      String(seconds),
    ]);
  }

  /** Deletes both namespaces. */
  async close(): Promise<void> {
    await this.a.close();
    await this.b.close();
  }
}

/** Reads a child's stdout line by line. */
export class Lines {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  /** Takes the child's stdout. */
  constructor(child: Deno.ChildProcess) {
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  /** The next line, or "" at the end. */
  async next(): Promise<string> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) break;
      this.#buffer += value;
    }
    const [line, ...rest] = this.#buffer.split("\n");
    this.#buffer = rest.join("\n");
    return line;
  }

  /** Gives the stream back. */
  release(): void {
    this.#reader.releaseLock();
  }
}

let markers = 0;

/** A marker no other frame carries. */
export function marker(name: string): string {
  return `rf14-${name.replace(/\W+/g, "-")}-${Deno.pid}-${++markers}`;
}
