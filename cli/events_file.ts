/**
 * Where `ringfence run` writes its events when `--output` does not say:
 * a file, so that the CI log keeps only the blocks, the kills and the
 * summary. Under CI with a runner temp directory
 * (`$RUNNER_TEMP/ringfence/events.jsonl`), else `./ringfence-events.jsonl`.
 *
 * @module
 */

/** The events file `run` writes by default in `env`. */
export function defaultEventsFile(
  env: Record<string, string | undefined> = Deno.env.toObject(),
  cwd: string = Deno.cwd(),
): string {
  const ci = env.GITHUB_ACTIONS === "true" || env.CI === "true";
  if (ci && env.RUNNER_TEMP) {
    return `${env.RUNNER_TEMP.replace(/\/+$/, "")}/ringfence/events.jsonl`;
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
