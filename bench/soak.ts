/**
 * The soak: the agent under a steady, modest load (20 execs, 50 connects
 * and 100 file events a second) for BENCH_SOAK_MINUTES (default 60), its
 * resident memory sampled at 1, 10, 30 and 60 minutes (those within the
 * duration). Memory that levels off stays within a few MB of the 10-minute
 * figure; a leak keeps climbing.
 *
 * @module
 */

import { withAgent } from "./_agent.ts";

/** The agent's resident memory at a minute mark. */
export interface SoakSample {
  minute: number;
  rssMb: number;
}

/** What a soak measured. */
export interface SoakResult {
  minutes: number;
  samples: SoakSample[];
  events: number;
  drops: number;
}

const WORKLOAD = new URL("./soak_workload.py", import.meta.url).pathname;

/** Runs the soak for `minutes` and samples the agent's RSS. */
export async function soak(minutes: number): Promise<SoakResult> {
  const dir = await Deno.makeTempDir({ prefix: "ringfence-soak-" });
  try {
    const policy = `${dir}/policy.yaml`;
    await Deno.mkdir(`${dir}/work`);
    await Deno.writeTextFile(
      policy,
      [
        "version: 1",
        "mode: block",
        "scope:",
        "  processes: [rfsoak]",
        "network:",
        "  allow: []",
        "files:",
        `  watch: ["${dir}/work/**"]`,
        "",
      ].join("\n"),
    );
    await Deno.copyFile("/usr/bin/python3", `${dir}/rfsoak`);
    await Deno.chmod(`${dir}/rfsoak`, 0o755);
    const samples: SoakSample[] = [];
    const run = await withAgent(policy, async (agentPid) => {
      const started = Date.now();
      const work = new Deno.Command(`${dir}/rfsoak`, {
        args: [WORKLOAD, String(minutes), `${dir}/work`],
      }).spawn();
      for (const minute of [1, 10, 30, 60].filter((mark) => mark <= minutes)) {
        const wait = started + minute * 60_000 - Date.now();
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
        const status = await Deno.readTextFile(`/proc/${agentPid}/status`);
        const rss = Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
        samples.push({ minute, rssMb: rss });
        console.log(`soak: minute ${minute}: agent RSS ${rss.toFixed(1)} MB`);
      }
      await work.status;
      return (Date.now() - started) / 1000;
    });
    return { minutes, samples, events: run.events, drops: run.drops };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
