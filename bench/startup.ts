/**
 * Start-up: milliseconds from the agent process's start until its sensors
 * are armed, and its peak RSS after a small workload, for the agent run
 * from source and from the bundle (`deno task bundle`) that users download.
 *
 * @module
 */

import {
  AGENT_ENTRY,
  type AgentForm,
  type AgentRun,
  median,
  rootShell,
  timed,
  withAgent,
} from "./_agent.ts";
import { AGENT_V8_FLAGS } from "../scripts/_dist.ts";

const ROOT = new URL("../", import.meta.url).pathname;

/**
 * Deno alone, the baseline: a script that writes its ready file and waits,
 * started as the agent is (same Deno, same V8 flags).
 */
export interface DenoBaseline {
  /** Wall-clock milliseconds from spawn until its ready file exists. */
  readyAfterSpawnMs: number;
  /** Its peak RSS. */
  peakRssMb: number;
  /** Wall-clock milliseconds from spawn to exit of an empty script. */
  exitAfterSpawnMs: number;
}

const IDLE_SCRIPT =
  "await Deno.writeTextFile(Deno.args[0], `${Deno.pid}\\n`); setInterval(() => {}, 1000);";

/** Starts Deno alone `starts` times; the median ready time, the max RSS. */
async function denoAlone(dir: string, starts: number): Promise<DenoBaseline> {
  const script = `${dir}/idle.js`;
  await Deno.writeTextFile(script, IDLE_SCRIPT);
  const ready: number[] = [], rss: number[] = [];
  for (let start = 0; start <= starts; start++) {
    const file = `${dir}/idle.ready`;
    await Deno.remove(file).catch(() => {});
    const spawned = Date.now();
    const child = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--v8-flags=${AGENT_V8_FLAGS}`, script, file],
    }).spawn();
    while (!(await Deno.stat(file).then(() => true, () => false))) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const readyAt = (await Deno.stat(file)).mtime!.getTime();
    const status = await Deno.readTextFile(`/proc/${child.pid}/status`);
    child.kill("SIGKILL");
    await child.status;
    if (start === 0) continue; // the first warms the caches, as for the agent
    ready.push(readyAt - spawned);
    rss.push(Number(status.match(/VmHWM:\s+(\d+)/)![1]) / 1024);
  }
  const empty = `${dir}/empty.js`;
  await Deno.writeTextFile(empty, "");
  const exits: number[] = [];
  for (let start = 0; start <= starts; start++) {
    const spawned = performance.now();
    await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `--v8-flags=${AGENT_V8_FLAGS}`, empty],
    }).output();
    if (start > 0) exits.push(performance.now() - spawned);
  }
  return {
    readyAfterSpawnMs: median(ready),
    peakRssMb: Math.max(...rss),
    exitAfterSpawnMs: median(exits),
  };
}

/**
 * Wall-clock milliseconds of `ringfence run -- /bin/true`, spawn to exit:
 * what wrapping one command costs (start, the command, stop and summary).
 */
async function wrappedTrue(form: AgentForm): Promise<number> {
  const spawned = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      `--v8-flags=${AGENT_V8_FLAGS}`,
      AGENT_ENTRY[form],
      "run",
      "--output",
      "/dev/null",
      "--",
      "/bin/true",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `ringfence run failed: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return performance.now() - spawned;
}

/**
 * Figures per form: the first start (for the bundle, with an empty
 * DENO_DIR: what a freshly downloaded bundle pays once per machine, Deno's
 * analysis of the script and its code cache), and the `starts` after it.
 */
export type StartupResult =
  & Record<
    AgentForm,
    {
      first: AgentRun;
      runs: AgentRun[];
      /** Median wall-clock ms of `ringfence run -- /bin/true`. */
      wrappedTrueMs: number;
    }
  >
  & {
    deno: DenoBaseline;
    /**
     * Median armed ms from source with the shipped default policy, whose
     * `files` section adds sensor.file-system (three loads on two cores).
     */
    defaultPolicyArmedMs: number;
  };

/** Starts each form once, then `starts` more times, alternating. */
export async function startup(starts = 5): Promise<StartupResult> {
  const bundled = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", `${ROOT}scripts/bundle.ts`],
    stdout: "null",
  }).output();
  if (!bundled.success) throw new Error("deno task bundle failed");
  const dir = await Deno.makeTempDir({ prefix: "ringfence-bench-" });
  try {
    const shell = await rootShell(dir, "rfstartup");
    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      "version: 1\nscope:\n  processes: [rfstartup]\n",
    );
    const work = () =>
      timed(shell, "for ((i=0; i<200; i++)); do /bin/true; done");
    const runs: Record<AgentForm, AgentRun[]> = { source: [], bundle: [] };
    // The bundle's first start on a machine, as on a fresh CI runner: an
    // empty DENO_DIR, so Deno analyses and compiles the script from scratch
    // (a rebuilt bundle whose text is unchanged would find it all cached).
    const denoDir = `${dir}/deno-dir`;
    runs.bundle.push(
      await withAgent(policy, work, "bundle", "/dev/null", {
        DENO_DIR: denoDir,
      }),
    );
    runs.source.push(await withAgent(policy, work, "source"));
    // Not counted: the bundle's first start in the usual DENO_DIR, which
    // analyses it again whenever its text has changed since the last run.
    await withAgent(policy, work, "bundle");
    for (let start = 0; start < starts; start++) {
      for (const form of ["source", "bundle"] as const) {
        runs[form].push(await withAgent(policy, work, form));
      }
    }
    const wrapped: Record<AgentForm, number[]> = { source: [], bundle: [] };
    for (let start = 0; start < starts; start++) {
      for (const form of ["source", "bundle"] as const) {
        wrapped[form].push(await wrappedTrue(form));
      }
    }
    // A copy: withAgent writes its ready file beside the policy.
    const defaultPolicy = `${dir}/default.yaml`;
    await Deno.copyFile(`${ROOT}policy/default.yaml`, defaultPolicy);
    const defaults: number[] = [];
    for (let start = 0; start <= starts; start++) {
      const run = await withAgent(defaultPolicy, () => Promise.resolve(0));
      if (start > 0) defaults.push(run.armedMs); // the first warms the caches
    }
    const split = (form: AgentForm) => ({
      first: runs[form][0],
      runs: runs[form].slice(1),
      wrappedTrueMs: median(wrapped[form]),
    });
    return {
      source: split("source"),
      bundle: split("bundle"),
      deno: await denoAlone(dir, starts),
      defaultPolicyArmedMs: median(defaults),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
