import assert from "node:assert/strict";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  runInDir,
} from "./helpers/kernel.ts";

const BLOCKING = `version: 1
mode: block
network:
  loopback: deny
`;
const OPEN = `version: 1
mode: audit
network:
  loopback: allow
`;

/**
 * The step rewrites the policy file to one that lets everything through,
 * has a child send the agent SIGHUP, then connects to a loopback listener
 * the policy in force refuses.
 */
async function rewriteAndHangup(dir: string, from: "step" | "outside") {
  await Deno.writeTextFile(`${dir}/policy.yaml`, BLOCKING);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  const accepted: number[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      accepted.push(1);
      conn.close();
    }
  })();
  const connect = `python3 -c "
import socket
s = socket.socket()
try:
    s.connect(('127.0.0.1', ${port})); print('connected')
except OSError as e:
    print('errno', e.errno)
"`;
  const hangup = from === "step"
    ? `sh -c "kill -HUP $agent"`
    : `touch ${dir}/hup; while [ ! -e ${dir}/hup-sent ]; do sleep 0.05; done`;
  const script = `agent=$PPID
cp ${dir}/open.yaml ${dir}/policy.yaml
${hangup}
sleep 1
${connect}`;
  await Deno.writeTextFile(`${dir}/open.yaml`, OPEN);
  const running = ringfence([...runInDir(dir), "/bin/sh", "-c", script]);
  if (from === "outside") {
    while (true) {
      try {
        await Deno.stat(`${dir}/hup`);
        break;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    const agent = Number(
      (await Deno.readTextFile(`/proc/${await stepPid()}/stat`)).split(
        ") ",
      )[1].split(" ")[1],
    );
    Deno.kill(agent, "SIGHUP");
    await new Promise((resolve) => setTimeout(resolve, 300));
    await Deno.writeTextFile(`${dir}/hup-sent`, "");
  }
  const run = await running;
  listener.close();
  await serving.catch(() => {});
  return { run, accepted: accepted.length };
}

/** The pid of the step's shell: the process that created `hup`. */
async function stepPid(): Promise<number> {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmdline = await Deno.readTextFile(`/proc/${entry.name}/cmdline`);
      if (cmdline.startsWith("/bin/sh\0-c\0agent=$PPID")) {
        return Number(entry.name);
      }
    } catch { /* gone */ }
  }
  throw new Error("the step's shell is not running");
}

kernelTest(
  "a SIGHUP from a policed step does not put a policy file it rewrote in force",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const { run, accepted } = await rewriteAndHangup(dir, "step");
      assert.match(run.stdout, /errno 1\b/, run.stdout + run.stderr);
      assert.equal(accepted, 0, "nothing reached the listener");
      assert.match(
        run.stderr,
        /SIGHUP from pid \d+ \(sh\), a policed process: the policy is not reloaded/,
      );
      assert.doesNotMatch(run.stderr, /policy reloaded/);
      const events = await readJsonLines(`${dir}/events.jsonl`);
      assert.ok(
        events.some((event) =>
          event.kind === "signal" && event.signal === "SIGHUP"
        ),
        "the signal is reported",
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "a SIGHUP from outside the scope reloads the policy",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const { run, accepted } = await rewriteAndHangup(dir, "outside");
      assert.match(run.stderr, /policy reloaded from .* \(mode audit\)/);
      assert.match(run.stdout, /connected/, run.stdout + run.stderr);
      assert.equal(accepted, 1);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
