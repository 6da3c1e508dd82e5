/**
 * The live view (`run --ui`): the page, the token, the stream with the
 * events so far replayed to a late page, loopback by default, and a real
 * browser that shows a blocked connection made after the page loaded,
 * without a reload.
 */
import assert from "node:assert/strict";
import { HttpExporter } from "../exporters/http.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { DENO, kernelTest, ROOT } from "./helpers/kernel.ts";
import { PROBE } from "./helpers/net_harness.ts";
import { withBrowser } from "./helpers/browser.ts";

const PYTHON = "/usr/bin/python3";

function fakeEvent(pid: number): RingfenceEvent {
  return {
    type: "process_event",
    kind: "exec",
    time: new Date().toISOString(),
    pid,
    tid: pid,
    ppid: 1,
    uid: 0,
    gid: 0,
    comm: "x",
    cgroup_id: 1,
  } as unknown as RingfenceEvent;
}

/** Reads `response` until `count` JSON lines came, within 5 s. */
async function readLines(
  response: Response,
  count: number,
): Promise<string[]> {
  const reader = response.body!.pipeThrough(new TextDecoderStream())
    .getReader();
  const timer = setTimeout(() => reader.cancel(), 5000);
  let text = "";
  try {
    while (text.split("\n").filter(Boolean).length < count) {
      const { value, done } = await reader.read();
      if (done) break;
      text += value;
    }
  } finally {
    clearTimeout(timer);
    await reader.cancel().catch(() => {});
  }
  return text.split("\n").filter(Boolean);
}

Deno.test("http: pages need no token, the stream does; a late client gets the events so far", async () => {
  const server = new HttpExporter({
    listen: { hostname: "127.0.0.1", port: 0 },
    token: "secret",
    replay: 4,
    pages: { "/": "<p>page</p>" },
  });
  try {
    const base = `http://${server.address}`;
    const page = await fetch(`${base}/`);
    assert.equal(page.status, 200);
    assert.match(page.headers.get("content-type")!, /text\/html/);
    assert.equal(await page.text(), "<p>page</p>");
    const denied = await fetch(`${base}/events`);
    assert.equal(denied.status, 401);
    await denied.body?.cancel();
    const wrong = await fetch(`${base}/events`, {
      headers: { authorization: "Bearer nope" },
    });
    assert.equal(wrong.status, 401);
    await wrong.body?.cancel();

    // Six events before the client: the first two and the latest two stay.
    for (let pid = 1; pid <= 6; pid++) server.write(fakeEvent(pid));
    const stream = await fetch(`${base}/events`, {
      headers: { authorization: "Bearer secret" },
    });
    assert.equal(stream.status, 200);
    const reading = readLines(stream, 5);
    server.write(fakeEvent(7));
    const pids = (await reading).map((line) => JSON.parse(line).pid);
    assert.deepEqual(pids, [1, 2, 5, 6, 7]);
  } finally {
    await server.close();
  }
});

/** `ringfence run ARGS` whose stderr is read as it comes. */
class LiveRun {
  readonly child: Deno.ChildProcess;
  stderr = "";
  readonly #done: Promise<void>;

  constructor(args: string[]) {
    const child = this.child = new Deno.Command(DENO, {
      args: ["run", "-A", `${ROOT}main.ts`, "run", ...args],
      stdin: "null",
      stdout: "null",
      stderr: "piped",
      cwd: ROOT,
    }).spawn();
    this.#done = (async () => {
      for await (
        const chunk of child.stderr.pipeThrough(new TextDecoderStream())
      ) this.stderr += chunk;
    })();
  }

  /** The live view's URL, once printed (within 30 s). */
  async url(): Promise<URL> {
    for (let i = 0; i < 300; i++) {
      const match = /live view: (http:\/\/\S+)/.exec(this.stderr);
      if (match) return new URL(match[1]);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    throw new Error(`no live view URL; stderr:\n${this.stderr}`);
  }

  async status(): Promise<Deno.CommandStatus> {
    const status = await this.child.status;
    await this.#done;
    return status;
  }
}

Deno.test("run --ui: a bad or public address is refused in one line", async () => {
  for (
    const [address, error] of [
      ["nonsense", /--ui must be host:port/],
      ["0.0.0.0:0", /not a loopback address.*--ui-public/],
    ] as const
  ) {
    const run = new LiveRun(["--ui", address, "--", "true"]);
    const status = await run.status();
    assert.equal(status.code, 2, run.stderr);
    assert.match(run.stderr, error);
    assert.equal(run.stderr.trim().split("\n").length, 1, run.stderr);
  }
});

/** A script that waits for `dir/go`, connects to `port`, waits for `dir/end`. */
function waitingScript(dir: string, port: number): string[] {
  return [
    "/bin/sh",
    "-c",
    `while [ ! -e ${dir}/go ]; do sleep 0.1; done; ` +
    `${PYTHON} ${PROBE} tcp 127.0.0.1 ${port} > ${dir}/probe; ` +
    `while [ ! -e ${dir}/end ]; do sleep 0.1; done`,
  ];
}

async function withLiveRun(
  fn: (url: URL, port: number, dir: string, run: LiveRun) => Promise<void>,
): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "ringfence-ui-" });
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const accepted: Uint8Array[] = [];
  (async () => {
    for await (const connection of listener) {
      accepted.push(new Uint8Array(1));
      connection.close();
    }
  })().catch(() => {});
  const port = (listener.addr as Deno.NetAddr).port;
  await Deno.writeTextFile(
    `${dir}/policy.yaml`,
    "version: 1\nmode: block\nnetwork:\n  loopback: deny\n  action: deny\n",
  );
  const run = new LiveRun([
    "--ui",
    "0",
    "--policy",
    `${dir}/policy.yaml`,
    "--output",
    `${dir}/events.jsonl`,
    "--",
    ...waitingScript(dir, port),
  ]);
  try {
    const url = await run.url();
    await fn(url, port, dir, run);
  } finally {
    await Deno.writeTextFile(`${dir}/go`, "");
    await Deno.writeTextFile(`${dir}/end`, "");
    const status = await run.status();
    listener.close();
    await Deno.remove(dir, { recursive: true });
    assert.equal(status.code, 0, run.stderr);
    assert.equal(accepted.length, 0, "the blocked connection got through");
  }
}

kernelTest(
  "run --ui: loopback by default, token, page and stream",
  async () => {
    await withLiveRun(async (url, port, dir) => {
      assert.equal(url.hostname, "127.0.0.1");
      const token = new URLSearchParams(url.hash.slice(1)).get("token")!;
      assert.match(token, /^[0-9a-f]{32}$/);
      const page = await fetch(new URL("/", url));
      assert.equal(page.status, 200);
      assert.match(
        await page.text(),
        /<meta name="ringfence-live" content="\/events">/,
      );
      const denied = await fetch(new URL("/events", url));
      assert.equal(denied.status, 401);
      await denied.body?.cancel();

      const stream = await fetch(new URL("/events", url), {
        headers: { authorization: `Bearer ${token}` },
      });
      assert.equal(stream.status, 200);
      const reader = stream.body!.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      // Cancelled at the deadline: a stream that says nothing fails the test.
      const timer = setTimeout(() => reader.cancel(), 20_000);
      const until = async (done: (text: string) => boolean) => {
        while (!done(text)) {
          const chunk = await reader.read();
          if (chunk.done) break;
          text += chunk.value;
        }
      };
      // The events so far: the script's start, replayed.
      await until((text) => text.includes('"kind":"exec"'));
      assert.match(text, /"kind":"exec"/, "no replayed events");
      await Deno.writeTextFile(`${dir}/go`, "");
      // Then the blocked connection, live.
      const connect = new RegExp(`"dport":${port}[^\\n]*"verdict":"deny"`);
      await until((text) => connect.test(text));
      clearTimeout(timer);
      await reader.cancel().catch(() => {});
      assert.match(text, connect);
    });
  },
);

kernelTest(
  "run --ui: the page shows a connection blocked after it loaded",
  async () => {
    await withLiveRun(async (url, port, dir) => {
      await withBrowser(async (page) => {
        await page.goto(url.href);
        await page.waitForFunction(
          `document.getElementById("live-status")?.textContent.includes("connected")`,
          undefined,
          { timeout: 20_000 },
        );
        // A row naming the destination as blocked: in the egress table.
        const shown = `[...document.querySelectorAll("tr")].some((row) =>
        row.textContent.includes("127.0.0.1") &&
        row.textContent.includes("${port}") &&
        row.textContent.includes("blocked"))`;
        assert.equal(
          await page.evaluate(shown),
          false,
          "not before it happens",
        );
        await Deno.writeTextFile(`${dir}/go`, "");
        await page.waitForFunction(shown, undefined, { timeout: 20_000 })
          .catch(async (error) => {
            throw new Error(
              `${error.message}\npage:\n${await page.innerText("body")}`,
            );
          });
        assert.equal(
          (await Deno.readTextFile(`${dir}/probe`)).trim(),
          "errno 1",
        );
      });
    });
  },
);
