/**
 * `deno task compile [--target x86_64|aarch64]...`: self-contained
 * executables, `dist/ringfence-x86_64-linux` and
 * `dist/ringfence-aarch64-linux`, with the sensors, the default policy and
 * the carried libbpf inside (the same module graph as the bundle).
 *
 * `deno compile` needs `denort`, Deno's runtime without the tooling, for
 * each target and the exact Deno version. It downloads it from Deno's
 * release host, or takes:
 * - `DENORT_BIN_X86_64` / `DENORT_BIN_AARCH64`: a denort per target;
 * - `DENORT_BIN`: a denort for the target of its own architecture (read
 *   from its ELF header);
 * - a cached `denort-<target>.zip` in `$DENO_DIR/dl/release/v<version>/`.
 * A target whose denort cannot be had is reported in one line and skipped;
 * the task fails only when no target was built.
 *
 * The libraries carried for hosts without libbpf are the build machine's:
 * build each target on a machine of its architecture (the release workflow
 * does) or its binary falls back to the host's libbpf only.
 *
 * @module
 */

import { join } from "./_paths.ts";
import { AGENT_V8_FLAGS, DIST, requireBuild, ROOT } from "./_dist.ts";

interface Target {
  arch: "x86_64" | "aarch64";
  triple: string;
  output: string;
}

const TARGETS: Target[] = [
  {
    arch: "x86_64",
    triple: "x86_64-unknown-linux-gnu",
    output: "ringfence-x86_64-linux",
  },
  {
    arch: "aarch64",
    triple: "aarch64-unknown-linux-gnu",
    output: "ringfence-aarch64-linux",
  },
];

function elfArch(path: string): string | undefined {
  try {
    const file = Deno.openSync(path);
    const header = new Uint8Array(20);
    file.readSync(header);
    file.close();
    const machine = header[18] | (header[19] << 8);
    return machine === 62 ? "x86_64" : machine === 183 ? "aarch64" : undefined;
  } catch {
    return undefined;
  }
}

function selectedTargets(args: string[]): Target[] {
  const wanted: string[] = [];
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--target") wanted.push(args[++i] ?? "");
    else if (args[i].startsWith("--target=")) wanted.push(args[i].slice(9));
    else {
      console.error(
        `ringfence compile: unknown argument ${
          args[i]
        } (use --target x86_64|aarch64)`,
      );
      Deno.exit(2);
    }
  }
  if (!wanted.length) return TARGETS;
  return wanted.map((name) => {
    const target = TARGETS.find((t) => t.arch === name || t.triple === name);
    if (!target) {
      console.error(
        `ringfence compile: unknown target ${name} (x86_64, aarch64, or their triples)`,
      );
      Deno.exit(2);
    }
    return target;
  });
}

/** The denort to use for `target`, if one was given. */
function denortFor(target: Target): string | undefined {
  const specific = Deno.env.get(`DENORT_BIN_${target.arch.toUpperCase()}`);
  if (specific) return specific;
  const generic = Deno.env.get("DENORT_BIN");
  if (!generic) return undefined;
  const arch = elfArch(generic) ?? Deno.build.arch;
  return arch === target.arch ? generic : undefined;
}

function denoDir(): string {
  return Deno.env.get("DENO_DIR") ??
    join(
      Deno.env.get("XDG_CACHE_HOME") ??
        join(Deno.env.get("HOME") ?? "", ".cache"),
      "deno",
    );
}

requireBuild("compile");
await Deno.mkdir(DIST, { recursive: true });
const version = Deno.version.deno;
const carriedArch = elfArch(join(ROOT, "bpf/build/lib/libbpf.so.1"));
const built: string[] = [];
for (const target of selectedTargets(Deno.args)) {
  const output = join(DIST, target.output);
  const env: Record<string, string> = { NO_COLOR: "1" };
  const denort = denortFor(target);
  if (denort) env.DENORT_BIN = denort;
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      "compile",
      "--quiet",
      "--no-check", // `deno task check` type-checks the same graph
      "-A",
      `--v8-flags=${AGENT_V8_FLAGS}`,
      "--target",
      target.triple,
      "--output",
      output,
      join(ROOT, "main.ts"),
    ],
    cwd: ROOT,
    env,
    clearEnv: false,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stderr = new TextDecoder().decode(result.stderr);
  if (result.success) {
    built.push(output);
    const note = carriedArch && carriedArch !== target.arch
      ? ` (its carried libbpf is ${carriedArch}: it will use the host's libbpf only; build it on ${target.arch} to carry one)`
      : "";
    console.log(`compiled dist/${target.output}${note}`);
  } else if (
    !denort && /denort|dl\.deno\.land|error sending request/.test(stderr)
  ) {
    console.error(
      `ringfence compile: ${target.triple}: denort ${version} for this target cannot be downloaded here; provide it with DENORT_BIN=/path/to/denort (or DENORT_BIN_${target.arch.toUpperCase()}) or put denort-${target.triple}.zip in ${denoDir()}/dl/release/v${version}/`,
    );
  } else {
    const reason = stderr.split("\n").map((line) => line.trim()).filter(
      (line) => line && !/^Stack backtrace|^\d+: <unknown>/.test(line),
    );
    console.error(
      `ringfence compile: ${target.triple}: ${reason.slice(0, 3).join(" / ")}`,
    );
  }
}
if (!built.length) {
  console.error("ringfence compile: no target was built");
  Deno.exit(1);
}
