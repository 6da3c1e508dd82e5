/**
 * `ringfence stop` and the runner hooks trust only what a step cannot
 * forge: the agent's root-only record. A clean start and stop is green; a
 * step that kills the agent and leaves a fake one (its pid in the pid
 * file, a clean agent.log, a clean report.md) gets a red "agent tampered"
 * report and a nonzero exit, through the CLI and through the hooks.
 */
import assert from "node:assert/strict";
import { AGENT_V8_FLAGS } from "../scripts/_dist.ts";
import { instanceDir } from "../agent/instance.ts";
import {
  DENO,
  kernelTest,
  ringfence,
  ROOT,
  rootShell,
  startAgent,
} from "./helpers/kernel.ts";

/** What a step writes to make the job look clean. */
const CLEAN_LOG = "ringfence: 3 processes, 10 events, 0 dropped, stopped\n";
const CLEAN_REPORT =
  "## ringfence\n\n3 processes · 10 events · 0 blocked · 0 killed · 0 dropped\n";

/** A process named like the agent: `ringfence 100`, a sleep. */
function fakeAgent(): Deno.ChildProcess {
  return new Deno.Command("bash", {
    args: ["-c", "exec -a ringfence sleep 100"],
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
}

async function waitForExit(pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    try {
      const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
      if (/\) [ZX] /.test(stat)) return;
    } catch {
      return;
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  throw new Error(`pid ${pid} still running`);
}

kernelTest(
  "ringfence stop: an intact agent gives a green report and exit 0",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    const agent = await startAgent([
      "--state-dir",
      state,
      "--output",
      `${state}/events.jsonl`,
      "--ready-file",
      `${dir}/ready`,
    ]);
    try {
      const instance = await instanceDir(state);
      const record = JSON.parse(
        await Deno.readTextFile(`${instance}/agent.json`),
      );
      assert.equal(record.pid, agent.pid);
      const info = await Deno.stat(instance);
      assert.equal(info.uid, 0);
      assert.equal((info.mode ?? 0) & 0o777, 0o700);
      const stopped = await ringfence([
        "stop",
        "--state-dir",
        state,
        "--report",
        `${dir}/report.md`,
      ]);
      assert.equal(stopped.code, 0, stopped.stderr);
      const markdown = await Deno.readTextFile(`${dir}/report.md`);
      assert.ok(!markdown.includes("TAMPERED"), markdown);
      const json = JSON.parse(await Deno.readTextFile(`${state}/report.json`));
      assert.deepEqual(json.integrity, { status: "ok", reasons: [] });
      await Deno.stat(instance).then(
        () => assert.fail(`${instance} left behind`),
        () => {},
      );
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "ringfence stop: a killed agent and a fake in the pid file give a red report and exit 3",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    const agent = await startAgent([
      "--state-dir",
      state,
      "--output",
      `${state}/events.jsonl`,
      "--ready-file",
      `${dir}/ready`,
    ]);
    let fake: Deno.ChildProcess | undefined;
    try {
      // A heartbeat or two.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      // The step (root): kill the agent, start a fake, cover it up.
      Deno.kill(agent.pid, "SIGKILL");
      await waitForExit(agent.pid);
      fake = fakeAgent();
      await Deno.writeTextFile(`${state}/ringfence.pid`, `${fake.pid}\n`);
      await Deno.writeTextFile(`${state}/agent.log`, CLEAN_LOG);
      await Deno.writeTextFile(`${state}/report.md`, CLEAN_REPORT);

      const stopped = await ringfence([
        "stop",
        "--state-dir",
        state,
        "--report",
        `${dir}/report.md`,
      ]);
      assert.equal(stopped.code, 3, stopped.stderr);
      assert.match(
        stopped.stderr,
        new RegExp(
          `AGENT TAMPERED — the agent \\(pid ${agent.pid}\\) is not running: .*; last seen alive at \\d{4}-`,
        ),
      );
      assert.match(
        stopped.stderr,
        new RegExp(
          `AGENT TAMPERED — the pid file ${state}/ringfence\\.pid names pid ${fake.pid}, "ringfence 100" \\(/usr/bin/sleep\\), not the agent \\(pid ${agent.pid}\\)`,
        ),
      );
      const markdown = await Deno.readTextFile(`${dir}/report.md`);
      assert.match(markdown, /> \[!CAUTION\]/);
      assert.match(markdown, /AGENT TAMPERED/);
      assert.match(
        markdown,
        new RegExp(`\\*\\*The agent:\\*\\* pid ${agent.pid}`),
      );
      assert.match(markdown, /last seen alive at \d{4}-/);
      assert.ok(!markdown.includes("3 processes · 10 events"), markdown);
      const json = JSON.parse(await Deno.readTextFile(`${state}/report.json`));
      assert.equal(json.integrity.status, "tampered");
      // The fake is left alone: it is not the agent.
      assert.ok(
        (await Deno.readTextFile(`/proc/${fake.pid}/stat`)).includes(
          "(sleep)",
        ),
      );
    } finally {
      try {
        fake?.kill("SIGKILL");
      } catch { /* already ended */ }
      await fake?.status;
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "ringfence stop: an agent frozen with SIGSTOP is reported and still stopped cleanly",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    const agent = await startAgent([
      "--state-dir",
      state,
      "--output",
      `${state}/events.jsonl`,
    ]);
    try {
      Deno.kill(agent.pid, "SIGSTOP");
      const stopped = await ringfence(["stop", "--state-dir", state]);
      assert.equal(stopped.code, 3, stopped.stderr);
      assert.match(
        stopped.stderr,
        new RegExp(
          `AGENT TAMPERED — the agent \\(pid ${agent.pid}\\) was found stopped or traced \\(state T\\)`,
        ),
      );
      // Its own report follows the finding.
      assert.match(stopped.stdout, /AGENT TAMPERED[\s\S]*### Egress/);
    } finally {
      try {
        Deno.kill(agent.pid, "SIGCONT");
      } catch { /* gone */ }
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "runner hooks: a killed agent and a fake make a red job summary and a nonzero exit",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const state = `${dir}/state`;
    const summary = `${dir}/step_summary.md`;
    const bin = `${dir}/ringfence`;
    await Deno.writeTextFile(
      bin,
      `#!/bin/sh\nexec ${DENO} run -A --v8-flags=${AGENT_V8_FLAGS} ${ROOT}main.ts "$@"\n`,
    );
    await Deno.chmod(bin, 0o755);
    const env = {
      RINGFENCE_BIN: bin,
      RINGFENCE_STATE_DIR: state,
      GITHUB_STEP_SUMMARY: summary,
    };
    const hook = (name: string) =>
      new Deno.Command("sh", {
        args: [`${ROOT}scripts/runner-hooks/${name}`],
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
      }).output();
    const started = await hook("job-started.sh");
    const decoder = new TextDecoder();
    assert.equal(started.code, 0, decoder.decode(started.stderr));
    const pid = Number(
      (await Deno.readTextFile(`${state}/ringfence.pid`)).trim(),
    );
    let fake: Deno.ChildProcess | undefined;
    try {
      await new Promise((resolve) => setTimeout(resolve, 1200));
      Deno.kill(pid, "SIGKILL");
      await waitForExit(pid);
      fake = fakeAgent();
      await Deno.writeTextFile(`${state}/ringfence.pid`, `${fake.pid}\n`);
      await Deno.writeTextFile(`${state}/agent.log`, CLEAN_LOG);
      await Deno.writeTextFile(`${state}/report.md`, CLEAN_REPORT);

      const completed = await hook("job-completed.sh");
      const stderr = decoder.decode(completed.stderr);
      assert.equal(completed.code, 3, stderr);
      assert.match(
        stderr,
        new RegExp(`ringfence: AGENT TAMPERED — the agent \\(pid ${pid}\\)`),
      );
      const text = await Deno.readTextFile(summary);
      assert.match(text, /> \[!CAUTION\]/);
      assert.match(text, /AGENT TAMPERED/);
      assert.match(text, new RegExp(`names pid ${fake.pid}`));
      assert.ok(!text.includes("3 processes, 10 events"), text);
    } finally {
      try {
        fake?.kill("SIGKILL");
      } catch { /* already ended */ }
      await fake?.status;
      try {
        Deno.kill(pid, "SIGKILL");
      } catch { /* gone */ }
      await Deno.remove(dir, { recursive: true });
    }
  },
);

const CORE_PATTERN = "/proc/sys/kernel/core_pattern";

/**
 * Runs `script` as a policed step in block mode under `policy`, with
 * core_pattern restored afterwards whatever happens; returns the result,
 * the events and what core_pattern held while the step ran.
 */
async function coreTest(policy: string, script: string) {
  const original = (await Deno.readTextFile(CORE_PATTERN)).trimEnd();
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(`${dir}/policy.yaml`, policy);
    const result = await ringfence([
      "run",
      "--policy",
      `${dir}/policy.yaml`,
      "--output",
      `${dir}/events.jsonl`,
      "--report",
      `${dir}/report.md`,
      "--",
      "/bin/bash",
      "-c",
      script.replaceAll("$DIR", dir),
    ]);
    const events = (await Deno.readTextFile(`${dir}/events.jsonl`))
      .split("\n").filter(Boolean).map((line) => JSON.parse(line));
    const seen = await Deno.readTextFile(`${dir}/seen`).catch(() => "");
    const report = await Deno.readTextFile(`${dir}/report.md`);
    return { ...result, events, seen, report, original };
  } finally {
    if ((await Deno.readTextFile(CORE_PATTERN)).trimEnd() !== original) {
      await Deno.writeTextFile(CORE_PATTERN, original + "\n");
    }
    await Deno.remove(dir, { recursive: true });
  }
}

kernelTest(
  "core_pattern: a policed write in block mode is killed before it writes (files section loaded)",
  async () => {
    const result = await coreTest(
      "version: 1\nmode: block\nfiles:\n  protect: [/etc/hosts]\n  action: kill\n",
      // The subshell's open is killed as it returns; the outer shell
      // reads what the kernel holds.
      `(echo '|/tmp/x' > ${CORE_PATTERN}; echo wrote > $DIR/wrote); cat ${CORE_PATTERN} > $DIR/seen`,
    );
    assert.equal(result.seen.trimEnd(), result.original, result.stderr);
    const write = result.events.find((event) =>
      event.type === "file_system_event" && event.path === CORE_PATTERN
    );
    assert.ok(write, result.stderr);
    assert.equal(write.verdict, "deny");
    assert.equal(write.killed, true);
    assert.match(
      write.reason,
      /files\.protect "\/proc\/sys\/kernel\/core_pattern"/,
    );
    assert.match(
      result.stderr,
      /AGENT TAMPERED — \/proc\/sys\/kernel\/core_pattern written \(truncate\) by pid \d+ \S*bash.*; the writer was killed/,
    );
    assert.match(result.report, /AGENT TAMPERED/);
  },
);

kernelTest(
  "core_pattern: without a files section the agent puts it back within 1.5 s and reports it",
  async () => {
    const result = await coreTest(
      "version: 1\nmode: block\n",
      `echo '|/tmp/x' > ${CORE_PATTERN}; sleep 1.5; cat ${CORE_PATTERN} > $DIR/seen`,
    );
    assert.equal(result.seen.trimEnd(), result.original, result.stderr);
    const tamper = result.events.find((event) =>
      event.type === "agent" && event.kind === "tamper" &&
      event.what === "core_pattern"
    );
    assert.ok(tamper, result.stderr);
    assert.equal(tamper.before, result.original);
    assert.equal(tamper.after, "|/tmp/x");
    assert.equal(tamper.repaired, true);
    assert.match(result.stderr, /AGENT TAMPERED — core_pattern changed/);
    assert.match(result.report, /AGENT TAMPERED/);
  },
);

kernelTest(
  "ringfence stop names the policed step that killed the agent, and the kernel kept enforcing",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    const root = await rootShell(dir, "rfkiller");
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      "version: 1\nmode: block\nscope:\n  processes: [rfkiller]\nnetwork:\n  loopback: deny\n",
    );
    const agent = await startAgent([
      "--policy",
      `${dir}/policy.yaml`,
      "--state-dir",
      state,
      "--output",
      `${state}/events.jsonl`,
      "--ready-file",
      `${dir}/ready`,
    ]);
    const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
    const { port } = listener.addr as Deno.NetAddr;
    let reached = 0;
    const serving = (async () => {
      for await (const conn of listener) {
        reached++;
        conn.close();
      }
    })();
    try {
      // The step, a descendant of the scope root: kills the agent, then
      // tries the connection the policy refuses.
      const step = await new Deno.Command(root, {
        args: [
          "-c",
          `/bin/sh -c 'kill -9 ${agent.pid}'; sleep 0.5; python3 -c "
import socket
s = socket.socket()
try:
    s.connect(('127.0.0.1', ${port})); print('connected')
except OSError as e:
    print('errno', e.errno)
"`,
        ],
        stdout: "piped",
      }).output();
      const out = new TextDecoder().decode(step.stdout);
      assert.match(out, /errno 1\b/, "refused with no agent running");
      assert.equal(reached, 0);
      await waitForExit(agent.pid);

      const stopped = await ringfence([
        "stop",
        "--state-dir",
        state,
        "--report",
        `${dir}/report.md`,
      ]);
      assert.equal(stopped.code, 3, stopped.stderr);
      assert.match(
        stopped.stderr,
        /AGENT TAMPERED — pid \d+ \(sh, uid 0\) sent signal 9 to the agent/,
      );
      assert.match(stopped.stderr, /removed the pins/);
      const markdown = await Deno.readTextFile(`${dir}/report.md`);
      assert.match(markdown, /AGENT TAMPERED/);
    } finally {
      listener.close();
      await serving.catch(() => {});
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "ringfence stop: pins removed while the agent was dead are tampering",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    await Deno.writeTextFile(`${dir}/policy.yaml`, "version: 1\nmode: block\n");
    const agent = await startAgent([
      "--policy",
      `${dir}/policy.yaml`,
      "--state-dir",
      state,
      "--output",
      `${state}/events.jsonl`,
      "--ready-file",
      `${dir}/ready`,
    ]);
    try {
      const marker = `${await instanceDir(state)}/pinned`;
      const pins = (await Deno.readTextFile(marker)).trim();
      // The root step: kill the agent, then remove what kept enforcing.
      Deno.kill(agent.pid, "SIGKILL");
      await waitForExit(agent.pid);
      await Deno.remove(pins, { recursive: true });
      const stopped = await ringfence(["stop", "--state-dir", state]);
      assert.equal(stopped.code, 3, stopped.stderr);
      assert.match(
        stopped.stderr,
        new RegExp(
          `AGENT TAMPERED — the agent's pins ${pins} were removed by someone else`,
        ),
      );
    } finally {
      await agent.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
