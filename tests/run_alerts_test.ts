/**
 * What `ringfence run` and `ringfence stop` put in the CI log: events go to
 * a file by default (`./ringfence-events.jsonl`, or
 * `$RUNNER_TEMP/ringfence/events.jsonl` under CI), stderr gets one line per
 * block or kill as it happens and the summary, GitHub Actions gets one
 * `::error` annotation per block or kill (at most 10), and a loop cannot
 * flood the log. Loopback only.
 */
import assert from "node:assert/strict";
import {
  DENO,
  kernelTest,
  readJsonLines,
  ROOT,
  rootShell,
  startAgent,
} from "./helpers/kernel.ts";
import { PROBE } from "./helpers/net_harness.ts";

const PYTHON = "/usr/bin/python3";

/** `ringfence ARGS` in `cwd` with `env` added; output collected. */
async function ringfence(
  args: string[],
  options: { cwd: string; env?: Record<string, string> },
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(DENO, {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    // Outside CI unless the test says: the suite itself may run under CI.
    env: {
      CI: "",
      GITHUB_ACTIONS: "",
      GITHUB_STEP_SUMMARY: "",
      ...options.env,
    },
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** A loopback listener owned by the test, counting connections. */
function listener(): { port: number; accepted(): number; close(): void } {
  const socket = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let accepted = 0;
  (async () => {
    for await (const connection of socket) {
      accepted++;
      connection.close();
    }
  })().catch(() => {});
  return {
    port: (socket.addr as Deno.NetAddr).port,
    accepted: () => accepted,
    close: () => socket.close(),
  };
}

/** A policy refusing loopback but `allowed`, and killing `forbidden`. */
function policy(mode: string, allowed: number, forbidden: string): string {
  return [
    "version: 1",
    `mode: ${mode}`,
    "network:",
    "  loopback: deny",
    `  allow: ["127.0.0.1:${allowed}"]`,
    "process:",
    `  deny: [${JSON.stringify(forbidden)}]`,
    "  action: kill",
    "",
  ].join("\n");
}

/** The probe to `port`, a pause (so the agent has printed), a marker on
 * stderr, then the forbidden program. */
function script(port: number, forbidden: string): string {
  return `${PYTHON} ${PROBE} tcp 127.0.0.1 ${port}; sleep 1; echo MARKER >&2; ${forbidden}; echo exit-$? >&2`;
}

/** A fresh directory (its real path) with a copy of /bin/true to deny. */
async function workdir(): Promise<{ dir: string; forbidden: string }> {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  const forbidden = `${dir}/forbidden`;
  await Deno.copyFile("/bin/true", forbidden);
  await Deno.chmod(forbidden, 0o755);
  return { dir, forbidden };
}

kernelTest(
  "run: events go to ./ringfence-events.jsonl; stderr has one line per block and kill as it happens",
  async () => {
    const { dir, forbidden } = await workdir();
    const allowed = listener(), denied = listener();
    try {
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy("block", allowed.port, forbidden),
      );
      const result = await ringfence([
        "run",
        "--policy",
        `${dir}/policy.yaml`,
        "--",
        "/bin/bash",
        "-c",
        script(denied.port, forbidden),
      ], { cwd: dir });
      assert.equal(result.stdout, "errno 1\n", result.stderr);
      assert.equal(denied.accepted(), 0, "nothing reached the listener");
      const events = await readJsonLines(`${dir}/ringfence-events.jsonl`);
      assert.ok(
        events.some((event) =>
          event.type === "network_event" && event.dport === denied.port &&
          event.verdict === "deny"
        ),
      );
      // No event on stderr: only ringfence's lines and the command's own.
      assert.doesNotMatch(result.stderr, /^\{"type"/m);
      const lines = result.stderr.split("\n");
      const blocked = lines.findIndex((line) =>
        new RegExp(
          `^ringfence: BLOCKED connect 127\\.0\\.0\\.1:${denied.port} \\(port not allowed\\) by ${PYTHON} pid \\d+(, step "[^"]*")?$`,
        ).test(line)
      );
      const marker = lines.indexOf("MARKER");
      assert.ok(blocked !== -1, result.stderr);
      assert.ok(
        blocked < marker,
        `the line came as it happened:\n${result.stderr}`,
      );
      assert.ok(
        lines.some((line) =>
          line.startsWith(
            `ringfence: KILLED ${forbidden} pid `,
          ) && line.includes(`(process.deny ${JSON.stringify(forbidden)})`)
        ),
        result.stderr,
      );
      assert.match(result.stderr, /, 1 blocked, 1 killed, exit 0$/m);
      assert.ok(
        lines.includes(`ringfence: events in ${dir}/ringfence-events.jsonl`),
        result.stderr,
      );
      assert.doesNotMatch(
        result.stdout,
        /::error/,
        "no annotation outside GitHub",
      );
    } finally {
      allowed.close();
      denied.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "run under GitHub Actions: events in $RUNNER_TEMP/ringfence, one ::error per block and kill, WOULD in audit mode",
  async () => {
    const { dir, forbidden } = await workdir();
    const allowed = listener(), denied = listener();
    const temp = `${dir}/runner-temp`;
    await Deno.mkdir(temp);
    const env = {
      GITHUB_ACTIONS: "true",
      RUNNER_TEMP: temp,
      GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
    };
    try {
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy("block", allowed.port, forbidden),
      );
      const run = () =>
        ringfence([
          "run",
          "--policy",
          `${dir}/policy.yaml`,
          "--",
          "/bin/bash",
          "-c",
          script(denied.port, forbidden),
        ], { cwd: dir, env });
      const block = await run();
      assert.equal(denied.accepted(), 0);
      const events = await readJsonLines(`${temp}/ringfence/events.jsonl`);
      assert.ok(events.length > 0);
      const annotations = block.stdout.split("\n").filter((line) =>
        line.startsWith("::")
      );
      assert.equal(annotations.length, 2, block.stdout);
      assert.match(
        annotations[0],
        new RegExp(
          `^::error title=ringfence blocked::BLOCKED connect 127\\.0\\.0\\.1:${denied.port} \\(port not allowed\\) by ${PYTHON} pid \\d+`,
        ),
      );
      assert.match(
        annotations[1],
        new RegExp(
          `^::error title=ringfence killed::KILLED ${forbidden} pid \\d+`,
        ),
      );
      assert.match(await Deno.readTextFile(`${dir}/summary.md`), /ringfence/);
      assert.ok(!await exists(`${dir}/ringfence-events.jsonl`));

      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        policy("audit", allowed.port, forbidden),
      );
      const audit = await run();
      assert.equal(denied.accepted(), 1, "audit mode lets it through");
      assert.match(
        audit.stderr,
        /^ringfence: WOULD BLOCK connect 127\.0\.0\.1:/m,
      );
      assert.match(
        audit.stderr,
        new RegExp(`^ringfence: WOULD KILL ${forbidden} pid`, "m"),
      );
      assert.match(
        audit.stdout,
        /^::error title=ringfence would block::WOULD BLOCK/m,
      );
      assert.match(
        audit.stdout,
        /^::error title=ringfence would kill::WOULD KILL/m,
      );
      assert.match(audit.stderr, /exit-0/, "the program ran");
    } finally {
      allowed.close();
      denied.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "run: a loop of blocks prints each distinct one once, counts repeats at the end, and annotates at most 10",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const env = {
      GITHUB_ACTIONS: "true",
      RUNNER_TEMP: dir,
      GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
    };
    // 200 connections to one port, then one to each of 60 others: all
    // refused before a packet leaves.
    const loop = `
import socket
def connect(port):
    s = socket.socket()
    try:
        s.connect(("127.0.0.1", port))
    except OSError:
        pass
    s.close()
for _ in range(200):
    connect(40000)
for port in range(40001, 40061):
    connect(port)
`;
    try {
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        "version: 1\nmode: block\nnetwork:\n  loopback: deny\n",
      );
      const result = await ringfence([
        "run",
        "--policy",
        `${dir}/policy.yaml`,
        "--",
        PYTHON,
        "-c",
        loop,
      ], { cwd: dir, env });
      assert.equal(result.code, 0, result.stderr);
      const events = (await readJsonLines(`${dir}/ringfence/events.jsonl`))
        .filter((event) => event.type === "network_event");
      assert.equal(events.length, 260);
      const lines = result.stderr.split("\n");
      const blocked = lines.filter((line) =>
        line.startsWith("ringfence: BLOCKED ")
      );
      assert.equal(blocked.length, 50, result.stderr);
      assert.equal(
        blocked.filter((line) => line.includes(":40000 ")).length,
        1,
      );
      assert.ok(
        lines.some((line) =>
          /^ringfence: 199 more times: BLOCKED connect 127\.0\.0\.1:40000 /
            .test(line)
        ),
        result.stderr,
      );
      assert.ok(
        lines.includes(
          `ringfence: 11 different blocks and kills not shown; all are in ${dir}/ringfence/events.jsonl`,
        ),
        result.stderr,
      );
      const annotations = result.stdout.split("\n").filter((line) =>
        line.startsWith("::error")
      );
      assert.equal(annotations.length, 10, result.stdout);
      assert.match(
        annotations[9],
        /^::error title=ringfence%3A more blocks and kills::52 more different blocks and kills than annotated here \(260 in all/,
      );
      assert.ok(result.stderr.length < 20_000, "the log stays short");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "stop under GitHub Actions: the detached agent's blocks become annotations, from its events file",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const state = `${dir}/state`;
    await Deno.mkdir(state);
    const root = await rootShell(dir, "rfannotate");
    const denied = listener();
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      "version: 1\nmode: block\nscope:\n  processes: [rfannotate]\nnetwork:\n  loopback: deny\n",
    );
    const agent = await startAgent([
      "--policy",
      `${dir}/policy.yaml`,
      "--state-dir",
      state,
      "--output",
      `${dir}/agent-events.jsonl`,
      "--ready-file",
      `${dir}/ready`,
    ]);
    try {
      const step = await new Deno.Command(root, {
        args: ["-c", `${PYTHON} ${PROBE} tcp 127.0.0.1 ${denied.port}`],
        stdout: "piped",
      }).output();
      assert.equal(new TextDecoder().decode(step.stdout), "errno 1\n");
      const stopped = await ringfence(["stop", "--state-dir", state], {
        cwd: dir,
        env: {
          GITHUB_ACTIONS: "true",
          GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
        },
      });
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(
        stopped.stdout,
        new RegExp(
          `^::error title=ringfence blocked::BLOCKED connect 127\\.0\\.0\\.1:${denied.port} \\(not in allow list\\) by ${PYTHON} pid \\d+`,
          "m",
        ),
      );
      assert.match(
        stopped.stderr,
        new RegExp(
          `^ringfence: BLOCKED connect 127\\.0\\.0\\.1:${denied.port} `,
          "m",
        ),
      );
      assert.equal(denied.accepted(), 0);
    } finally {
      await agent.stop();
      denied.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}
