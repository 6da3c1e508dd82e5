/**
 * Distribution: the bundle and the compiled binary run alone from an empty
 * directory with the sensors inside; libbpf loads from memory on a host
 * without it; the installer checks what it installs; the runner hooks watch
 * a job and leave nothing behind; `ringfence doctor` reports the host.
 */
import assert from "node:assert/strict";
import { AGENT_V8_FLAGS } from "../scripts/_dist.ts";
import { elfArchitecture } from "../sensors/elf.ts";
import { libbpfCandidates } from "../sensors/libbpf_loader.ts";
import {
  EAGER_REQUIRE,
  JS_BASE64_DECODER,
  lazyNodeRequire,
  nativeBase64,
} from "../scripts/bundle.ts";
import {
  builtBundle,
  DENO,
  kernelTest,
  readJsonLines,
  ROOT,
  rootShell,
  runShellArgs,
} from "./helpers/kernel.ts";

const decoder = new TextDecoder();

interface Output {
  code: number;
  stdout: string;
  stderr: string;
}

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Output> {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

function assertOk(output: Output, what: string): void {
  assert.equal(
    output.code,
    0,
    `${what} exited ${output.code}\nstdout: ${output.stdout}\nstderr: ${output.stderr}`,
  );
}

/** Builds dist/ringfence.js once per test run. */
const bundle = builtBundle;

interface ExecEvent {
  kind: string;
  path?: string;
  argv?: string[];
}

function assertExecReported(events: ExecEvent[], path: string): void {
  assert.ok(
    events.some((event) => event.kind === "exec" && event.path === path),
    `no exec of ${path} in ${JSON.stringify(events)}`,
  );
}

/** The real files behind the host's libbpf, libelf and zlib. */
async function hostLibraryFiles(): Promise<string[]> {
  const multiarch = Deno.build.arch === "aarch64"
    ? "aarch64-linux-gnu"
    : "x86_64-linux-gnu";
  const files = new Set<string>();
  for (const soname of ["libbpf.so.1", "libelf.so.1", "libz.so.1"]) {
    for (const directory of [`/usr/lib/${multiarch}`, `/lib/${multiarch}`]) {
      try {
        files.add(await Deno.realPath(`${directory}/${soname}`));
      } catch { /* not there */ }
    }
  }
  return [...files];
}

/**
 * Runs a command in a private mount namespace where the host's libbpf,
 * libelf and zlib are empty files: the dynamic loader cannot use them.
 */
async function withoutHostLibbpf(
  command: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<Output> {
  const hide = (await hostLibraryFiles()).map((file) =>
    `mount --bind /dev/null '${file}' || exit 97;`
  ).join(" ");
  const quoted = command.map((part) => `'${part}'`).join(" ");
  return await run("unshare", [
    "-m",
    "sh",
    "-c",
    `mount --make-rprivate / && ${hide} exec ${quoted}`,
  ], options);
}

Deno.test("the bundle imports no Node module and carries gRPC and OTLP packed apart", async () => {
  const bundleText = await Deno.readTextFile(await bundle());
  assert.doesNotMatch(bundleText, /^import .* from "node:/m);
  // The optional exporters' code is not in the text Deno analyses and V8
  // holds: it is a gzipped string, imported when a policy asks for it (the
  // exporters test runs gRPC and OTLP from this bundle).
  for (const marker of ["grpc-status", "opentelemetry", "__require"]) {
    assert.ok(!bundleText.includes(marker), `${marker} in the bundle`);
  }
  // Minified, one byte per character for V8, native base64 for the sensors.
  assert.doesNotMatch(bundleText, /^\/\/ agent\/agent\.ts$/m);
  assert.doesNotMatch(bundleText, /[\u0080-\uffff]/);
  assert.match(bundleText, /Uint8Array\.fromBase64\(/);
});

Deno.test("nativeBase64() decodes natively and as the bundler did", async () => {
  const bytes = new Uint8Array([0, 1, 2, 250, 251, 252, 253]);
  const bundler = `${JS_BASE64_DECODER}  var table = new Uint8Array(128);
  for (var i = 0; i < 64; i++) table[i < 26 ? i + 65 : i < 52 ? i + 71 : i < 62 ? i - 4 : i * 4 - 205] = i;
  return (base64) => {
    var n = base64.length, bytes = new Uint8Array((n - (base64[n - 1] == "=") - (base64[n - 2] == "=")) * 3 / 4 | 0);
    for (var i2 = 0, j = 0; i2 < n; ) {
      var c0 = table[base64.charCodeAt(i2++)], c1 = table[base64.charCodeAt(i2++)];
      var c2 = table[base64.charCodeAt(i2++)], c3 = table[base64.charCodeAt(i2++)];
      bytes[j++] = c0 << 2 | c1 >> 4;
      bytes[j++] = c1 << 4 | c2 >> 2;
      bytes[j++] = c2 << 6 | c3;
    }
    return bytes;
  };
})();
export const decoded = __toBinary("${btoa(String.fromCharCode(...bytes))}");
`;
  for (const source of [bundler, nativeBase64(bundler)]) {
    const module = await import(`data:text/javascript;base64,${btoa(source)}`);
    assert.deepEqual(module.decoded, bytes);
  }
  assert.throws(() => nativeBase64("var x = 1;\n"), /decoder has changed/);
});

Deno.test("lazyNodeRequire() makes a require that works when first called, from a data: URL too", async () => {
  const source = lazyNodeRequire(
    `${EAGER_REQUIRE}export const sep = () => __require("node:path").sep;\n`,
  );
  const dir = await Deno.makeTempDir();
  try {
    const file = `${dir}/bundle.js`;
    await Deno.writeTextFile(file, source);
    const { sep } = await import(`file://${file}`);
    assert.equal(sep(), "/");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  // How the bundle imports the optional exporters.
  const { sep } = await import(`data:text/javascript;base64,${btoa(source)}`);
  assert.equal(sep(), "/");
  assert.throws(
    () => lazyNodeRequire("var __require = somethingElse;\n"),
    /preamble has changed/,
  );
});

Deno.test("deno task start and run pass the agent's V8 flags", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${ROOT}deno.json`));
  for (const task of ["start", "run"]) {
    assert.match(
      config.tasks[task],
      new RegExp(` run -A --v8-flags=${AGENT_V8_FLAGS} main\\.ts `),
      `deno.json tasks.${task}`,
    );
  }
  const compile = await Deno.readTextFile(`${ROOT}scripts/compile.ts`);
  assert.match(compile, /`--v8-flags=\$\{AGENT_V8_FLAGS\}`/);
});

interface GraphModule {
  specifier: string;
  dependencies?: { code?: { specifier: string }; isDynamic?: boolean }[];
}

Deno.test("main.ts loads the YAML parser, the report's rendering, the exporters and the other commands only when first needed", async () => {
  const info = await run(DENO, ["info", "--json", `${ROOT}main.ts`]);
  assert.equal(info.code, 0, info.stderr);
  const modules = new Map<string, GraphModule>(
    (JSON.parse(info.stdout).modules as GraphModule[]).map((
      module,
    ) => [module.specifier, module]),
  );
  // What a start evaluates before its first line runs: the static imports.
  const eager = new Set<string>();
  const visit = (specifier: string) => {
    if (eager.has(specifier)) return;
    eager.add(specifier);
    for (const dependency of modules.get(specifier)?.dependencies ?? []) {
      if (dependency.code && !dependency.isDynamic) {
        visit(dependency.code.specifier);
      }
    }
  };
  visit(new URL("main.ts", `file://${ROOT}`).href);
  const relative = [...eager].map((specifier) =>
    specifier.replace(`file://${ROOT}`, "")
  );
  assert.ok(relative.includes("agent/agent.ts"), relative.join(" "));
  const lazy = [
    "cli/stop.ts",
    "cli/report.ts",
    "cli/doctor.ts",
    "cli/validate.ts",
    "cli/publish.ts",
    // The policy is parsed while the kernel verifies the sensors.
    "policy/parse.ts",
    "policy/yaml.ts",
    "policy/document.ts",
    "policy/sections.ts",
    "policy/exporters.ts",
    // Rendered at stop.
    "report/mod.ts",
    "report/markdown.ts",
    "report/json.ts",
    "report/suggest.ts",
    "policy/suggest.ts",
    // Opened only for a policy with exporters.
    "exporters/mod.ts",
    "exporters/webhook.ts",
    "exporters/http.ts",
    "exporters/queue.ts",
    "exporters/optional.ts",
    "exporters/grpc.ts",
    "exporters/otlp.ts",
  ];
  for (const path of lazy) {
    assert.ok(modules.has(`file://${ROOT}${path}`), `${path} is in the graph`);
  }
  assert.deepEqual(relative.filter((path) => lazy.includes(path)), []);
});

kernelTest(
  "the bundle alone in an empty directory runs a command and reports its exec",
  async () => {
    const source = await bundle();
    const dir = await Deno.makeTempDir();
    try {
      await Deno.copyFile(source, `${dir}/ringfence.js`);
      const result = await run(DENO, [
        "run",
        "-A",
        "ringfence.js",
        "run",
        "--output",
        "events.jsonl",
        "--",
        "/bin/true",
      ], { cwd: dir });
      assertOk(result, "ringfence.js run");
      assert.match(result.stderr, /^ringfence: 1 processes, .* exit 0$/m);
      assertExecReported(
        await readJsonLines(`${dir}/events.jsonl`),
        "/bin/true",
      );
      // Run as a program, its shebang starts Deno with the agent's V8 flags:
      // the command's parent is the agent, whose command line says so.
      const direct = await run(
        `${dir}/ringfence.js`,
        runShellArgs('tr "\\0" " " < /proc/$PPID/cmdline'),
        {
          cwd: dir,
          env: { PATH: `${DENO.replace(/\/[^/]*$/, "")}:/usr/bin:/bin` },
        },
      );
      assertOk(direct, "./ringfence.js run");
      assert.ok(
        direct.stdout.includes(`--v8-flags=${AGENT_V8_FLAGS}`),
        `agent command line: ${direct.stdout}`,
      );
      const entries = [...Deno.readDirSync(dir)].map((entry) => entry.name);
      assert.deepEqual(entries.sort(), ["events.jsonl", "ringfence.js"]);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "the bundle on a host without libbpf, libelf and zlib uses its own copy",
  async () => {
    const source = await bundle();
    const dir = await Deno.makeTempDir();
    try {
      await Deno.copyFile(source, `${dir}/ringfence.js`);
      // The host's libraries cannot be loaded in there: without the
      // carried copy this would fail with "libbpf 1.x not found".
      const result = await withoutHostLibbpf([
        DENO,
        "run",
        "-A",
        "ringfence.js",
        "run",
        "--output",
        "events.jsonl",
        "--",
        "/bin/true",
      ], { cwd: dir });
      assertOk(result, "ringfence.js run without host libbpf");
      assertExecReported(
        await readJsonLines(`${dir}/events.jsonl`),
        "/bin/true",
      );
      const doctor = await withoutHostLibbpf([
        DENO,
        "run",
        "-A",
        "ringfence.js",
        "doctor",
      ], { cwd: dir });
      assertOk(doctor, "ringfence.js doctor without host libbpf");
      assert.match(
        doctor.stdout,
        /^libbpf +1\.\d+ from the copy built into ringfence/m,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A denort for this host's target, if one can be had without a download. */
function denortAvailable(): string | undefined {
  const arch = Deno.build.arch;
  for (const name of [`DENORT_BIN_${arch.toUpperCase()}`, "DENORT_BIN"]) {
    const value = Deno.env.get(name);
    if (value) return `${name}=${value}`;
  }
  const denoDir = Deno.env.get("DENO_DIR") ??
    `${Deno.env.get("HOME")}/.cache/deno`;
  const zip =
    `${denoDir}/dl/release/v${Deno.version.deno}/denort-${arch}-unknown-linux-gnu.zip`;
  try {
    Deno.statSync(zip);
    return zip;
  } catch {
    return undefined;
  }
}

const denort = denortAvailable();
if (!denort) {
  const reason = `no denort ${Deno.version.deno} for ${Deno.build.arch}: ` +
    "set DENORT_BIN or cache denort's zip in $DENO_DIR/dl/release/ (its download host is unreachable here)";
  console.log(`skipping "the compiled binary runs alone": ${reason}`);
  Deno.test({
    name: "the compiled binary alone in an empty directory runs a command",
    ignore: true,
    fn: () => {},
  });
} else {
  kernelTest(
    "the compiled binary alone in an empty directory runs a command",
    async () => {
      const compiled = await run(DENO, [
        "run",
        "-A",
        `${ROOT}scripts/compile.ts`,
        "--target",
        Deno.build.arch,
      ], { cwd: ROOT });
      assertOk(compiled, `deno task compile (denort from ${denort})`);
      const dir = await Deno.makeTempDir();
      try {
        const binary = `${dir}/ringfence`;
        await Deno.copyFile(
          `${ROOT}dist/ringfence-${Deno.build.arch}-linux`,
          binary,
        );
        await Deno.chmod(binary, 0o755);
        const result = await run(binary, [
          "run",
          "--output",
          "events.jsonl",
          "--",
          "/bin/true",
        ], { cwd: dir });
        assertOk(result, "compiled ringfence run");
        assertExecReported(
          await readJsonLines(`${dir}/events.jsonl`),
          "/bin/true",
        );
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

const LIBBPF_PROBE = `
import { BpfObject } from "${ROOT}sensors/bpf_object.ts";
import { libbpfInfo } from "${ROOT}sensors/libbpf.ts";
import { readSensorObject } from "${ROOT}sensors/objects.ts";
const info = libbpfInfo();
using object = BpfObject.open(await readSensorObject("process"), "sensor.process");
object.load();
const maps = Deno.readTextFileSync("/proc/self/maps").split("\\n")
  .map((line) => line.split(/\\s+/).slice(5).join(" "))
  .filter((name) => /libbpf|libelf|libz\\./.test(name));
console.log(JSON.stringify({ info, maps: [...new Set(maps)] }));
`;

kernelTest(
  "libbpf loads from memory with the host's copy hidden, and a sensor loads through it",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const script = `${dir}/probe.ts`;
      await Deno.writeTextFile(script, LIBBPF_PROBE);
      for (const env of [{ RINGFENCE_LIBBPF: "embedded" }, undefined]) {
        const result = await withoutHostLibbpf(
          [DENO, "run", "-A", `--config=${ROOT}deno.json`, script],
          { env, cwd: ROOT },
        );
        assertOk(result, `libbpf probe (env ${JSON.stringify(env)})`);
        const { info, maps } = JSON.parse(result.stdout);
        assert.equal(info.source, "embedded");
        assert.match(info.path, /^\/proc\/self\/fd\/\d+$/);
        assert.match(info.version, /^1\.\d+$/);
        assert.deepEqual(maps.sort(), [
          "/memfd:libbpf.so.1 (deleted)",
          "/memfd:libelf.so.1 (deleted)",
          "/memfd:libz.so.1 (deleted)",
        ]);
      }
      // With the host's libbpf present it is preferred.
      const host = await run(DENO, [
        "run",
        "-A",
        `--config=${ROOT}deno.json`,
        script,
      ], { cwd: ROOT });
      assertOk(host, "libbpf probe with the host's copy");
      assert.equal(JSON.parse(host.stdout).info.source, "host");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("libbpf candidates: host first, RINGFENCE_LIBBPF picks one", () => {
  const labels = (override?: string) =>
    libbpfCandidates(override).map((c) => `${c.source}:${c.label}`);
  assert.deepEqual(labels(undefined), [
    "host:libbpf.so.1",
    "embedded:embedded",
  ]);
  assert.deepEqual(labels("embedded"), ["embedded:embedded"]);
  assert.deepEqual(labels("/opt/libbpf.so.1"), ["host:/opt/libbpf.so.1"]);
});

Deno.test("the carried libraries are ELF objects for this architecture", async () => {
  for (const soname of ["libbpf.so.1", "libelf.so.1", "libz.so.1"]) {
    const bytes = await Deno.readFile(`${ROOT}bpf/build/lib/${soname}`);
    assert.equal(elfArchitecture(bytes), Deno.build.arch, soname);
  }
  assert.equal(
    elfArchitecture(new TextEncoder().encode("nope")),
    "not an ELF file",
  );
});

Deno.test("from source without a build: one line that says to build", async () => {
  const dir = await Deno.makeTempDir();
  try {
    for (
      const entry of [
        "agent",
        "sensors",
        "policy",
        "report",
        "exporters",
        "cli",
      ]
    ) {
      await run("cp", ["-r", `${ROOT}${entry}`, `${dir}/${entry}`]);
    }
    for (const file of ["main.ts", "version.ts", "deno.json", "package.json"]) {
      await Deno.copyFile(`${ROOT}${file}`, `${dir}/${file}`);
    }
    await Deno.symlink(`${ROOT}node_modules`, `${dir}/node_modules`);
    const result = await run(DENO, [
      "run",
      "-A",
      "main.ts",
      "run",
      "--",
      "/bin/true",
    ], { cwd: dir });
    if (Deno.uid() !== 0) return; // preflight stops first without root
    assert.equal(result.code, 2, result.stderr);
    assert.match(
      result.stderr,
      /^ringfence: \/\S+\/bpf\/build\/\S+\.bpf\.o: sensor not built: run 'deno task build'\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function sha256(path: string): Promise<string> {
  const digest = await crypto.subtle.digest(
    "SHA-256",
    await Deno.readFile(path),
  );
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

Deno.test("install.sh: from a local file, from a base URL, and a tampered file is refused", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const arch = Deno.build.arch;
    const binary = `${dir}/ringfence-${arch}-linux`;
    await Deno.writeTextFile(binary, "#!/bin/sh\necho ringfence test build\n");
    await Deno.writeTextFile(
      `${binary}.sha256`,
      `${await sha256(binary)}  ringfence-${arch}-linux\n`,
    );
    const installer = `${ROOT}scripts/install.sh`;

    // Air-gapped: the file and the checksum beside it.
    const local = await run("sh", [
      installer,
      "--from",
      binary,
      "--prefix",
      `${dir}/local/bin`,
    ]);
    assertOk(local, "install.sh --from");
    assert.equal(
      await Deno.readTextFile(`${dir}/local/bin/ringfence`),
      await Deno.readTextFile(binary),
    );
    assert.equal(
      (await Deno.stat(`${dir}/local/bin/ringfence`)).mode! & 0o777,
      0o755,
    );

    // Downloaded from a base URL (file:// stands in for the release page).
    const downloaded = await run("sh", [installer, "--prefix", `${dir}/net`], {
      env: { RINGFENCE_BASE_URL: `file://${dir}` },
    });
    assertOk(downloaded, "install.sh from RINGFENCE_BASE_URL");
    assert.equal(
      await sha256(`${dir}/net/ringfence`),
      await sha256(binary),
    );

    // Tampered: the checksum no longer matches; nothing is written.
    await Deno.writeTextFile(binary, "#!/bin/sh\necho evil\n");
    for (
      const args of [
        ["--from", binary, "--prefix", `${dir}/bad`],
        ["--prefix", `${dir}/bad`],
      ]
    ) {
      const refused = await run("sh", [installer, ...args], {
        env: { RINGFENCE_BASE_URL: `file://${dir}` },
      });
      assert.notEqual(refused.code, 0);
      assert.match(
        refused.stderr,
        /install\.sh: checksum mismatch for .*: expected [0-9a-f]{64}, got [0-9a-f]{64}; nothing was installed/,
      );
      await assert.rejects(Deno.stat(`${dir}/bad`), Deno.errors.NotFound);
    }

    // No checksum at all: refused too.
    await Deno.remove(`${binary}.sha256`);
    const unchecked = await run("sh", [
      installer,
      "--from",
      binary,
      "--prefix",
      `${dir}/bad`,
    ]);
    assert.notEqual(unchecked.code, 0);
    assert.match(unchecked.stderr, /no checksum for/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(text)) found.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return found;
}

kernelTest(
  "runner hooks: a job between job-started and job-completed is watched, summarised, and nothing is left",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const state = `${dir}/state`;
      const wrapper = `${dir}/ringfence`;
      await Deno.writeTextFile(
        wrapper,
        `#!/bin/sh\nexec '${DENO}' run -A '${ROOT}main.ts' "$@"\n`,
      );
      await Deno.chmod(wrapper, 0o755);
      const policy = `${dir}/policy.yaml`;
      await Deno.writeTextFile(
        policy,
        "version: 1\nmode: audit\nscope:\n  processes: [rfjob]\n",
      );
      // The job's shell, named like the scope root.
      const job = await rootShell(dir, "rfjob");
      const summary = `${dir}/summary.md`;
      const env = {
        RINGFENCE_BIN: wrapper,
        RINGFENCE_POLICY: policy,
        RINGFENCE_STATE_DIR: state,
        GITHUB_STEP_SUMMARY: summary,
      };

      const started = await run(
        "sh",
        [`${ROOT}scripts/runner-hooks/job-started.sh`],
        { env },
      );
      assertOk(started, "job-started.sh");
      assert.match(started.stderr, /ringfence: armed after/);
      const pid = Number(
        (await Deno.readTextFile(`${state}/ringfence.pid`)).trim(),
      );
      assert.ok(pid > 0);

      assertOk(
        await run(job, ["-c", "/bin/echo the-job-step"]),
        "the job",
      );

      const completed = await run(
        "sh",
        [`${ROOT}scripts/runner-hooks/job-completed.sh`],
        { env },
      );
      assertOk(completed, "job-completed.sh");
      assert.match(completed.stdout, /^ringfence: \d+ processes, .*stopped$/m);

      const events = await readJsonLines<ExecEvent>(`${state}/events.jsonl`);
      assert.ok(
        events.some((event) =>
          event.kind === "exec" && event.path === "/bin/echo" &&
          event.argv?.includes("the-job-step")
        ),
        `the job's exec is missing: ${JSON.stringify(events)}`,
      );
      const written = await Deno.readTextFile(summary);
      assert.match(written, /^## ringfence$/m);
      assert.match(written, /^\d+ processes · \d+ events · /m);
      assert.ok(!written.includes("TAMPERED"), written);
      assert.deepEqual(processesMentioning(state), []);
      let alive = true;
      try {
        const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
        alive = !/\) [ZX] /.test(stat);
      } catch {
        alive = false;
      }
      assert.equal(alive, false, `agent ${pid} still running`);
    } finally {
      // A failure above must not leave the agent running, attached.
      for (const pid of processesMentioning(`${dir}/state`)) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch { /* gone */ }
      }
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "ringfence doctor reports the host's facts and exits 0 here",
  async () => {
    const result = await run(DENO, ["run", "-A", `${ROOT}main.ts`, "doctor"], {
      cwd: ROOT,
    });
    assertOk(result, "ringfence doctor");
    // Perf-event tracepoints attach only where tracefs is mounted; the
    // sensors need neither, so the verdict is the same on both kinds of host.
    const tracefs = /^\S+ \S+ tracefs /m.test(
      await Deno.readTextFile("/proc/mounts"),
    );
    for (
      const pattern of [
        /^kernel +\d+\.\d+/m,
        /^root +yes$/m,
        /^BTF +\/sys\/kernel\/btf\/vmlinux$/m,
        /^cgroup2 +\/\S+$/m,
        tracefs
          ? /^tracefs +\/\S+$/m
          : /^tracefs +not mounted \(the sensors do not need it\)$/m,
        /^libbpf +1\.\d+ from the host/m,
        tracefs
          ? /^ {2}tracepoint +probe yes +attach ok$/m
          : /^ {2}tracepoint +probe yes +attach failed: /m,
        /^ {2}raw_tp +probe yes +attach ok$/m,
        /^ {2}cgroup_sock_addr +probe yes +attach ok$/m,
        /^ {2}cgroup_skb +probe yes +attach ok$/m,
        /^ {2}kprobe +probe \w+ +attach failed: /m,
        /^ {2}lsm +probe \w+ +attach failed: /m,
        /^sensor process +loads$/m,
        /^sensor network +loads$/m,
        /^sensor file-system +loads$/m,
        /^verdict: ringfence can run on this host$/m,
      ]
    ) {
      assert.match(result.stdout, pattern);
    }
    const forced = await run(DENO, ["run", "-A", `${ROOT}main.ts`, "doctor"], {
      cwd: ROOT,
      env: { RINGFENCE_LIBBPF: "embedded" },
    });
    assertOk(forced, "ringfence doctor with the carried libbpf");
    assert.match(
      forced.stdout,
      /^libbpf +1\.\d+ from the copy built into ringfence/m,
    );
  },
);

kernelTest(
  "ringfence doctor as a normal user says why it cannot run, exit 2",
  async () => {
    const result = await run("setpriv", [
      "--reuid=65534",
      "--regid=65534",
      "--clear-groups",
      DENO,
      "run",
      "-A",
      `${ROOT}main.ts`,
      "doctor",
    ], { cwd: ROOT, env: { DENO_DIR: await Deno.makeTempDir() } });
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stdout, /^root +no$/m);
    assert.match(result.stdout, /not root: ringfence loads BPF programs/);
    assert.match(
      result.stdout,
      /^verdict: ringfence cannot run on this host$/m,
    );
  },
);
