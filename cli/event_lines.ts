/**
 * The lines of an events file, streamed: a job's file can be hundreds of
 * megabytes, and `stop` and `report` need one line at a time, never the
 * whole text.
 *
 * @module
 */

/** Lines longer than this in an events file are no event of the agent's. */
export const LINE_MAX = 1 << 20;

/**
 * Opens `path` when it is a regular file. A symlink a step left is not
 * followed; `notRegular` hears why such a path is not read. Undefined when
 * the file is absent, unreadable or not regular.
 */
export async function openRegular(
  path: string,
  notRegular?: (path: string) => void,
): Promise<Deno.FsFile | undefined> {
  try {
    if (!Deno.lstatSync(path).isFile) {
      notRegular?.(path);
      return undefined;
    }
    return await Deno.open(path);
  } catch {
    return undefined;
  }
}

/**
 * Calls `take` with each line of `file` (without its newline) and its
 * number, and closes the file. A line longer than LINE_MAX is handed on
 * cut, in pieces no event parses as; the last line may lack its newline
 * (an agent killed mid-line).
 */
export async function forEachLine(
  file: Deno.FsFile,
  take: (line: string, lineNumber: number) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  let pending = "";
  let lineNumber = 0;
  for await (const chunk of file.readable) {
    pending += decoder.decode(chunk, { stream: true });
    let start = 0;
    let newline: number;
    while ((newline = pending.indexOf("\n", start)) !== -1) {
      take(pending.slice(start, newline), ++lineNumber);
      start = newline + 1;
    }
    pending = pending.slice(start);
    if (pending.length > LINE_MAX) {
      take(pending, ++lineNumber);
      pending = "";
    }
  }
  pending += decoder.decode();
  if (pending) take(pending, ++lineNumber);
}
