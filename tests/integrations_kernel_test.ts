/**
 * Integrations end to end with the real kernel: exporters fed by real jobs
 * (webhook across an outage; HTTP, gRPC and OTLP from `ringfence start`,
 * stopped with `ringfence stop`), the job report at the end of `run`, and
 * the suggested policy round trip. Every server is on 127.0.0.1.
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import {
  builtBundle,
  DENO,
  kernelTest,
  readJsonLines,
  ROOT,
  rootShell,
  runInDir,
  startAgent,
} from "./helpers/kernel.ts";
import { PROBE } from "./helpers/net_harness.ts";
import {
  grpcClient,
  OtlpReceiver,
  readHttpEvents,
  WebhookReceiver,
} from "./helpers/receivers.ts";

const PYTHON = "/usr/bin/python3";

/** `ringfence ARGS` with extra environment; stdout and stderr collected. */
async function ringfenceWith(
  args: string[],
  env: Record<string, string>,
  entry = `${ROOT}main.ts`,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(DENO, {
    args: ["run", "-A", entry, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    cwd: ROOT,
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Loopback listeners owned by the test (outside any scope). */
function listeners(count: number): { ports: number[]; close(): void } {
  const all = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  for (const listener of all) {
    (async () => {
      for await (const connection of listener) connection.close();
    })().catch(() => {});
  }
  return {
    ports: all.map((listener) => (listener.addr as Deno.NetAddr).port),
    close: () => all.forEach((listener) => listener.close()),
  };
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function until(
  condition: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 20_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

const probes = (ports: number[]) =>
  ports.map((port) => `${PYTHON} ${PROBE} tcp 127.0.0.1 ${port}`).join("; ");

/** Drops the per-exporter `run` and `seq` to compare with the JSON lines. */
function withoutSeq(line: Record<string, unknown>): Record<string, unknown> {
  const { run: _run, seq: _, ...rest } = line;
  return rest;
}

kernelTest(
  "webhook: a real job's events all arrive in order, none twice, though the receiver goes down mid-run",
  async () => {
    const dir = await Deno.makeTempDir();
    const receiver = new WebhookReceiver();
    receiver.start();
    try {
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "exporters:",
          `  - webhook: { url: "${receiver.url}", batch: 5, queue: 8, headers: { X-Test: "\${RF_TEST_HEADER}" } }`,
          "",
        ].join("\n"),
      );
      const job = [
        "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done",
        `: > ${dir}/half`,
        `while [ ! -f ${dir}/resume ]; do /bin/sleep 0.02; done`,
        "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; done",
        `: > ${dir}/down-phase-done`,
        `while [ ! -f ${dir}/finish ]; do /bin/sleep 0.02; done`,
      ].join("\n");
      const running = ringfenceWith([
        "run",
        "--policy",
        `${dir}/policy.yaml`,
        "--output",
        `${dir}/events.jsonl`,
        "--",
        "/bin/bash",
        "-c",
        job,
      ], {
        RINGFENCE_STATE_DIR: `${dir}/state`,
        RF_TEST_HEADER: "yes",
      });
      const exists = (name: string) => async () =>
        await Deno.stat(`${dir}/${name}`).then(() => true, () => false);
      await until(exists("half"), "the first half of the job");
      await until(() => receiver.lines.length >= 20, "the first events");
      await receiver.stop();
      await Deno.writeTextFile(`${dir}/resume`, "");
      await until(
        exists("down-phase-done"),
        "the job's work during the outage",
      );
      // Down for a while: retries back off, the rest is spooled.
      await new Promise((resolve) => setTimeout(resolve, 1_500));
      const before = receiver.lines.length;
      receiver.start();
      await Deno.writeTextFile(`${dir}/finish`, "");
      const result = await running;
      assert.equal(result.code, 0, result.stderr);
      const events = await readJsonLines(`${dir}/events.jsonl`);
      await receiver.waitFor(events.length);
      assert.ok(receiver.lines.length > before, "delivered after the outage");
      assert.deepEqual(
        receiver.lines.map((line) => line.seq),
        events.map((_, index) => index + 1),
        "in order, none missing, none twice",
      );
      assert.deepEqual(receiver.lines.map(withoutSeq), events);
      assert.doesNotMatch(result.stderr, /not exported/);
      assert.match(result.stderr, /retrying with backoff, events are kept/);
    } finally {
      await receiver.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "webhook: kill -9 of the agent during an outage loses nothing; the next start delivers each event exactly once",
  async () => {
    const dir = await Deno.makeTempDir();
    const receiver = new WebhookReceiver();
    receiver.start();
    const url = receiver.url;
    await receiver.stop(); // down for the whole first agent
    const agents: { stop(): Promise<unknown> }[] = [];
    try {
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "scope:",
          "  processes: [rfexport]",
          "exporters:",
          `  - webhook: { url: "${url}", batch: 50, queue: 20 }`,
          "",
        ].join("\n"),
      );
      const start = (output: string) =>
        startAgent([
          "--policy",
          `${dir}/policy.yaml`,
          "--output",
          `${dir}/${output}`,
          "--state-dir",
          `${dir}/state`,
        ]);
      const first = await start("first.jsonl");
      await Deno.copyFile("/bin/sh", `${dir}/rfexport`);
      const job = await new Deno.Command(`${dir}/rfexport`, {
        args: ["-c", "for i in $(seq 300); do /bin/true; done"],
      }).output();
      assert.ok(job.success);
      const events = () => readJsonLines(`${dir}/first.jsonl`);
      // Every exit of the job is read (the last event of the job).
      await until(
        async () =>
          (await events()).filter((e) => e.kind === "exit").length >= 301,
        "the job's events in the first agent's output",
      );
      first.kill("SIGKILL");
      await new Promise((resolve) => setTimeout(resolve, 200));
      const written = (await events()).filter((e) => e.type !== "agent");
      receiver.start(Number(new URL(url).port));
      const second = await start("second.jsonl");
      agents.push(second);
      await receiver.waitFor(written.length, 30_000);
      await second.stop();
      agents.pop();
      const firstRun = receiver.lines[0].run;
      const resent = receiver.lines.filter((line) => line.run === firstRun);
      const keys = resent.map((line) => line.seq);
      assert.equal(new Set(keys).size, keys.length, "none twice");
      const got = new Set(
        resent.map((line) => JSON.stringify(withoutSeq(line))),
      );
      const missing = written.filter((event) =>
        !got.has(JSON.stringify(event))
      );
      assert.deepEqual(
        missing,
        [],
        "every event the first agent wrote arrives",
      );
    } finally {
      for (const agent of agents) await agent.stop();
      await receiver.stop();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

// From source, and from the minified bundle users download: the gRPC and
// OpenTelemetry libraries must survive the bundler and the minifier.
for (const form of ["source", "bundle"] as const) {
  kernelTest(
    `start with http, grpc and otlp exporters (${form}): the same live events on each; ringfence stop publishes the report`,
    async () => {
      const entry = form === "bundle" ? await builtBundle() : `${ROOT}main.ts`;
      const dir = await Deno.makeTempDir();
      const root = await rootShell(dir, "rfexproot");
      const otlp = new OtlpReceiver();
      const httpPort = freePort(), grpcPort = freePort();
      const comments: string[] = [];
      const github = Deno.serve(
        { hostname: "127.0.0.1", port: 0, onListen: () => {} },
        async (request) => {
          comments.push(
            `${new URL(request.url).pathname} ${
              JSON.parse(await request.text()).body
            }`,
          );
          return Response.json({}, { status: 201 });
        },
      );
      Deno.env.set("RF_TEST_EXPORT_TOKEN", "tok-123");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "scope:",
          "  processes: [rfexproot]",
          "exporters:",
          `  - http: { listen: "127.0.0.1:${httpPort}", token: "\${RF_TEST_EXPORT_TOKEN}" }`,
          `  - grpc: { listen: "127.0.0.1:${grpcPort}", token: "\${RF_TEST_EXPORT_TOKEN}" }`,
          `  - otlp: { endpoint: "${otlp.endpoint}", batch: 4 }`,
          "",
        ].join("\n"),
      );
      const agent = await startAgent([
        "--policy",
        `${dir}/policy.yaml`,
        "--output",
        `${dir}/events.jsonl`,
        "--state-dir",
        `${dir}/state`,
      ], entry);
      const abort = new AbortController();
      const client = grpcClient(`127.0.0.1:${grpcPort}`);
      try {
        const unauthorized = await fetch(`http://127.0.0.1:${httpPort}/events`);
        await unauthorized.body?.cancel();
        assert.equal(unauthorized.status, 401);
        const refused = await new Promise<grpc.ServiceError>((resolve) => {
          const call = client.Events({}, new grpc.Metadata());
          call.on("error", resolve);
          call.on("data", () => {});
        });
        assert.equal(refused.code, grpc.status.UNAUTHENTICATED);

        const viaHttp: Record<string, unknown>[] = [];
        const response = await readHttpEvents(
          `http://127.0.0.1:${httpPort}/events`,
          "tok-123",
          viaHttp,
          abort.signal,
        );
        assert.equal(response.status, 200);
        const viaGrpc: Record<string, unknown>[] = [];
        const metadata = new grpc.Metadata();
        metadata.set("authorization", "Bearer tok-123");
        const call = client.Events({}, metadata);
        call.on("data", (message) => viaGrpc.push(message));
        call.on("error", () => {});
        // Let the server register the call before the job starts.
        await new Promise((resolve) => setTimeout(resolve, 300));

        const job = await new Deno.Command(root, {
          args: ["-c", "/bin/echo exported; /bin/true"],
          stdout: "null",
        }).output();
        assert.equal(job.code, 0);
        const jobEvents = () => readJsonLines(`${dir}/events.jsonl`);
        await until(
          () => viaHttp.length >= 6 && viaGrpc.length >= 6,
          "events on both streams",
        );
        await until(
          () =>
            viaHttp.some((event) =>
              event.comm === "true" && event.kind === "exit"
            ),
          "the job's last event",
        );

        const stopped = await ringfenceWith([
          "stop",
          "--state-dir",
          `${dir}/state`,
          "--commit-comment",
        ], {
          GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
          GITHUB_TOKEN: "ghs_x",
          GITHUB_REPOSITORY: "octo/repo",
          GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
          GITHUB_API_URL: `http://127.0.0.1:${github.addr.port}`,
        }, entry);
        assert.equal(stopped.code, 0, stopped.stderr);
        const { code } = await agent.stop();
        assert.equal(code, 0);
        const events = await jobEvents();
        assert.ok(events.length >= 6);
        assert.deepEqual(viaHttp, events, "http stream = JSON lines");
        assert.deepEqual(
          viaGrpc.map((message) => JSON.parse(message.json as string)),
          events,
          "grpc stream = JSON lines",
        );
        assert.deepEqual(
          viaGrpc.map((message) => message.seq),
          events.map((_, index) => index + 1),
        );
        assert.deepEqual(
          otlp.logs.map((log) => JSON.parse(log.body)),
          events,
          "otlp bodies = JSON lines",
        );
        const summary = await Deno.readTextFile(`${dir}/summary.md`);
        assert.match(summary, /^## ringfence/);
        assert.match(summary, /rfexproot -c \/bin\/echo exported/);
        assert.equal(comments.length, 1);
        assert.match(
          comments[0],
          /^\/repos\/octo\/repo\/commits\/0123456789abcdef0123456789abcdef01234567\/comments ## ringfence/,
        );
        await assert.rejects(Deno.stat(`${dir}/state/ringfence.pid`));
      } finally {
        abort.abort();
        client.close();
        await agent.stop();
        await otlp.close();
        await github.shutdown();
        Deno.env.delete("RF_TEST_EXPORT_TOKEN");
        await Deno.remove(dir, { recursive: true });
      }
    },
  );
}

kernelTest(
  "report at the end of run: allowed and killed connects, the killed process, and the step",
  async () => {
    const dir = await Deno.makeTempDir();
    const { ports, close } = listeners(2);
    const [allowed, killed] = ports;
    try {
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        [
          "version: 1",
          "mode: block",
          "network:",
          "  loopback: deny",
          `  allow: ["127.0.0.1:${allowed}"]`,
          "  action: kill",
          "",
        ].join("\n"),
      );
      const result = await ringfenceWith([
        ...runInDir(dir),
        "/bin/bash",
        "-c",
        `/bin/bash -c '${probes([allowed, killed])}'`,
      ], {
        // ringfence run inside the GitHub step "fetch": what it runs
        // inherits the step.
        GITHUB_ACTION: "fetch",
        GITHUB_STEP_SUMMARY: `${dir}/summary.md`,
        RINGFENCE_STATE_DIR: `${dir}/state`,
      });
      assert.equal(result.stdout.trim(), "ok", result.stderr);
      assert.match(result.stderr, /1 blocked/);
      const report = await Deno.readTextFile(`${dir}/report.md`);
      assert.equal(await Deno.readTextFile(`${dir}/summary.md`), report + "\n");
      const row = (verdict: string, port: number) =>
        new RegExp(
          `^\\| \\(no name\\) \\| ${verdict} \\| 127\\.0\\.0\\.1 \\| ${port} \\| fetch \\| \`${PYTHON}\` \\| {2}\\| 1 \\|$`,
          "m",
        );
      assert.match(report, row("⛔ blocked", killed));
      assert.match(report, row("✅ allowed", allowed));
      assert.ok(
        report.indexOf(`| ${killed} |`) < report.indexOf(`| ${allowed} |`),
        "blocked first",
      );
      const events = await readJsonLines<{ killed?: boolean; pid: number }>(
        `${dir}/events.jsonl`,
      );
      const victim = events.find((event) => event.killed)!;
      assert.match(
        report,
        new RegExp(
          `### Processes killed[\\s\\S]*\\| ${victim.pid} \\| \`${PYTHON}\` \\| fetch \\| {2}\\| network: 127\\.0\\.0\\.1:${killed} `,
        ),
      );
      assert.match(report, /<details><summary>Process tree/);
      assert.match(report, /\(signal 9\)/);
    } finally {
      close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "suggested policy round trip: audit run → policy → block run passes; a new destination is blocked",
  async () => {
    const dir = await Deno.makeTempDir();
    const { ports, close } = listeners(3);
    const [a, b, c] = ports;
    const env = { RINGFENCE_STATE_DIR: `${dir}/state` };
    const run = (policy: string, targets: number[]) =>
      ringfenceWith([
        "run",
        "--policy",
        policy,
        "--output",
        `${dir}/events.jsonl`,
        "--",
        "/bin/bash",
        "-c",
        probes(targets),
      ], env);
    try {
      await Deno.writeTextFile(
        `${dir}/audit.yaml`,
        "version: 1\nmode: audit\nnetwork:\n  loopback: deny\n",
      );
      const audit = await run(`${dir}/audit.yaml`, [a, b]);
      assert.equal(audit.stdout, "ok\nok\n", audit.stderr);
      assert.match(audit.stderr, /2 would be blocked/);

      const suggested = await ringfenceWith([
        "report",
        `${dir}/events.jsonl`,
        "--suggest-policy",
        "--policy",
        `${dir}/audit.yaml`,
        "--out",
        `${dir}/suggested.yaml`,
      ], env);
      assert.equal(suggested.code, 0, suggested.stderr);
      const text = await Deno.readTextFile(`${dir}/suggested.yaml`);
      assert.match(text, /^mode: block$/m);
      assert.match(text, new RegExp(`- 127\\.0\\.0\\.1:${a}$`, "m"));
      assert.match(text, new RegExp(`- 127\\.0\\.0\\.1:${b}$`, "m"));
      const validated = await ringfenceWith(
        ["validate", `${dir}/suggested.yaml`],
        env,
      );
      assert.equal(validated.stdout.trim(), `${dir}/suggested.yaml: ok`);

      const same = await run(`${dir}/suggested.yaml`, [a, b]);
      assert.equal(same.stdout, "ok\nok\n", same.stderr);
      assert.doesNotMatch(same.stderr, /blocked/);

      const more = await run(`${dir}/suggested.yaml`, [a, b, c]);
      assert.equal(more.stdout, "ok\nok\nerrno 1\n", more.stderr);
      assert.match(more.stderr, /, 1 blocked, exit 0$/m);
    } finally {
      close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
