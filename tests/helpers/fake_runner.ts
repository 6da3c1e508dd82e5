/**
 * A stand-in for the GitHub runner, to drive the Action's pre, main and
 * post steps as the runner does: a long-lived process named
 * `Runner.Worker` (the built-in policy's scope root) whose direct children
 * are the steps, `node action/<step>.mjs` with the INPUT_* variables,
 * the file-command files (GITHUB_STATE, GITHUB_ENV, GITHUB_OUTPUT, one
 * GITHUB_STEP_SUMMARY per step), RUNNER_TEMP and GITHUB_WORKSPACE, and the
 * STATE_* variables read back from GITHUB_STATE for the later steps.
 *
 * @module
 */

/** Splits a text stream into lines. */
function lines(): TransformStream<string, string> {
  let rest = "";
  return new TransformStream({
    transform(chunk, controller) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      for (const line of parts) controller.enqueue(line);
    },
    flush(controller) {
      if (rest) controller.enqueue(rest);
    },
  });
}

/** What a step did. */
export interface StepResult {
  code: number;
  stdout: string;
  stderr: string;
  /** The step's own GITHUB_STEP_SUMMARY file's text. */
  summary: string;
}

/** Shell single quotes around any text (newlines included). */
function quote(text: string): string {
  return `'${text.replace(/'/g, `'\\''`)}'`;
}

/** A fake runner worker with its job's directories. */
export class FakeRunner {
  readonly dir: string;
  readonly temp: string;
  readonly workspace: string;
  readonly stateFile: string;
  readonly worker: Deno.ChildProcess;
  readonly #lines: ReadableStreamDefaultReader<string>;
  readonly #stdin: WritableStreamDefaultWriter<Uint8Array>;
  #steps = 0;

  private constructor(dir: string, worker: Deno.ChildProcess) {
    this.dir = dir;
    this.temp = `${dir}/_temp`;
    this.workspace = `${dir}/work`;
    this.stateFile = `${dir}/_temp/_runner_file_commands/state`;
    this.worker = worker;
    this.#lines = worker.stdout.pipeThrough(new TextDecoderStream())
      .pipeThrough(lines()).getReader();
    this.#stdin = worker.stdin.getWriter();
  }

  /** Starts the worker (a copy of bash named Runner.Worker) in `dir`. */
  static async start(dir: string): Promise<FakeRunner> {
    const worker = `${dir}/Runner.Worker`;
    await Deno.copyFile("/bin/bash", worker);
    await Deno.chmod(worker, 0o755);
    for (const sub of ["_temp/_runner_file_commands", "work"]) {
      await Deno.mkdir(`${dir}/${sub}`, { recursive: true });
    }
    await Deno.writeTextFile(`${dir}/_temp/_runner_file_commands/state`, "");
    const child = new Deno.Command(worker, {
      args: [
        "--noprofile",
        "--norc",
        "-c",
        // Each line names a step's launcher, run as a direct child.
        'while IFS= read -r step; do /bin/bash "$step"; echo "__done $?"; done',
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "inherit",
      env: { PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin" },
      clearEnv: true,
    }).spawn();
    return new FakeRunner(dir, child);
  }

  /** The STATE_* variables the steps so far saved. */
  async state(): Promise<Record<string, string>> {
    const state: Record<string, string> = {};
    for (const line of (await Deno.readTextFile(this.stateFile)).split("\n")) {
      const at = line.indexOf("=");
      if (at > 0) state[`STATE_${line.slice(0, at)}`] = line.slice(at + 1);
    }
    return state;
  }

  /**
   * Runs `command` (a shell command line) as a step: `exec`ed by the
   * worker's child, so that its process is the worker's direct child.
   */
  async step(
    command: string,
    env: Record<string, string> = {},
  ): Promise<StepResult> {
    const n = ++this.#steps;
    const files = `${this.temp}/_runner_file_commands`;
    const summary = `${files}/step_summary_${n}`;
    await Deno.writeTextFile(summary, "");
    for (const name of ["env", "output"]) {
      await Deno.writeTextFile(`${files}/${name}_${n}`, "");
    }
    const all: Record<string, string> = {
      PATH: Deno.env.get("PATH") ?? "/usr/bin:/bin",
      HOME: Deno.env.get("HOME") ?? "/root",
      CI: "true",
      GITHUB_ACTIONS: "true",
      GITHUB_JOB: "build",
      RUNNER_TEMP: this.temp,
      GITHUB_WORKSPACE: this.workspace,
      GITHUB_STATE: this.stateFile,
      GITHUB_ENV: `${files}/env_${n}`,
      GITHUB_OUTPUT: `${files}/output_${n}`,
      GITHUB_STEP_SUMMARY: summary,
      ...await this.state(),
      ...env,
    };
    const stdout = `${this.dir}/step_${n}.out`;
    const stderr = `${this.dir}/step_${n}.err`;
    const launcher = `${this.dir}/step_${n}.sh`;
    await Deno.writeTextFile(
      launcher,
      [
        `cd ${quote(this.workspace)}`,
        `exec >${quote(stdout)} 2>${quote(stderr)}`,
        // env(1): the runner's INPUT_ names keep their hyphens, which a
        // shell cannot export.
        `exec env -i ${
          Object.entries(all).map(([k, v]) => quote(`${k}=${v}`)).join(" ")
        } ${command}`,
        "",
      ].join("\n"),
    );
    await this.#stdin.write(new TextEncoder().encode(`${launcher}\n`));
    for (;;) {
      const { value, done } = await this.#lines.read();
      if (done) throw new Error("the fake Runner.Worker exited");
      const match = /^__done (\d+)$/.exec(value);
      if (match) {
        return {
          code: Number(match[1]),
          stdout: await Deno.readTextFile(stdout),
          stderr: await Deno.readTextFile(stderr),
          summary: await Deno.readTextFile(summary),
        };
      }
    }
  }

  /** A step running `node action/<name>.mjs` of `root` with inputs. */
  action(
    root: string,
    name: "pre" | "main" | "post",
    inputs: Record<string, string>,
    extra: Record<string, string> = {},
  ): Promise<StepResult> {
    const env: Record<string, string> = { ...extra };
    for (const [key, value] of Object.entries(inputs)) {
      env[`INPUT_${key.toUpperCase()}`] = value;
    }
    return this.step(`node ${quote(`${root}action/${name}.mjs`)}`, env);
  }

  /** Ends the worker. */
  async close(): Promise<void> {
    try {
      await this.#stdin.close();
    } catch { /* closed */ }
    try {
      this.worker.kill("SIGKILL");
    } catch { /* gone */ }
    await this.worker.status;
    await this.worker.stdout.cancel().catch(() => {});
  }
}
