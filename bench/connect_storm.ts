/**
 * connect storm: N loopback TCP connects, with and without the agent, under
 * a block-mode policy of 1,000 allow entries (loopback allowed by one of
 * them, not implicitly, so every connect walks the LPM trie), each agent
 * run between two runs without it (`rounds.ts`). The bulk transfer sends
 * one stream of M MB under the same policy: the cost egress adds to every
 * packet.
 *
 * @module
 */

import { type AgentRun, rootShell, withAgent } from "./_agent.ts";
import { bracketed } from "./rounds.ts";

const CONNECTS = new URL("./connect_workload.py", import.meta.url).pathname;
const BULK = new URL("./bulk_workload.py", import.meta.url).pathname;

/** What the connect storm measured. */
export interface ConnectStormResult {
  connects: number;
  /** The loops without the agent, one more than the pairs (`rounds.ts`). */
  baselineSeconds: number[];
  agentRuns: AgentRun[];
}

async function loopTime(
  shell: string,
  workload: string,
  count: number,
): Promise<number> {
  const output = await new Deno.Command(shell, {
    args: ["-c", `/usr/bin/python3 ${workload} ${count}`],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout);
  const elapsed = text.match(/elapsed=([\d.]+)/);
  if (!output.success || !elapsed) throw new Error(`workload failed: ${text}`);
  return Number(elapsed[1]);
}

/** 1,000 allow entries: 999 /24s in 10.0.0.0/8 and loopback. */
function policyText(): string {
  const rules = Array.from(
    { length: 999 },
    (_, index) => `    - 10.${index >> 8}.${index & 255}.0/24`,
  );
  return [
    "version: 1",
    "mode: block",
    "scope:",
    "  processes: [rfconnect]",
    "network:",
    "  loopback: deny",
    "  allow:",
    "    - 127.0.0.0/8",
    ...rules,
    "",
  ].join("\n");
}

/** Runs `pairs` baseline/agent pairs of `connects` connects. */
export function connectStorm(
  connects = 10_000,
  pairs = 5,
): Promise<ConnectStormResult> {
  return pairsOf(CONNECTS, connects, pairs);
}

/** Runs `pairs` baseline/agent pairs of one `megabytes` MB stream. */
export async function bulkTransfer(
  megabytes = 100,
  pairs = 5,
): Promise<ConnectStormResult> {
  const { baselineSeconds, agentRuns } = await pairsOf(BULK, megabytes, pairs);
  return { connects: 1, baselineSeconds, agentRuns };
}

async function pairsOf(
  workload: string,
  count: number,
  pairs: number,
): Promise<ConnectStormResult> {
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  try {
    const shell = await rootShell(dir, "rfconnect");
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(policy, policyText());
    await loopTime(shell, workload, count); // warm up
    const baselineSeconds: number[] = [];
    const agentRuns: AgentRun[] = [];
    const alone = () => loopTime(shell, workload, count);
    await bracketed(
      pairs,
      async () => baselineSeconds.push(await alone()),
      [async () => agentRuns.push(await withAgent(policy, alone))],
    );
    return { connects: count, baselineSeconds, agentRuns };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
