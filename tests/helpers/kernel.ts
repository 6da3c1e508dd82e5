/**
 * Registers tests that need the real kernel. Without root or BTF they skip
 * with a printed reason; under CI (CI=true) they must run, so they fail.
 *
 * @module
 */

import { AGENT_V8_FLAGS } from "../../scripts/_dist.ts";

function missingRequirement(): string | undefined {
  if (Deno.uid() !== 0) return "not running as root";
  try {
    Deno.statSync("/sys/kernel/btf/vmlinux");
  } catch {
    return "the kernel has no BTF (/sys/kernel/btf/vmlinux)";
  }
  return undefined;
}

/** Deno.test for a test that loads BPF programs. */
export function kernelTest(name: string, fn: () => Promise<void> | void): void {
  const missing = missingRequirement();
  if (missing && Deno.env.get("CI") !== "true") {
    console.log(`skipping kernel test "${name}": ${missing}`);
    Deno.test({ name, ignore: true, fn });
    return;
  }
  Deno.test({
    name,
    fn: missing
      ? () => {
        throw new Error(`kernel test cannot run in CI: ${missing}`);
      }
      : fn,
    // FFI pointers and the pump's pending poll are released by stop(), not
    // within a test's own op accounting.
    sanitizeOps: false,
    sanitizeResources: false,
  });
}

/**
 * A copy of bash under `name` in `dir`, so that a policy can make exactly
 * the workload the scope root.
 */
export async function rootShell(dir: string, name: string): Promise<string> {
  const shell = `${dir}/${name}`;
  await Deno.copyFile("/bin/bash", shell);
  await Deno.chmod(shell, 0o755);
  return shell;
}

/** The repository root, for running main.ts as a subprocess. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** The deno binary running these tests. */
export const DENO = Deno.execPath();

/** The names of the BPF programs loaded in the kernel (bpftool). */
export async function attachedPrograms(): Promise<string[]> {
  const output = await new Deno.Command("bpftool", {
    args: ["-j", "prog", "list"],
    stdout: "piped",
  }).output();
  const programs = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    name?: string;
  }[];
  return programs.map((program) => program.name ?? "");
}

/**
 * The programs loaded now and not `before` (by name and count), once the
 * kernel has had up to 5 s to free closed ones: it frees programs after an
 * RCU grace period.
 */
export async function programsLeftSince(before: string[]): Promise<string[]> {
  const count = (list: string[], name: string) =>
    list.filter((entry) => entry === name).length;
  let leftover: string[] = [];
  for (let attempt = 0; attempt < 50; attempt++) {
    const after = await attachedPrograms();
    leftover = [...new Set(after)].filter((name) =>
      count(after, name) > count(before, name)
    );
    if (!leftover.length) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return leftover;
}

/**
 * The fastest exec workload this machine can run: `bench/exec_burst.c`
 * (`exec_burst N PROGRAM`, N posix_spawns one after the other) and
 * `bench/exit0.c` (a program that only exits, linked without libc), built
 * with clang into `dir`. Either the two paths, or why they could not be
 * built.
 */
export async function buildExecBurst(
  dir: string,
): Promise<{ driver: string; program: string } | { error: string }> {
  const driver = `${dir}/exec_burst`, program = `${dir}/exit0`;
  const builds = [
    ["-O2", "-o", driver, `${ROOT}bench/exec_burst.c`],
    ["-O2", "-static", "-nostdlib", "-o", program, `${ROOT}bench/exit0.c`],
  ];
  for (const args of builds) {
    const error = await clang(args);
    if (error) return { error };
  }
  return { driver, program };
}

/** Runs clang with `args` (the source last): why it failed, or undefined. */
export async function clang(args: string[]): Promise<string | undefined> {
  try {
    const output = await new Deno.Command("clang", { args }).output();
    if (output.success) return undefined;
    const stderr = new TextDecoder().decode(output.stderr).trim();
    return `clang ${args.at(-1)}: ${stderr.split("\n")[0]}`;
  } catch (error) {
    return `clang: ${(error as Error).message}`;
  }
}

/** Runs `ringfence ARGS` as a subprocess and collects its output. */
export async function ringfence(
  args: string[],
  options: {
    stdin?: "null" | "piped";
    /** A command the agent runs under, e.g. `ip netns exec NAME`. */
    wrap?: string[];
  } = {},
): Promise<{ code: number; stdout: string; stderr: string; pid: number }> {
  const command = [
    ...(options.wrap ?? []),
    DENO,
    "run",
    "-A",
    `${ROOT}main.ts`,
    ...args,
  ];
  const child = new Deno.Command(command[0], {
    args: command.slice(1),
    stdin: options.stdin ?? "null",
    stdout: "piped",
    stderr: "piped",
    cwd: ROOT,
  }).spawn();
  const output = await child.output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
    pid: child.pid,
  };
}

/**
 * `ringfence run` with `dir`'s policy.yaml, its events to events.jsonl and
 * its report to report.md there, up to the `--` before the command.
 */
export function runInDir(dir: string): string[] {
  return [
    "run",
    "--policy",
    `${dir}/policy.yaml`,
    "--output",
    `${dir}/events.jsonl`,
    "--report",
    `${dir}/report.md`,
    "--",
  ];
}

/**
 * The arguments of `ringfence run` for a shell script, its events to
 * /dev/null: what a test needs when it asserts on the command and the agent.
 */
export function runShellArgs(script: string): string[] {
  return ["run", "--output", "/dev/null", "--", "/bin/sh", "-c", script];
}

/** Reads a JSON-lines file into objects. */
export async function readJsonLines<T = Record<string, unknown>>(
  path: string,
): Promise<T[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

/** A `ringfence start` running in the background. */
export interface RunningAgent {
  /** The agent's pid. */
  readonly pid: number;
  /** Everything the agent printed on stderr so far. */
  stderr(): string;
  /** Waits until stderr contains `text`; fails with what it printed. */
  waitFor(text: string, timeoutMs?: number): Promise<void>;
  /** Sends a signal to the agent. */
  kill(signal: Deno.Signal): void;
  /** SIGTERM, then the exit code and the whole stderr. */
  stop(): Promise<{ code: number; stderr: string }>;
}

let bundled: Promise<string> | undefined;

/** Builds dist/ringfence.js (`deno task bundle`) once per test run. */
export function builtBundle(): Promise<string> {
  bundled ??= (async () => {
    const output = await new Deno.Command(DENO, {
      args: ["run", "-A", `${ROOT}scripts/bundle.ts`],
      cwd: ROOT,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(
        `deno task bundle failed: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
    return `${ROOT}dist/ringfence.js`;
  })();
  return bundled;
}

/**
 * Starts `ringfence start ARGS` and waits until it says it is armed; from
 * source, or from `entry` (the bundle, say).
 */
export async function startAgent(
  args: string[],
  entry = `${ROOT}main.ts`,
): Promise<RunningAgent> {
  const child = new Deno.Command(DENO, {
    args: [
      "run",
      "-A",
      `--v8-flags=${AGENT_V8_FLAGS}`,
      entry,
      "start",
      ...args,
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let text = "";
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of child.stderr) text += decoder.decode(chunk);
  })();
  const agent: RunningAgent = {
    pid: child.pid,
    stderr: () => text,
    async waitFor(wanted, timeoutMs = 10_000) {
      const deadline = Date.now() + timeoutMs;
      while (!text.includes(wanted) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      if (!text.includes(wanted)) {
        throw new Error(`agent never printed "${wanted}"; stderr: ${text}`);
      }
    },
    kill: (signal) => child.kill(signal),
    async stop() {
      try {
        child.kill("SIGTERM");
      } catch { /* already gone */ }
      const { code } = await child.status;
      await reading;
      return { code, stderr: text };
    },
  };
  // The armed line comes just before the ready file: a caller that passed
  // one may read it as soon as this returns.
  const readyFile = args[args.indexOf("--ready-file") + 1];
  try {
    await agent.waitFor("armed after");
    const deadline = Date.now() + 10_000;
    while (args.includes("--ready-file") && !await exists(readyFile)) {
      if (Date.now() > deadline) throw new Error(`no ready file: ${text}`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  } catch (error) {
    await agent.stop();
    throw error;
  }
  return agent;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
