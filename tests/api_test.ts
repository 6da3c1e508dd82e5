/** The public API (mod.ts) used the way an embedder would. */
import assert from "node:assert/strict";
import {
  Agent,
  parsePolicy,
  PolicyError,
  type RingfenceEvent,
} from "../mod.ts";
import {
  attachedPrograms,
  kernelTest,
  programsLeftSince,
  rootShell,
} from "./helpers/kernel.ts";

kernelTest(
  "Agent.start() + subscribe() deliver a spawned command's events",
  async () => {
    const agent = await Agent.start({
      policy: parsePolicy("version: 1\n", "inline.yaml"),
      spawner: true,
    });
    const events: RingfenceEvent[] = [];
    const unsubscribe = agent.subscribe((event) => events.push(event));
    try {
      const child = new Deno.Command("/bin/echo", {
        args: ["api"],
        stdout: "null",
      }).spawn();
      assert.equal((await child.status).code, 0);
      agent.flush();
      const exec = events.find((event) =>
        event.type === "process_event" && event.kind === "exec" &&
        event.pid === child.pid
      );
      assert.ok(exec, "exec of the child delivered");
      assert.deepEqual(exec.type === "process_event" && exec.argv, [
        "/bin/echo",
        "api",
      ]);
      assert.equal(agent.tree.get(child.pid)?.path, "/bin/echo");
      assert.ok(
        agent.tree.ancestors(child.pid).some((node) => node.pid === Deno.pid),
      );
    } finally {
      unsubscribe();
      await agent.stop();
    }
    assert.equal(agent.stats().drops, 0);
    await agent.stop(); // idempotent
  },
);

kernelTest(
  "a subscriber that subscribes right after start() gets every event, those of the start-up too",
  async () => {
    // A root busy forking while the agent starts: its records reach the
    // ring between attach and the return of start().
    const dir = await Deno.makeTempDir();
    const root = await rootShell(dir, "rfbusyroot");
    const busy = new Deno.Command(root, {
      args: ["-c", "while :; do /bin/true; done"],
    }).spawn();
    try {
      const agent = await Agent.start({
        policy: parsePolicy(
          "version: 1\nscope:\n  processes: [rfbusyroot]\n",
          "inline.yaml",
        ),
      });
      let received = 0;
      agent.subscribe(() => received++);
      await new Promise((resolve) => setTimeout(resolve, 200));
      busy.kill("SIGKILL");
      await busy.status;
      await agent.stop();
      const { events } = agent.stats();
      assert.ok(events > 0, "the busy root's events were seen");
      assert.equal(received, events, "every event dispatched was delivered");
    } finally {
      try {
        busy.kill("SIGKILL");
      } catch { /* gone */ }
      await busy.status;
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("parsePolicy() from mod.ts throws PolicyError with the location", () => {
  assert.throws(
    () => parsePolicy("version: 1\nmode: 3\n", "x.yaml"),
    (error: unknown) =>
      error instanceof PolicyError && error.line === 2 && error.column === 7 &&
      error.message.startsWith("x.yaml:2:7: "),
  );
});

kernelTest(
  "a deferred policy is parsed once during the load; a wrong guess about files still loads the right sensors",
  async () => {
    const withFiles = "version: 1\nfiles:\n  watch: [/tmp/rf-deferred/**]\n";
    for (
      const [text, guess] of [
        [withFiles, false],
        ["version: 1\n", true],
        [withFiles, true],
        ["version: 1\n", false],
      ] as const
    ) {
      let parses = 0;
      const calls: string[] = [];
      const agent = await Agent.start({
        policy: {
          parse: () => {
            parses++;
            calls.push("parse");
            return parsePolicy(text, "inline.yaml");
          },
          files: guess,
        },
        spawner: true,
        whileLoading: () => calls.push("whileLoading"),
      });
      try {
        const expected = text === withFiles
          ? ["process", "network", "file-system"]
          : ["process", "network"];
        assert.deepEqual(agent.sensors, expected, `guess ${guess}`);
        assert.equal(parses, 1);
        // During each load, after the parse: a wrong guess loads twice.
        const right = guess === (text === withFiles);
        assert.deepEqual(
          calls,
          right
            ? ["parse", "whileLoading"]
            : ["parse", "whileLoading", "whileLoading"],
        );
        assert.equal(!!agent.policy.files, text === withFiles);
      } finally {
        await agent.stop();
      }
    }
  },
);

kernelTest(
  "a deferred policy may parse asynchronously: the start waits for it, then whileLoading, and a rejection fails it with nothing loaded",
  async () => {
    const calls: string[] = [];
    const agent = await Agent.start({
      policy: {
        parse: async () => {
          calls.push("parse");
          await new Promise((resolve) => setTimeout(resolve, 30));
          calls.push("parsed");
          return parsePolicy("version: 1\nmode: block\n", "async.yaml");
        },
        files: false,
      },
      spawner: true,
      whileLoading: () => calls.push("whileLoading"),
    });
    try {
      assert.deepEqual(calls, ["parse", "parsed", "whileLoading"]);
      assert.equal(agent.policy.mode, "block");
    } finally {
      await agent.stop();
    }
    const before = await attachedPrograms();
    await assert.rejects(
      Agent.start({
        policy: {
          parse: async () => {
            await new Promise((resolve) => setTimeout(resolve, 30));
            return parsePolicy("version: 1\nmode: loud\n", "late.yaml");
          },
          files: false,
        },
        spawner: true,
      }),
      (error: unknown) =>
        error instanceof PolicyError && /^late\.yaml:2:7: /.test(error.message),
    );
    assert.deepEqual(await programsLeftSince(before), []);
  },
);

kernelTest(
  "a deferred policy that does not parse fails the start with its location, nothing left loaded",
  async () => {
    const before = await attachedPrograms();
    await assert.rejects(
      Agent.start({
        policy: {
          parse: () => parsePolicy("version: 1\nmode: loud\n", "bad.yaml"),
          files: true,
        },
        spawner: true,
      }),
      (error: unknown) =>
        error instanceof PolicyError && /^bad\.yaml:2:7: /.test(error.message),
    );
    assert.deepEqual(await programsLeftSince(before), []);
  },
);

/** The link types of the BPF links this process holds, from fdinfo. */
function heldLinkTypes(): string[] {
  const types: string[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // the directory's own fd, closed meanwhile
    }
    if (target !== "anon_inode:bpf_link") continue;
    const info = Deno.readTextFileSync(`/proc/self/fdinfo/${entry.name}`);
    types.push(info.match(/^link_type:\s+(\S+)/m)![1]);
  }
  return types.sort();
}

kernelTest(
  "the sensors attach no perf-event link, whose detach waits for RCU grace periods at every stop",
  async () => {
    const agent = await Agent.start({
      policy: parsePolicy(
        "version: 1\nfiles:\n  watch: [/tmp/rf-links/**]\n",
        "inline.yaml",
      ),
      spawner: true,
    });
    try {
      assert.deepEqual(agent.sensors, ["process", "network", "file-system"]);
      const types = heldLinkTypes();
      assert.ok(types.includes("raw_tracepoint"), types.join(" "));
      assert.ok(types.includes("cgroup"), types.join(" "));
      assert.deepEqual(types.filter((type) => type === "perf"), []);
    } finally {
      await agent.stop();
    }
    assert.deepEqual(heldLinkTypes(), []);
  },
);
