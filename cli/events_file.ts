/**
 * Where `ringfence run` writes its events when `--output` does not say:
 * a file, so that the CI log keeps only the blocks, the kills and the
 * summary. Under CI with a runner temp directory
 * (`$RUNNER_TEMP/ringfence/events.jsonl`), else `./ringfence-events.jsonl`.
 * When the Action or the runner hooks keep a running agent's state in
 * `$RUNNER_TEMP/ringfence` (its pid file is there), `run` writes to
 * `$RUNNER_TEMP/ringfence-run/events.jsonl` instead: that directory is the
 * agent's, and a write into it from a step is tampering.
 *
 * @module
 */

/** The events file `run` writes by default in `env`. */
export function defaultEventsFile(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  cwd: string = Deno.cwd(),
  exists: (path: string) => boolean = existsSync,
): string {
  const ci = env.GITHUB_ACTIONS === "true" || env.CI === "true";
  if (ci && env.RUNNER_TEMP) {
    const temp = env.RUNNER_TEMP.replace(/\/+$/, "");
    return exists(`${temp}/ringfence/ringfence.pid`)
      ? `${temp}/ringfence-run/events.jsonl`
      : `${temp}/ringfence/events.jsonl`;
  }
  return `${cwd}/ringfence-events.jsonl`;
}

/**
 * The default events file, its directory made: `$RUNNER_TEMP/ringfence`
 * may not exist yet. A directory made by root is given to the owner of
 * the directory it is in (the runner's user), who owns the rest of
 * `$RUNNER_TEMP`.
 */
export function prepareDefaultEventsFile(): string {
  const path = defaultEventsFile();
  const dir = path.slice(0, path.lastIndexOf("/"));
  try {
    Deno.statSync(dir);
  } catch {
    Deno.mkdirSync(dir, { recursive: true });
    if (Deno.uid() === 0) {
      const parent = Deno.statSync(dir.slice(0, dir.lastIndexOf("/")) || "/");
      if (parent.uid !== null && parent.uid !== 0) {
        Deno.chownSync(dir, parent.uid, parent.gid);
      }
    }
  }
  return path;
}

function existsSync(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
