/**
 * dependencies.install_scripts on the real kernel, at the flag level: a
 * process the agent marks as a dependency's install script (as it does
 * once agent/dependencies.ts has classified it) cannot connect to an
 * allowed destination, read a credential file or write the workspace's
 * workflows; an unmarked process can. The destination is an address of a
 * network namespace the test makes; the home and workspace are temp
 * directories.
 */
import assert from "node:assert/strict";
import { Agent } from "../agent/agent.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import type { NetworkEvent } from "../sensors/network.ts";
import { kernelTest, ROOT } from "./helpers/kernel.ts";
import { PROBE, TestNetns } from "./helpers/net_harness.ts";
import { Lines } from "./helpers/net_pair.ts";

const LISTENER = new URL("./helpers/net_listener.py", import.meta.url)
  .pathname;
/** The "API host": an address on the test namespace's loopback device. */
const API = "10.77.0.1";
const TOKEN = "npm_SECRETTOKEN0123456789";
const WORM = {
  ecosystem: "npm" as const,
  name: "worm",
  version: "1.0.0",
  script: "preinstall",
  manager: "npm",
};

/** Reads stdin's first line, then execs its arguments: a gate. */
const GATE = "import os, sys; sys.stdin.readline(); " +
  "os.execvp(sys.argv[1], sys.argv[1:])";

interface Places {
  home: string;
  workspace: string;
  netns: TestNetns;
  listener: Deno.ChildProcess;
  received: string[];
}

/** A home with an .npmrc, a workspace with .github/workflows, the API. */
async function setUp(): Promise<Places> {
  const home = await Deno.realPath(await Deno.makeTempDir());
  const workspace = await Deno.realPath(await Deno.makeTempDir());
  await Deno.writeTextFile(
    `${home}/.npmrc`,
    `//registry.npmjs.org/:_authToken=${TOKEN}\n`,
  );
  await Deno.mkdir(`${workspace}/.github/workflows`, { recursive: true });
  const netns = await TestNetns.create([[
    "addr",
    "add",
    `${API}/32`,
    "dev",
    "lo",
  ]]);
  // Started before the agent: the listener is no process in scope.
  const listener = new Deno.Command("nsenter", {
    args: [`--net=/run/netns/${netns.name}`, "python3", LISTENER, "tcp:443"],
    stdout: "piped",
    stderr: "null",
  }).spawn();
  const lines = new Lines(listener);
  assert.equal(await lines.next(), "ready");
  const received: string[] = [];
  (async () => {
    for (let line = await lines.next(); line; line = await lines.next()) {
      received.push(line);
    }
  })();
  return { home, workspace, netns, listener, received };
}

async function tearDown(places: Places): Promise<void> {
  places.listener.kill("SIGKILL");
  await places.listener.status;
  await places.netns.close();
  await Deno.remove(places.home, { recursive: true });
  await Deno.remove(places.workspace, { recursive: true });
}

function policyText(places: Places, mode: string, rule: string): string {
  return `version: 1
mode: ${mode}
network:
  allow: ["${API}:443"]
files:
  watch: ["${places.workspace}/**"]
${rule}`;
}

const RULE = "dependencies:\n  install_scripts: {}\n";

/** Runs the test with an agent on `policy`; HOME and workspace are `places`'. */
async function withAgent(
  places: Places,
  policy: string,
  fn: (agent: Agent, events: RingfenceEvent[]) => Promise<void>,
): Promise<void> {
  const saved = {
    HOME: Deno.env.get("HOME"),
    GITHUB_WORKSPACE: Deno.env.get("GITHUB_WORKSPACE"),
  };
  Deno.env.set("HOME", places.home);
  Deno.env.set("GITHUB_WORKSPACE", places.workspace);
  try {
    const agent = await Agent.start({
      policy: parsePolicy(policy, "test.yaml"),
      spawner: true,
      sensorsDir: `${ROOT}bpf/build`,
    });
    const events: RingfenceEvent[] = [];
    agent.subscribe((event) => events.push(event));
    try {
      await fn(agent, events);
    } finally {
      await agent.stop();
    }
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

interface Outcome {
  pid: number;
  stdout: string;
  signal: Deno.Signal | null;
}

/**
 * Runs `command` in scope (in the test namespace), marked as the worm's
 * install script first when `marked`.
 */
async function run(
  agent: Agent,
  places: Places,
  command: string[],
  marked: boolean,
): Promise<Outcome> {
  const child = new Deno.Command("nsenter", {
    args: [
      `--net=/run/netns/${places.netns.name}`,
      "python3",
      "-c",
      GATE,
      ...command,
    ],
    cwd: places.workspace,
    stdin: "piped",
    stdout: "piped",
    stderr: "null",
  }).spawn();
  // nsenter has exec'd the gate once its pid runs python3
  for (let i = 0; i < 200; i++) {
    const comm = await Deno.readTextFile(`/proc/${child.pid}/comm`)
      .catch(() => "");
    if (comm.startsWith("python3")) break;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  if (marked) {
    const decision = agent.installScripts.decide(child.pid, WORM);
    assert.ok(decision.marked);
    assert.deepEqual(decision.pids, [child.pid]);
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode("go\n"));
  await writer.close();
  const output = await child.output();
  await new Promise((resolve) => setTimeout(resolve, 100));
  agent.flush();
  return {
    pid: child.pid,
    stdout: new TextDecoder().decode(output.stdout),
    signal: output.signal,
  };
}

/** The network and file events, for a failure's message. */
function shown(events: RingfenceEvent[]): string {
  return JSON.stringify(
    events.filter((event) => event.type !== "process_event"),
  );
}

function ofPid<T extends RingfenceEvent>(
  events: RingfenceEvent[],
  pid: number,
  type: string,
): T[] {
  return events.filter((event) =>
    event.type === type && (event as { pid?: number }).pid === pid
  ) as T[];
}

const connect = (_places: Places) => [
  "python3",
  PROBE,
  "tcpsend",
  API,
  "443",
  "stolen-npm-token",
];
const readNpmrc = (places: Places) => ["cat", `${places.home}/.npmrc`];
const dropWorkflow = (places: Places) => [
  "sh",
  "-c",
  `printf 'on: push' > ${places.workspace}/.github/workflows/x.yml`,
];

kernelTest(
  "install_scripts: a marked process cannot connect, read .npmrc or write .github; an unmarked one can",
  async () => {
    const places = await setUp();
    try {
      await withAgent(
        places,
        policyText(places, "block", RULE),
        async (agent, events) => {
          // Unmarked: the same three steps go through.
          const sent = await run(agent, places, connect(places), false);
          assert.equal(sent.stdout.trim(), "ok");
          const read = await run(agent, places, readNpmrc(places), false);
          assert.ok(read.stdout.includes(TOKEN));
          const wrote = await run(agent, places, dropWorkflow(places), false);
          assert.equal(wrote.signal, null);
          const workflow = `${places.workspace}/.github/workflows/x.yml`;
          assert.equal(await Deno.readTextFile(workflow), "on: push");
          await Deno.remove(workflow);
          await new Promise((resolve) => setTimeout(resolve, 200));
          assert.ok(
            places.received.some((line) => line.startsWith(`tcp ${API}:443`)),
            `listener: ${places.received}`,
          );
          places.received.length = 0;

          // Marked: refused, killed, killed and undone.
          const refused = await run(agent, places, connect(places), true);
          assert.equal(refused.stdout.trim(), "errno 1");
          const [deny] = ofPid<NetworkEvent>(
            events,
            refused.pid,
            "network_event",
          ).filter((event) => event.kind === "connect");
          assert.equal(deny?.verdict, "deny", shown(events));
          assert.equal(deny.reason, "install_script");
          assert.equal(deny.daddr, API);

          const stolen = await run(agent, places, readNpmrc(places), true);
          assert.equal(stolen.signal, "SIGKILL");
          assert.ok(!stolen.stdout.includes(TOKEN), stolen.stdout);
          const [secret] = ofPid<FileSystemEvent>(
            events,
            stolen.pid,
            "file_system_event",
          );
          assert.equal(secret?.kind, "read", shown(events));
          assert.equal(secret.verdict, "deny");
          assert.equal(secret.killed, true);
          assert.equal(secret.path, `${places.home}/.npmrc`);
          assert.equal(
            secret.reason,
            'dependencies.install_scripts: secret "**/.npmrc"',
          );

          const dropped = await run(agent, places, dropWorkflow(places), true);
          assert.equal(dropped.signal, "SIGKILL");
          const [write] = ofPid<FileSystemEvent>(
            events,
            dropped.pid,
            "file_system_event",
          );
          assert.equal(write?.kind, "create", shown(events));
          assert.equal(write.verdict, "deny");
          assert.equal(write.killed, true);
          assert.equal(write.removed, true);
          assert.equal(write.path, workflow);
          assert.match(
            write.reason,
            /^dependencies\.install_scripts: protected path/,
          );
          await assert.rejects(Deno.stat(workflow), Deno.errors.NotFound);

          await new Promise((resolve) => setTimeout(resolve, 300));
          assert.deepEqual(places.received, []);
        },
      );
    } finally {
      await tearDown(places);
    }
  },
);

kernelTest(
  "install_scripts in audit mode: a marked process's steps go through, reported as audit",
  async () => {
    const places = await setUp();
    try {
      await withAgent(
        places,
        policyText(places, "audit", RULE),
        async (agent, events) => {
          const sent = await run(agent, places, connect(places), true);
          assert.equal(sent.stdout.trim(), "ok");
          const [connectEvent] = ofPid<NetworkEvent>(
            events,
            sent.pid,
            "network_event",
          ).filter((event) => event.kind === "connect");
          assert.equal(connectEvent?.verdict, "audit", shown(events));
          assert.equal(connectEvent.reason, "install_script");
          const read = await run(agent, places, readNpmrc(places), true);
          assert.equal(read.signal, null);
          const [secret] = ofPid<FileSystemEvent>(
            events,
            read.pid,
            "file_system_event",
          );
          assert.equal(secret?.verdict, "audit", shown(events));
          assert.equal(secret.killed, undefined);
          assert.match(secret.reason, /^dependencies\.install_scripts: secret/);
        },
      );
    } finally {
      await tearDown(places);
    }
  },
);
