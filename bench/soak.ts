/**
 * The soak: the agent under a steady, modest load (20 execs, 50 connects
 * and 100 file events a second) for BENCH_SOAK_MINUTES (default 60), its
 * resident memory sampled at 1, 10, 30 and 60 minutes (those within the
 * duration). Memory that levels off stays within a few MB of the 10-minute
 * figure; a leak keeps climbing.
 *
 * @module
 */

import { AGENT_ENTRY } from "./_agent.ts";
import { AGENT_V8_FLAGS } from "../scripts/_dist.ts";

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
    const ready = `${dir}/ready`;
    const agent = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `--v8-flags=${AGENT_V8_FLAGS}`,
        AGENT_ENTRY.source,
        "start",
        "--policy",
        policy,
        "--output",
        "/dev/null",
        "--ready-file",
        ready,
        "--state-dir",
        `${dir}/state`,
      ],
      stderr: "piped",
    }).spawn();
    while (!(await Deno.stat(ready).then(() => true, () => false))) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const started = Date.now();
    const work = new Deno.Command(`${dir}/rfsoak`, {
      args: [WORKLOAD, String(minutes), `${dir}/work`],
    }).spawn();
    const samples: SoakSample[] = [];
    for (const minute of [1, 10, 30, 60].filter((mark) => mark <= minutes)) {
      const wait = started + minute * 60_000 - Date.now();
      await new Promise((resolve) => setTimeout(resolve, Math.max(0, wait)));
      const status = await Deno.readTextFile(`/proc/${agent.pid}/status`);
      const rss = Number(status.match(/VmRSS:\s+(\d+)/)![1]) / 1024;
      samples.push({ minute, rssMb: rss });
      console.log(`soak: minute ${minute}: agent RSS ${rss.toFixed(1)} MB`);
    }
    await work.status;
    agent.kill("SIGTERM");
    const stderr = new TextDecoder().decode((await agent.output()).stderr);
    const number = (pattern: RegExp) =>
      Number(stderr.match(pattern)?.[1] ?? NaN);
    return {
      minutes,
      samples,
      events: number(/(\d+) events/),
      drops: number(/(\d+) dropped/),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
