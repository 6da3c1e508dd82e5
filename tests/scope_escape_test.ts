/**
 * The scope cannot be outrun: a process planted in a scope cgroup before
 * `ringfence start`, double-forked away from any root, and one moved into
 * that cgroup afterwards are policed; and a full scope map fails closed
 * (block mode kills each child it cannot hold, audit mode reports it).
 * Listeners are in a network namespace of the test's own, or on loopback.
 */
import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import { cgroup2Mount } from "../sensors/system.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  startAgent,
} from "./helpers/kernel.ts";
import { PROBE, TestNetns } from "./helpers/net_harness.ts";

const LISTENER = new URL("./helpers/net_listener.py", import.meta.url)
  .pathname;

type Event = NetworkEvent | ProcessEvent;

/** `command` run in the namespace, keeping the cgroup2 mount in view. */
function inNetns(netns: TestNetns, command: string[]): string[] {
  return ["nsenter", `--net=/run/netns/${netns.name}`, ...command];
}

/** Waits until `read` gives a value, or fails after `ms`. */
async function until<T>(
  what: string,
  read: () => T | undefined | Promise<T | undefined>,
  ms = 10_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    const value = await Promise.resolve().then(read).catch(() => undefined);
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

/** Lines a child prints, collected as they come. */
function collectLines(child: Deno.ChildProcess): string[] {
  const lines: string[] = [];
  (async () => {
    let rest = "";
    for await (
      const chunk of child.stdout.pipeThrough(new TextDecoderStream())
    ) {
      rest += chunk;
      const parts = rest.split("\n");
      rest = parts.pop()!;
      lines.push(...parts);
    }
  })().catch(() => {});
  return lines;
}

/** The planted process: waits for `go`, then sends a secret to `port`. */
const PLANTED = `
import os, socket, sys, time
go, out, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
def put(path, text):
    # whole or not at all: the test reads the file as soon as it exists
    with open(path + ".part", "w") as f:
        f.write(text)
    os.replace(path + ".part", path)
put(out + ".pid", str(os.getpid()))
while not os.path.exists(go):
    time.sleep(0.05)
try:
    with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
        s.sendall(b"secret")
        time.sleep(0.3)
    result = "ok"
except OSError as e:
    result = f"errno {e.errno}"
put(out, result)
`;

kernelTest(
  "start: a process planted in a scope cgroup before the agent, or moved there, is policed",
  async () => {
    const dir = await Deno.makeTempDir();
    const name = `rf-scope-test-${Deno.pid}`;
    const cgroup = `${cgroup2Mount()}/${name}`;
    await Deno.mkdir(cgroup);
    const netns = await TestNetns.create();
    const listen = inNetns(netns, [
      "python3",
      LISTENER,
      "tcp:9001",
      "tcp:9002",
      "tcp:9003",
    ]);
    const listener = new Deno.Command(listen[0], {
      args: listen.slice(1),
      stdout: "piped",
      stderr: "null",
    }).spawn();
    const received = collectLines(listener);
    let planted: number | undefined;
    try {
      await until(
        "the listener",
        () => received.includes("ready") || undefined,
      );
      // Planted before the agent: moved into the cgroup, then orphaned by
      // a double fork (its parent exits; init adopts it).
      const out = `${dir}/planted`;
      const plant = await new Deno.Command("/bin/sh", {
        args: [
          "-c",
          `echo $$ > ${cgroup}/cgroup.procs && (${
            inNetns(netns, ["python3", "-c", '"$0"', `${dir}/go`, out, "9001"])
              .join(" ")
          } < /dev/null > /dev/null 2>&1 &)`,
          PLANTED,
        ],
      }).output();
      assert.ok(plant.success, new TextDecoder().decode(plant.stderr));
      planted = Number(
        await until("the planted pid", () => Deno.readTextFile(`${out}.pid`)),
      );
      const ppid = (await Deno.readTextFile(`/proc/${planted}/stat`))
        .split(") ")[1].split(" ")[1];
      assert.notEqual(ppid, String(Deno.pid), "re-parented away");

      const policy = `${dir}/policy.yaml`;
      await Deno.writeTextFile(
        policy,
        [
          "version: 1",
          "mode: block",
          "scope:",
          "  processes: [rfnothing]",
          `  cgroups: [/${name}]`,
          "network:",
          "  loopback: deny",
          '  allow: ["127.0.0.1:1"]',
          "",
        ].join("\n"),
      );
      const output = `${dir}/events.jsonl`;
      const agent = await startAgent([
        "--policy",
        policy,
        "--output",
        output,
        "--ready-file",
        `${dir}/ready`,
      ]);
      let moved: { pid: number; line: string } | undefined;
      let control: string;
      try {
        await Deno.writeTextFile(`${dir}/go`, "");
        assert.equal(
          await until("the planted result", () => Deno.readTextFile(out)),
          "errno 1",
          "the planted process's connect is refused (EPERM)",
        );
        // An unscoped parent moves itself into the cgroup, then execs.
        const mover = new Deno.Command("/bin/sh", {
          args: [
            "-c",
            `echo $$ > ${cgroup}/cgroup.procs && exec ${
              inNetns(netns, ["python3", PROBE, "tcpsend", "127.0.0.1", "9002"])
                .join(" ")
            }`,
          ],
          stdout: "piped",
        }).spawn();
        const movedOutput = await mover.output();
        moved = {
          pid: mover.pid,
          line: new TextDecoder().decode(movedOutput.stdout).trim(),
        };
        // Outside the cgroup: not in scope.
        const outside = await new Deno.Command(
          "nsenter",
          {
            args: inNetns(netns, [
              "python3",
              PROBE,
              "tcpsend",
              "127.0.0.1",
              "9003",
            ]).slice(1),
            stdout: "piped",
          },
        ).output();
        control = new TextDecoder().decode(outside.stdout).trim();
      } finally {
        const { code, stderr } = await agent.stop();
        assert.equal(code, 0, stderr);
      }
      assert.equal(moved.line, "errno 1", "the moved process is refused");
      assert.equal(control, "ok", "a process outside the cgroup connects");
      await until(
        "the control's bytes",
        () =>
          received.some((line) => line.startsWith("tcp 127.0.0.1:9003 ")) ||
          undefined,
      );
      assert.deepEqual(
        received.filter((line) => /:900[12] /.test(line)),
        [],
        "no byte reached the listener from the cgroup",
      );

      const events = await readJsonLines<Event>(output);
      const refused = (pid: number) =>
        events.find((event) =>
          event.type === "network_event" && event.pid === pid &&
          event.verdict === "deny"
        ) as NetworkEvent | undefined;
      const plantedRefusal = refused(planted);
      assert.ok(plantedRefusal, "the planted process's refusal is reported");
      assert.equal(plantedRefusal.comm, "python3");
      assert.equal(plantedRefusal.dport, 9001);
      const movedRefusal = refused(moved.pid);
      assert.ok(movedRefusal, "the moved process's refusal is reported");
      assert.equal(movedRefusal.dport, 9002);
      assert.ok(
        !events.some((event) =>
          event.type === "network_event" &&
          (event as NetworkEvent).dport === 9003
        ),
        "the control is not in scope",
      );
    } finally {
      if (planted) {
        try {
          Deno.kill(planted, "SIGKILL");
        } catch { /* gone */ }
      }
      listener.kill("SIGKILL");
      await listener.status;
      await netns.close();
      await until("an empty cgroup", async () => {
        await Deno.remove(cgroup);
        return true;
      }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

/** The step: forks `n` children that each send a secret once all exist. */
const FORKER = `
import os, socket, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
r, w = os.pipe()
pids = []
for _ in range(n):
    pid = os.fork()
    if pid == 0:
        os.close(w)
        os.read(r, 1)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                s.sendall(b"secret")
            os._exit(0)
        except OSError as e:
            os._exit(10 + (e.errno or 0) % 100)
    pids.append(pid)
os.close(r)
os.close(w)
for pid in pids:
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        print(pid, "signal", os.WTERMSIG(status), flush=True)
    else:
        print(pid, "exit", os.WEXITSTATUS(status), flush=True)
`;

const CHILDREN = 100;
const CAPACITY = 64;

/** A loopback listener counting the bytes it receives. */
function byteCounter(): { port: number; bytes(): number; close(): void } {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let bytes = 0;
  (async () => {
    for await (const connection of listener) {
      (async () => {
        for await (const chunk of connection.readable) bytes += chunk.length;
      })().catch(() => {});
    }
  })().catch(() => {});
  return {
    port: (listener.addr as Deno.NetAddr).port,
    bytes: () => bytes,
    close: () => listener.close(),
  };
}

async function forkPastCapacity(mode: "block" | "audit", port: number) {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      [
        "version: 1",
        `mode: ${mode}`,
        "network:",
        "  loopback: deny",
        '  allow: ["127.0.0.1:1"]',
        "",
      ].join("\n"),
    );
    const result = await ringfence([
      "run",
      "--policy",
      `${dir}/policy.yaml`,
      "--output",
      `${dir}/events.jsonl`,
      "--report",
      `${dir}/report.md`,
      "--",
      "python3",
      "-c",
      FORKER,
      String(port),
      String(CHILDREN),
    ], { wrap: ["env", `RINGFENCE_SCOPE_CAPACITY=${CAPACITY}`] });
    const children = new Map<number, string>();
    for (const line of result.stdout.trim().split("\n").filter(Boolean)) {
      const [pid, ...rest] = line.split(" ");
      children.set(Number(pid), rest.join(" "));
    }
    const events = await readJsonLines<Event>(`${dir}/events.jsonl`);
    const report = await Deno.readTextFile(`${dir}/report.md`);
    return { ...result, children, events, report };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

kernelTest(
  "a full scope map fails closed: block mode kills each child it cannot hold",
  async () => {
    const counter = byteCounter();
    try {
      const run = await forkPastCapacity("block", counter.port);
      assert.equal(run.children.size, CHILDREN, run.stderr);
      const killed = [...run.children].filter(([, how]) => how === "signal 9")
        .map(([pid]) => pid);
      const refused = [...run.children].filter(([, how]) => how === "exit 11");
      assert.ok(killed.length > 0, `some children did not fit: ${run.stderr}`);
      assert.equal(
        killed.length + refused.length,
        CHILDREN,
        "every child was killed or refused (EPERM)",
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.equal(counter.bytes(), 0, "no byte reached the listener");

      const untracked = run.events.filter((event) =>
        event.type === "process_event" && event.kind === "untracked"
      ) as ProcessEvent[];
      assert.deepEqual(
        untracked.map((event) => event.pid).sort(),
        killed.sort(),
        "each killed child is reported as untracked",
      );
      const parents = new Set(untracked.map((event) => event.ppid));
      assert.equal(parents.size, 1, "one parent: the step");
      assert.ok(!run.children.has(untracked[0].ppid));
      for (const event of untracked) assert.equal(event.action, "killed");
      assert.match(
        run.stderr,
        new RegExp(`, ${killed.length} untracked \\(scope full, killed\\)`),
      );
      assert.match(run.report, /untracked: the scope map was full/);
    } finally {
      counter.close();
    }
  },
);

kernelTest(
  "a full scope map in audit mode reports each child it cannot hold",
  async () => {
    const counter = byteCounter();
    try {
      const run = await forkPastCapacity("audit", counter.port);
      assert.equal(run.children.size, CHILDREN, run.stderr);
      assert.ok(
        [...run.children.values()].every((how) => how === "exit 0"),
        "audit mode lets every child connect",
      );
      const untracked = run.events.filter((event) =>
        event.type === "process_event" && event.kind === "untracked"
      ) as ProcessEvent[];
      const watched = new Set(
        run.events.filter((event) =>
          event.type === "network_event" && event.kind === "connect"
        ).map((event) => event.pid),
      );
      assert.ok(untracked.length > 0, "some children did not fit");
      for (const event of untracked) {
        assert.equal(event.action, "audit");
        assert.ok(run.children.has(event.pid), "a child of the step");
        assert.ok(!watched.has(event.pid), "reported as untracked only");
      }
      assert.equal(
        untracked.length + watched.size,
        CHILDREN,
        "each child is either watched or reported untracked",
      );
      assert.match(run.stderr, /untracked \(scope full, reported\)/);
    } finally {
      counter.close();
    }
  },
);
