/**
 * Registers tests that need the real kernel. Without root or BTF they skip
 * with a printed reason; under CI (CI=true) they must run, so they fail.
 *
 * @module
 */

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

/** The repository root, for running main.ts as a subprocess. */
export const ROOT = new URL("../../", import.meta.url).pathname;

/** The deno binary running these tests. */
export const DENO = Deno.execPath();

/** Runs `ringfence ARGS` as a subprocess and collects its output. */
export async function ringfence(
  args: string[],
  options: { stdin?: "null" | "piped" } = {},
): Promise<{ code: number; stdout: string; stderr: string; pid: number }> {
  const child = new Deno.Command(DENO, {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
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

/** Reads a JSON-lines file into objects. */
export async function readJsonLines<T = Record<string, unknown>>(
  path: string,
): Promise<T[]> {
  const text = await Deno.readTextFile(path);
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}
