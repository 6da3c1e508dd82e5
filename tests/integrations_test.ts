/**
 * Integrations without the kernel: the exporters section of a policy, the
 * report (golden file), suggested policies, step attribution, and each
 * exporter against a local receiver (loopback only).
 */
import assert from "node:assert/strict";
import * as grpc from "@grpc/grpc-js";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { ProcessNode } from "../agent/process_tree.ts";
import { ProcessTree } from "../agent/process_tree.ts";
import { buildReport, renderMarkdown, suggestPolicy } from "../report/mod.ts";
import {
  ENVIRON_READS_PER_SECOND,
  scopeRootTest,
  StepTracker,
} from "../agent/steps.ts";
import { postCommitComment } from "../cli/publish.ts";
import { GrpcExporter } from "../exporters/grpc.ts";
import { HttpExporter } from "../exporters/http.ts";
import { JsonLinesExporter } from "../exporters/jsonl.ts";
import { OtlpExporter } from "../exporters/otlp.ts";
import { WebhookExporter } from "../exporters/webhook.ts";
import { expandEnv } from "../policy/env.ts";
import { parsePolicy, PolicyError } from "../policy/parse.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import {
  grpcClient,
  OtlpReceiver,
  readHttpEvents,
  WebhookReceiver,
} from "./helpers/receivers.ts";

const GOLDEN = new URL("./golden/", import.meta.url).pathname;

async function goldenEvents(): Promise<RingfenceEvent[]> {
  const text = await Deno.readTextFile(`${GOLDEN}report_events.jsonl`);
  return text.split("\n").filter(Boolean).map((line) => JSON.parse(line));
}

function syntheticEvent(n: number): RingfenceEvent {
  return {
    type: "process_event",
    kind: "exec",
    time: `2026-11-25T06:00:00.${String(n).padStart(9, "0")}Z`,
    pid: 1000 + n,
    tid: 1000 + n,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "true",
    cgroup_id: 1,
    path: "/bin/true",
    argv: ["true", String(n)],
  } as ProcessEvent;
}

function withTempDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = await Deno.makeTempDir();
    try {
      await fn(dir);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  };
}

// ---- policy ----

Deno.test("${VAR} expansion: values, defaults, escapes, and unset names", () => {
  const env = (name: string) =>
    ({ A: "1", EMPTY: "" } as Record<string, string>)[name];
  assert.equal(expandEnv("x${A}y", env), "x1y");
  assert.equal(expandEnv("${EMPTY:-d}${B:-e}", env), "de");
  assert.equal(expandEnv("$${A}", env), "${A}");
  assert.throws(() => expandEnv("ab${B}", env), /B is not set/);
  // Set but empty: "${EMPTY}/**" must never become "/**".
  assert.throws(() => expandEnv("${EMPTY}/**", env), /EMPTY is empty/);
});

Deno.test("exporters: defaults, loopback listeners and located errors", () => {
  const policy = parsePolicy(
    [
      "version: 1",
      "exporters:",
      "  - jsonl: { path: /tmp/e.jsonl }",
      '  - webhook: { url: https://example.invalid/hook, headers: { Authorization: "Bearer ${RF_TEST_TOKEN:-t}" }, batch: 100 }',
      "  - http: { token: abc }",
      "  - grpc: {}",
      "  - otlp: { endpoint: http://collector:4318 }",
      "",
    ].join("\n"),
    "p.yaml",
  );
  assert.deepEqual(policy.exporters, [
    { kind: "jsonl", path: "/tmp/e.jsonl" },
    {
      kind: "webhook",
      url: "https://example.invalid/hook",
      headers: { Authorization: "Bearer t" },
      batch: 100,
      queue: 10_000,
      timeout: 10,
    },
    {
      kind: "http",
      listen: { hostname: "127.0.0.1", port: 7070 },
      token: "abc",
    },
    { kind: "grpc", listen: { hostname: "127.0.0.1", port: 7071 } },
    {
      kind: "otlp",
      endpoint: "http://collector:4318",
      headers: {},
      batch: 512,
      queue: 10_000,
      timeout: 10,
      encoding: "protobuf",
    },
  ]);
  const error = (text: string) => {
    try {
      parsePolicy(`version: 1\nexporters:\n${text}\n`, "p.yaml");
    } catch (error) {
      assert.ok(error instanceof PolicyError);
      return error.message;
    }
    assert.fail("accepted");
  };
  assert.deepEqual(
    parsePolicy(
      "version: 1\nexporters:\n  - http: { listen: 17072 }\n",
      "p.yaml",
    ).exporters,
    [{ kind: "http", listen: { hostname: "127.0.0.1", port: 17072 } }],
  );
  assert.equal(
    error('  - webhook: { url: "http://h/", headers: { X-A: "a\\r\\nB: c" } }'),
    'p.yaml:3:50: header "exporters[0].webhook.headers.X-A" must not contain control characters (CR, LF, NUL, ...)',
  );
  assert.equal(
    error('  - http: { token: "${RF_UNSET_FOR_TEST}" }'),
    'p.yaml:3:21: "exporters[0].http.token": environment variable RF_UNSET_FOR_TEST is not set',
  );
  assert.match(
    error("  - kafka: {}"),
    /^p\.yaml:3:5: unknown exporter "kafka"/,
  );
  assert.match(
    error("  - webhook: { batch: 10 }"),
    /^p\.yaml:3:5: "exporters\[0\]\.webhook" needs "url"/,
  );
  assert.match(
    error("  - webhook: { url: http://x, batch: 0 }"),
    /^p\.yaml:3:38: "exporters\[0\]\.webhook\.batch" must be an integer/,
  );
  assert.match(
    error("  - http: { listen: nowhere }"),
    /^p\.yaml:3:21: "exporters\[0\]\.http\.listen" must be host:port/,
  );
  assert.match(
    error("  - grpc: { tls: true }"),
    /^p\.yaml:3:13: unknown key "tls"/,
  );
});

// ---- report ----

Deno.test("report: golden markdown and json from synthetic events", async () => {
  const report = buildReport(await goldenEvents(), {
    header: {
      mode: "audit",
      policy: {
        path: "/home/runner/work/repo/.github/ringfence.yaml",
        sha256:
          "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03",
      },
      version: "0.1.0",
      kills: { network: false, files: true, process: true },
    },
    kernelDrops: 2,
    exporterDrops: { webhook: 3 },
    protectedChanges: [{
      path: "/etc/hosts",
      before: {
        exists: true,
        size: 21,
        mtime: "2026-11-25T05:00:00.000Z",
        sha256:
          "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
      },
      after: {
        exists: true,
        size: 33,
        mtime: "2026-11-25T06:00:02.810Z",
        sha256:
          "60303ae22b998861bce3b28f33eec1be758a213c86c93c076dbe9f558c11c752",
      },
    }],
  });
  const markdown = renderMarkdown(report);
  const json = JSON.stringify(report, null, 2) + "\n";
  if (Deno.env.get("UPDATE_GOLDEN") === "1") {
    await Deno.writeTextFile(`${GOLDEN}report.md`, markdown);
    await Deno.writeTextFile(`${GOLDEN}report.json`, json);
  }
  assert.equal(markdown, await Deno.readTextFile(`${GOLDEN}report.md`));
  assert.equal(json, await Deno.readTextFile(`${GOLDEN}report.json`));
  // Blocked first, then would-be-blocked, then allowed.
  assert.deepEqual(
    [...new Set(report.egress.map((entry) => entry.verdict))],
    ["deny", "audit", "allow"],
  );
});

/** An audited policy for suggestions: nothing but its mode. */
const AUDITED = { text: "version: 1\nmode: audit\n", name: "audit.yaml" };

/** The golden events as if no install script had made them. */
async function eventsWithoutScripts(): Promise<RingfenceEvent[]> {
  return (await goldenEvents()).map((event) => {
    const { dependency: _, ...rest } = event;
    return rest as RingfenceEvent;
  });
}

Deno.test("suggested policy: names only install scripts used are left out, with the package", async () => {
  const text = suggestPolicy(await goldenEvents(), AUDITED);
  const rules = parsePolicy(text, "suggested.yaml").network.allow
    .map((rule) => rule.text);
  assert.ok(!rules.some((rule) => rule.includes("cdn.example.net")), text);
  assert.match(
    text,
    /# - \S*cdn\.example\.net\S*: used only by install scripts: left-pad@1\.3\.0 \(postinstall\)/,
  );
});

Deno.test("suggested policy: names, wildcards from 3 subdomains, addresses, and it validates", async () => {
  const text = suggestPolicy(await eventsWithoutScripts(), AUDITED);
  const policy = parsePolicy(text, "suggested.yaml");
  assert.equal(policy.mode, "block");
  assert.deepEqual(policy.network.allow.map((rule) => rule.text), [
    "*.cdn.example.net:443",
    "github.com:443",
    "[2001:db8::1]:8080",
  ]);
  assert.match(text, /# - 198\.51\.100\.7:8000: refused in the audited run/);
  // Two subdomains stay names of their own.
  const two = (await eventsWithoutScripts()).filter((event) =>
    !JSON.stringify(event).includes("c.cdn.example.net") &&
    (event as { daddr?: string }).daddr !== "203.0.113.12"
  );
  const rules = parsePolicy(suggestPolicy(two, AUDITED), "s.yaml").network
    .allow.map((rule) => rule.text);
  assert.ok(rules.includes("a.cdn.example.net:443"), rules.join());
  assert.ok(rules.includes("b.cdn.example.net:443"), rules.join());
});

// ---- steps ----

Deno.test("steps: GitHub step by environ below the root, cached per process; command otherwise", () => {
  const tree = new ProcessTree();
  const event = (
    kind: "fork" | "exec",
    pid: number,
    ppid: number,
    argv?: string[],
  ) =>
    tree.apply({
      ...syntheticEvent(pid),
      kind,
      pid,
      ppid,
      comm: argv?.[0] ?? "x",
      argv,
    } as ProcessEvent);
  event("exec", 10, 1, ["Runner.Worker"]);
  event("exec", 20, 10, ["bash", "-e", "step.sh"]);
  event("exec", 21, 20, ["curl", "x"]);
  event("exec", 30, 10, ["make", "all"]);
  event("exec", 31, 30, ["cc"]);
  const reads: number[] = [];
  const environs: Record<number, Record<string, string>> = {
    20: { GITHUB_ACTION: "build", GITHUB_ACTION_REPOSITORY: "" },
    21: { GITHUB_ACTION: "build" },
    30: {},
    31: {},
  };
  const steps = new StepTracker(
    tree,
    scopeRootTest(false, () => ["Runner.Worker"]),
    (pid) => {
      reads.push(pid);
      return environs[pid] ? new Map(Object.entries(environs[pid])) : undefined;
    },
  );
  assert.deepEqual(steps.stepOf(21), { name: "build", pid: 20, ci: "github" });
  assert.deepEqual(steps.stepOf(20), { name: "build", pid: 20, ci: "github" });
  assert.deepEqual(steps.stepOf(31), {
    name: "make all",
    pid: 30,
    ci: "command",
  });
  assert.equal(steps.stepOf(10)?.name, "Runner.Worker");
  assert.deepEqual(reads.sort(), [10, 20, 30, 31]);
  const gitlab = new StepTracker(
    tree,
    (node: ProcessNode) => node.pid === 10,
    () => new Map([["CI_JOB_NAME", "test"]]),
  );
  assert.deepEqual(gitlab.stepOf(31), { name: "test", pid: 30, ci: "gitlab" });
});

Deno.test("steps: an inherited environment (ringfence run) names steps without reading any", () => {
  const tree = new ProcessTree();
  for (
    const [pid, ppid, argv] of [[10, 1, ["bash"]], [20, 10, ["make"]], [
      21,
      20,
      ["cc"],
    ]] as const
  ) {
    tree.apply(
      {
        ...syntheticEvent(pid),
        pid,
        ppid,
        comm: argv[0],
        argv: [...argv],
      } as ProcessEvent,
    );
  }
  const isRoot = (node: ProcessNode) => node.pid === 10;
  const never = () => {
    throw new Error("no environment should be read");
  };
  const plain = new StepTracker(
    tree,
    isRoot,
    never,
    new Map([["HOME", "/root"]]),
  );
  assert.deepEqual(plain.stepOf(21), { name: "make", pid: 20, ci: "command" });
  const github = new StepTracker(
    tree,
    isRoot,
    never,
    new Map([["GITHUB_ACTION", "__run_2"], ["GITHUB_ACTION_REPOSITORY", ""]]),
  );
  assert.deepEqual(github.stepOf(21), {
    name: "__run_2",
    pid: 20,
    ci: "github",
  });
  assert.deepEqual(github.stepOf(10), {
    name: "__run_2",
    pid: 10,
    ci: "github",
  });
});

Deno.test("steps: environment reads are budgeted; a process over budget gets its command, then its CI step", () => {
  const tree = new ProcessTree();
  const count = ENVIRON_READS_PER_SECOND + 5;
  tree.apply(
    { ...syntheticEvent(10), pid: 10, ppid: 1, comm: "loop" } as ProcessEvent,
  );
  for (let pid = 100; pid < 100 + count; pid++) {
    tree.apply(
      {
        ...syntheticEvent(pid),
        pid,
        ppid: 10,
        comm: "cc",
        argv: ["cc", `${pid}.c`],
      } as ProcessEvent,
    );
  }
  let clock = 0;
  let reads = 0;
  const steps = new StepTracker(
    tree,
    (node: ProcessNode) => node.pid === 10,
    () => {
      reads++;
      return new Map([["GITHUB_ACTION", "build"]]);
    },
    undefined,
    () => clock,
  );
  const names = Array.from(
    { length: count },
    (_, index) => steps.stepOf(100 + index)?.name,
  );
  assert.equal(reads, ENVIRON_READS_PER_SECOND);
  assert.equal(names[0], "build");
  assert.equal(
    names.at(-1),
    `cc ${100 + count - 1}.c`,
    "over budget: its command",
  );
  clock += 1000; // the budget comes back
  assert.equal(steps.stepOf(100 + count - 1)?.name, "build");
  assert.equal(steps.stepOf(100)?.name, "build", "cached: no read");
  assert.equal(reads, ENVIRON_READS_PER_SECOND + 1);
});

// ---- exporters ----

Deno.test(
  "webhook: every event in order, none twice, across a receiver outage (spooled to disk)",
  withTempDir(async (dir) => {
    const receiver = new WebhookReceiver();
    receiver.start();
    const exporter = new WebhookExporter({
      url: receiver.url,
      batch: 7,
      queue: 5, // tiny, so that the outage goes through the spool file
      spoolDir: dir,
    });
    for (let n = 1; n <= 40; n++) exporter.write(syntheticEvent(n));
    await receiver.waitFor(40);
    await receiver.stop();
    for (let n = 41; n <= 200; n++) exporter.write(syntheticEvent(n));
    await new Promise((resolve) => setTimeout(resolve, 700));
    assert.ok(exporter.queue.stats.failures > 0, "the outage was noticed");
    assert.equal(receiver.lines.length, 40);
    const spool = [...Deno.readDirSync(dir)].filter((entry) =>
      entry.name.endsWith(".jsonl")
    );
    assert.equal(spool.length, 1, "a journal holds what is not delivered");
    receiver.start();
    await receiver.waitFor(200, 30_000);
    await exporter.close();
    assert.deepEqual(
      receiver.lines.map((line) => line.seq),
      Array.from({ length: 200 }, (_, index) => index + 1),
    );
    assert.deepEqual(
      receiver.lines.map((line) => line.pid),
      Array.from({ length: 200 }, (_, index) => 1001 + index),
    );
    assert.equal(exporter.dropped, 0);
    await receiver.stop();
  }),
);

Deno.test(
  "webhook: what is undelivered at close stays in the spool and goes first at the next start",
  withTempDir(async (dir) => {
    const receiver = new WebhookReceiver();
    receiver.start();
    const url = receiver.url;
    await receiver.stop();
    const first = new WebhookExporter({ url, spoolDir: dir, queue: 3 });
    for (let n = 1; n <= 10; n++) first.write(syntheticEvent(n));
    await first.queue.close(300);
    assert.equal(first.queue.stats.spooled, 10);
    receiver.start();
    const second = new WebhookExporter({ url, spoolDir: dir });
    second.write(syntheticEvent(11));
    await receiver.waitFor(11);
    await second.close();
    assert.deepEqual(
      receiver.lines.map((line) => line.pid),
      Array.from({ length: 11 }, (_, index) => 1001 + index),
    );
    await receiver.stop();
  }),
);

Deno.test(
  "webhook: an exporter killed with SIGKILL loses nothing committed; the next start sends it, run and seq unique",
  withTempDir(async (dir) => {
    const receiver = new WebhookReceiver();
    receiver.start();
    const url = receiver.url;
    await receiver.stop(); // down while the first exporter runs
    const writer = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL("./helpers/webhook_writer.ts", import.meta.url).pathname,
        url,
        dir,
        "4000",
      ],
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const reader = writer.stdout.getReader();
    const { value } = await reader.read();
    assert.match(new TextDecoder().decode(value), /committed/);
    writer.kill("SIGKILL");
    await writer.status;
    reader.releaseLock();
    receiver.start();
    const second = new WebhookExporter({ url, spoolDir: dir });
    second.write(syntheticEvent(9999));
    await receiver.waitFor(4001, 30_000);
    await second.close();
    await receiver.stop();
    assert.deepEqual(
      receiver.lines.slice(0, 4000).map((line) => (line.argv as string[])[1]),
      Array.from({ length: 4000 }, (_, index) => String(index + 1)),
    );
    const keys = receiver.lines.map((line) => `${line.run}/${line.seq}`);
    assert.equal(new Set(keys).size, keys.length, "run/seq pairs are unique");
    assert.notEqual(receiver.lines[0].run, receiver.lines[4000].run);
    assert.equal(receiver.lines[4000].seq, 1);
  }),
);

Deno.test(
  "otlp: requests decode as OTLP logs with the event as body",
  withTempDir(async (dir) => {
    const receiver = new OtlpReceiver();
    const exporter = new OtlpExporter({
      endpoint: receiver.endpoint,
      spoolDir: dir,
    });
    for (let n = 1; n <= 5; n++) exporter.write(syntheticEvent(n));
    await exporter.close();
    await receiver.close();
    assert.deepEqual([...receiver.contentTypes], ["application/x-protobuf"]);
    assert.equal(receiver.logs.length, 5);
    const [log] = receiver.logs;
    assert.equal(JSON.parse(log.body).pid, 1001);
    assert.equal(
      log.timeUnixNano,
      BigInt(Date.parse("2026-11-25T06:00:00Z")) * 1_000_000n + 1n,
    );
    assert.equal(log.eventName, "ringfence.process_event.exec");
    assert.equal(log.attributes["ringfence.kind"], "exec");
    assert.equal(log.resource["service.name"], "ringfence");
    assert.equal(log.scope, "ringfence");
  }),
);

Deno.test("http: 401 without the token; NDJSON and SSE streams with it", async () => {
  const exporter = new HttpExporter({
    listen: { hostname: "127.0.0.1", port: 0 },
    token: "s3cret",
  });
  const base = `http://${exporter.address}`;
  try {
    const denied = await fetch(`${base}/events`);
    await denied.body?.cancel();
    assert.equal(denied.status, 401);
    const wrong = await fetch(`${base}/health`, {
      headers: { authorization: "Bearer nope" },
    });
    await wrong.body?.cancel();
    assert.equal(wrong.status, 401);
    const health = await fetch(`${base}/health`, {
      headers: { authorization: "Bearer s3cret" },
    });
    assert.equal((await health.json()).status, "ok");

    const abort = new AbortController();
    const events: Record<string, unknown>[] = [];
    const response = await readHttpEvents(
      `${base}/events`,
      "s3cret",
      events,
      abort.signal,
    );
    assert.equal(response.headers.get("content-type"), "application/x-ndjson");
    const sse = await fetch(`${base}/events`, {
      headers: { authorization: "Bearer s3cret", accept: "text/event-stream" },
      signal: abort.signal,
    });
    assert.equal(sse.headers.get("content-type"), "text/event-stream");
    for (let n = 1; n <= 3; n++) exporter.write(syntheticEvent(n));
    const deadline = Date.now() + 5_000;
    while (events.length < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(events.map((event) => event.pid), [1001, 1002, 1003]);
    const reader = sse.body!.getReader();
    let text = "";
    while (!text.includes("id: 3\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      text += new TextDecoder().decode(value);
    }
    assert.match(text, /^: ringfence\n\nid: 1\ndata: \{"type":"process_event"/);
    abort.abort();
  } finally {
    await exporter.close();
  }
});

Deno.test("grpc: UNAUTHENTICATED without the token; the stream with it", async () => {
  const exporter = await GrpcExporter.start({
    listen: { hostname: "127.0.0.1", port: 0 },
    token: "s3cret",
  });
  const client = grpcClient(exporter.address);
  try {
    const refused = await new Promise<grpc.ServiceError>((resolve) => {
      const call = client.Events({}, new grpc.Metadata());
      call.on("error", resolve);
      call.on("data", () => {});
    });
    assert.equal(refused.code, grpc.status.UNAUTHENTICATED);

    const metadata = new grpc.Metadata();
    metadata.set("authorization", "Bearer s3cret");
    const received: Record<string, unknown>[] = [];
    const call = client.Events({}, metadata);
    call.on("data", (message) => received.push(message));
    call.on("error", () => {});
    // The call is registered once the server has seen it.
    const deadline = Date.now() + 5_000;
    while (received.length < 3 && Date.now() < deadline) {
      exporter.write(syntheticEvent(received.length ? 99 : 0));
      await new Promise((resolve) => setTimeout(resolve, 50));
      if (received.length) break;
    }
    received.length = 0;
    for (let n = 1; n <= 3; n++) exporter.write(syntheticEvent(n));
    while (received.length < 3 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    assert.deepEqual(received.map((message) => message.pid), [
      1001,
      1002,
      1003,
    ]);
    assert.equal(JSON.parse(received[0].json as string).argv[1], "1");
    call.cancel();
  } finally {
    client.close();
    await exporter.close();
  }
});

Deno.test("commit comment: POST /repos/{repo}/commits/{sha}/comments on GITHUB_API_URL", async () => {
  const requests: { path: string; auth: string | null; body: string }[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      requests.push({
        path: new URL(request.url).pathname,
        auth: request.headers.get("authorization"),
        body: JSON.parse(await request.text()).body,
      });
      return Response.json({ id: 1 }, { status: 201 });
    },
  );
  const saved = Deno.env.toObject();
  try {
    Deno.env.set("GITHUB_API_URL", `http://127.0.0.1:${server.addr.port}`);
    Deno.env.set("GITHUB_TOKEN", "ghs_test");
    Deno.env.set("GITHUB_REPOSITORY", "octo/repo");
    Deno.env.set("GITHUB_SHA", "0123456789abcdef0123456789abcdef01234567");
    assert.equal(await postCommitComment("## ringfence\n"), true);
    assert.deepEqual(requests, [{
      path:
        "/repos/octo/repo/commits/0123456789abcdef0123456789abcdef01234567/comments",
      auth: "Bearer ghs_test",
      body: "## ringfence\n",
    }]);
  } finally {
    for (
      const name of [
        "GITHUB_API_URL",
        "GITHUB_TOKEN",
        "GITHUB_REPOSITORY",
        "GITHUB_SHA",
      ]
    ) {
      if (saved[name] === undefined) Deno.env.delete(name);
      else Deno.env.set(name, saved[name]);
    }
    await server.shutdown();
  }
});

Deno.test(
  "jsonl: every event one line, in order, through batches, a line larger than the buffer and non-ASCII text",
  withTempDir(async (dir) => {
    const path = `${dir}/events.jsonl`;
    const exporter = new JsonLinesExporter(path);
    const events: RingfenceEvent[] = [];
    for (let n = 0; n < 3000; n++) events.push(syntheticEvent(n));
    // A line of about 400 KB, longer than the 128 KiB buffer.
    const huge = syntheticEvent(3000) as RingfenceEvent & { argv: string[] };
    huge.argv = Array.from(
      { length: 4000 },
      (_, i) => `argument-${i}-`.repeat(8),
    );
    events.splice(1500, 0, huge);
    const unicode = syntheticEvent(3001) as RingfenceEvent & { path: string };
    unicode.path = "/tmp/ünïcødé/文件/🙂.txt";
    events.push(unicode);
    for (const event of events) exporter.write(event);
    await exporter.close();
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.equal(lines.pop(), "", "the file ends with a newline");
    assert.deepEqual(lines.map((line) => JSON.parse(line)), events);
  }),
);
