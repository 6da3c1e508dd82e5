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
      assert.deepEqual(exec.kind === "exec" && exec.argv, [
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

/** The BPF objects (programs, maps, links) this process holds, by fd. */
function heldBpfFds(): { fd: string; kind: string }[] {
  const held: { fd: string; kind: string }[] = [];
  for (const entry of Deno.readDirSync("/proc/self/fd")) {
    let target: string;
    try {
      target = Deno.readLinkSync(`/proc/self/fd/${entry.name}`);
    } catch {
      continue; // the directory's own fd, closed meanwhile
    }
    const kind = target.match(/^anon_inode:(bpf[-_].*)$/)?.[1];
    if (kind) held.push({ fd: entry.name, kind });
  }
  return held;
}

/** The link types of the BPF links this process holds, from fdinfo. */
function heldLinkTypes(): string[] {
  return heldBpfFds().filter(({ kind }) => kind === "bpf_link").map(
    ({ fd }) => {
      const info = Deno.readTextFileSync(`/proc/self/fdinfo/${fd}`);
      return info.match(/^link_type:\s+(\S+)/m)![1];
    },
  ).sort();
}

kernelTest(
  "a policy promise that rejects: start() rejects with its error and leaves nothing loaded",
  async () => {
    const before = await attachedPrograms();
    const held = heldBpfFds().map(({ kind }) => kind).sort();
    // At once, and once the sensors have had time to load.
    for (const delay of [0, 200]) {
      const error = new PolicyError("late.yaml", 2, 1, "unreadable");
      await assert.rejects(
        Agent.start({
          policy: new Promise((_, reject) =>
            setTimeout(() => reject(error), delay)
          ),
          spawner: true,
        }),
        (thrown) => thrown === error,
      );
      assert.deepEqual(heldBpfFds().map(({ kind }) => kind).sort(), held);
    }
    assert.deepEqual(await programsLeftSince(before), []);
  },
);

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

kernelTest(
  "a stop with every sensor loaded frees every program, the chained ones with their prog arrays",
  async () => {
    const before = await attachedPrograms();
    const held = heldBpfFds().map(({ kind }) => kind).sort();
    const agent = await Agent.start({
      policy: parsePolicy(
        "version: 1\nfiles:\n  watch: [/tmp/rf-stop/**]\n",
        "inline.yaml",
      ),
      spawner: true,
    });
    try {
      assert.deepEqual(agent.sensors, ["process", "network", "file-system"]);
      const during = await attachedPrograms();
      // The chains' members are loaded, in their slots.
      for (const name of ["sys_enter", "sys_exit", "finish_fd"]) {
        assert.ok(during.includes(name), name);
      }
    } finally {
      await agent.stop();
    }
    // The slots are left filled at a stop (sensors/sensor.ts close()): the
    // kernel empties the prog arrays when the last fd to them closes.
    assert.deepEqual(heldBpfFds().map(({ kind }) => kind).sort(), held);
    assert.deepEqual(await programsLeftSince(before), []);
  },
);
