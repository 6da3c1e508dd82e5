/**
 * The state directory of `ringfence start`: its pid file, which
 * `ringfence stop` signals, and the report it saves at stop for `stop` to
 * publish; the exporters spool there too. The runner hooks
 * (scripts/runner-hooks/) and the GitHub Action keep the events, the
 * agent's log and its readiness file in the same directory, found by the
 * same rule: one directory per job for everything.
 *
 * @module
 */

import type { Report } from "../report/types.ts";

const log = (message: string) => console.error(`ringfence: ${message}`);

/**
 * The state directory: $RINGFENCE_STATE_DIR; else, on a GitHub runner,
 * $RUNNER_TEMP/ringfence (the job's own temporary directory); else
 * /var/lib/ringfence. scripts/runner-hooks/ and action/ use this rule too.
 */
export function stateDir(
  env: (name: string) => string | undefined = (name) => Deno.env.get(name),
): string {
  const explicit = env("RINGFENCE_STATE_DIR");
  if (explicit) return explicit;
  const temp = env("RUNNER_TEMP");
  return temp ? `${temp.replace(/\/+$/, "")}/ringfence` : "/var/lib/ringfence";
}

/** Files kept in the state directory, by whoever writes them. */
export function stateFiles(dir: string = stateDir()): {
  pid: string;
  report: string;
  json: string;
  events: string;
  log: string;
  ready: string;
} {
  return {
    // `ringfence start`'s.
    pid: `${dir}/ringfence.pid`,
    report: `${dir}/report.md`,
    json: `${dir}/report.json`,
    // The hooks' (job-started.sh passes them to `start`).
    events: `${dir}/events.jsonl`,
    log: `${dir}/agent.log`,
    ready: `${dir}/ready`,
  };
}

/**
 * Records this process's pid in `path` (the state directory's pid file by
 * default). `ringfence stop` trusts the agent's root-only record, not this
 * file: it is kept for scripts, and compared with the record.
 */
export function writePidFile(
  dir: string,
  path: string = stateFiles(dir).pid,
): void {
  try {
    Deno.mkdirSync(dir, { recursive: true });
  } catch { /* the write below says why */ }
  try {
    // A fresh file: whatever a step left under the name (a symlink
    // somewhere else) is not followed.
    Deno.removeSync(path);
  } catch { /* absent */ }
  try {
    Deno.writeTextFileSync(path, `${Deno.pid}\n`, { createNew: true });
  } catch (error) {
    log(
      `cannot write ${path} (kept for scripts only): ${
        (error as Error).message
      }`,
    );
  }
}

/**
 * Saves the report (its markdown and JSON) for `ringfence stop` to publish,
 * and removes the pid file: the agent is gone.
 */
export async function saveReport(
  dir: string,
  report: Report,
  markdown: string,
  pidFile: string = stateFiles(dir).pid,
): Promise<void> {
  const files = stateFiles(dir);
  try {
    await Deno.mkdir(dir, { recursive: true });
    await Deno.writeTextFile(files.report, markdown);
    await Deno.writeTextFile(files.json, JSON.stringify(report, null, 2));
  } catch (error) {
    log(`cannot save the report: ${(error as Error).message}`);
  }
  await Deno.remove(pidFile).catch(() => {});
}
