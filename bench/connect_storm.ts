/**
 * connect storm: N loopback TCP connects, with and without the agent, under
 * a block-mode policy of 1,000 allow entries (loopback allowed by one of
 * them, not implicitly, so every connect walks the LPM trie), in
 * alternating pairs within one run.
 *
 * @module
 */

import { type AgentRun, rootShell, withAgent } from "./_agent.ts";

const WORKLOAD = new URL("./connect_workload.py", import.meta.url).pathname;

/** What the connect storm measured. */
export interface ConnectStormResult {
  connects: number;
  baselineSeconds: number[];
  agentRuns: AgentRun[];
}

async function loopTime(shell: string, connects: number): Promise<number> {
  const output = await new Deno.Command(shell, {
    args: ["-c", `/usr/bin/python3 ${WORKLOAD} ${connects}`],
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
export async function connectStorm(
  connects = 10_000,
  pairs = 5,
): Promise<ConnectStormResult> {
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  try {
    const shell = await rootShell(dir, "rfconnect");
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(policy, policyText());
    await loopTime(shell, connects); // warm up
    const baselineSeconds: number[] = [];
    const agentRuns: AgentRun[] = [];
    for (let pair = 0; pair < pairs; pair++) {
      baselineSeconds.push(await loopTime(shell, connects));
      agentRuns.push(await withAgent(policy, () => loopTime(shell, connects)));
    }
    return { connects, baselineSeconds, agentRuns };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
