/**
 * Drives tests/helpers/fake_root.py, a stand-in for a scope root (the
 * runner, dockerd, containerd): one command at a time on its stdin, its
 * answer read back up to "done".
 *
 * @module
 */

/** Where the fake root's program is. */
export const FAKE_ROOT = new URL("./fake_root.py", import.meta.url).pathname;

/** A line reader over a child's stdout that keeps what it read ahead. */
export class LineReader {
  readonly #reader: ReadableStreamDefaultReader<string>;
  #buffer = "";

  /** Reads `child`'s stdout from now on. */
  constructor(child: Deno.ChildProcess) {
    this.#reader = child.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
  }

  /** The next line; rejects when the stream ends first. */
  async line(): Promise<string> {
    while (!this.#buffer.includes("\n")) {
      const { value, done } = await this.#reader.read();
      if (done) throw new Error(`stdout ended after ${this.#buffer}`);
      this.#buffer += value;
    }
    const end = this.#buffer.indexOf("\n");
    const line = this.#buffer.slice(0, end);
    this.#buffer = this.#buffer.slice(end + 1);
    return line;
  }

  /** The lines up to (not including) "done". */
  async untilDone(): Promise<string[]> {
    const lines: string[] = [];
    for (
      let line = await this.line();
      line !== "done";
      line = await this.line()
    ) {
      lines.push(line);
    }
    return lines;
  }

  /** Stops reading. */
  async cancel(): Promise<void> {
    await this.#reader.cancel().catch(() => {});
  }
}

/** A fake root fed commands on stdin. */
export class FakeRoot {
  readonly child: Deno.ChildProcess;
  readonly #out: LineReader;
  readonly #in: WritableStreamDefaultWriter<Uint8Array>;

  /** Wraps a spawned fake_root.py (stdin and stdout piped). */
  constructor(child: Deno.ChildProcess) {
    this.child = child;
    this.#out = new LineReader(child);
    this.#in = child.stdin.getWriter();
  }

  /** Its pid. */
  get pid(): number {
    return this.child.pid;
  }

  /** Waits for "ready". */
  async ready(): Promise<void> {
    const line = await this.#out.line();
    if (line !== "ready") throw new Error(`fake root said ${line}`);
  }

  /** Runs one command ("self tcp HOST PORT", ...); its output lines. */
  async run(...words: string[]): Promise<string[]> {
    await this.#in.write(new TextEncoder().encode(words.join(" ") + "\n"));
    return await this.#out.untilDone();
  }

  /** Ends it. */
  async close(): Promise<void> {
    await this.#in.close().catch(() => {});
    try {
      this.child.kill("SIGKILL");
    } catch { /* gone */ }
    await this.child.status;
    await this.#out.cancel();
    try {
      await this.child.stderr.cancel();
    } catch { /* not piped */ }
  }
}
