/**
 * The honest suggested policy, end to end: a real audit run in which the
 * build uses one destination and an install script (a process marked in
 * the events with its package, as dependency attribution marks it)
 * reaches another by bare IP, plus a destination the policy refused in a
 * block run of the same job; the suggestion allows the first only, says
 * why the others are left out, keeps the audited policy's other
 * sections, validates, and a block run with it lets the first through and
 * refuses the others. Loopback only.
 */
import assert from "node:assert/strict";
import { DENO, kernelTest, readJsonLines, ROOT } from "./helpers/kernel.ts";
import { PROBE } from "./helpers/net_harness.ts";

const PYTHON = "/usr/bin/python3";

async function ringfence(
  args: string[],
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(DENO, {
    args: ["run", "-A", `${ROOT}main.ts`, ...args],
    env: { CI: "", GITHUB_ACTIONS: "", GITHUB_STEP_SUMMARY: "" },
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Loopback listeners counting the connections each accepted. */
function listeners(count: number) {
  const sockets = Array.from(
    { length: count },
    () => Deno.listen({ hostname: "127.0.0.1", port: 0 }),
  );
  const accepted = sockets.map(() => 0);
  sockets.forEach((socket, index) => {
    (async () => {
      for await (const connection of socket) {
        accepted[index]++;
        connection.close();
      }
    })().catch(() => {});
  });
  return {
    ports: sockets.map((socket) => (socket.addr as Deno.NetAddr).port),
    accepted,
    close: () => sockets.forEach((socket) => socket.close()),
  };
}

const probe = (port: number) => `${PYTHON} ${PROBE} tcp 127.0.0.1 ${port}`;

const AUDITED = (mode: string) =>
  `# The team's policy: audit first.
version: 1
mode: ${mode}
network:
  loopback: deny
  allow: []
process:
  deny: ["/usr/bin/nc"] # never in a build
  action: kill
runner:
  bpf: deny
`;

kernelTest(
  "suggested policy round trip: install script's bare IP and the refused destination are left out; the block run refuses them",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    const { ports, accepted, close } = listeners(3);
    const [used, script, refused] = ports;
    const run = (policy: string, commands: string[], output: string) =>
      ringfence([
        "run",
        "--policy",
        policy,
        "--output",
        output,
        "--",
        "/bin/bash",
        "-c",
        commands.join("; "),
      ], dir);
    try {
      await Deno.writeTextFile(`${dir}/audit.yaml`, AUDITED("audit"));
      await Deno.writeTextFile(`${dir}/block.yaml`, AUDITED("block"));
      // The audit run: the build's destination, then the "install script".
      const audit = await run(
        `${dir}/audit.yaml`,
        [probe(used), probe(script)],
        `${dir}/audit.jsonl`,
      );
      assert.equal(audit.stdout, "ok\nok\n", audit.stderr);
      // The same job under the block policy: a destination refused.
      const block = await run(
        `${dir}/block.yaml`,
        [probe(refused)],
        `${dir}/block.jsonl`,
      );
      assert.equal(block.stdout, "errno 1\n", block.stderr);
      // The process that reached `script` is marked as the install script
      // of a package, as agent/dependencies.ts marks one.
      const events = await readJsonLines(`${dir}/audit.jsonl`);
      const scriptPid = events.find((event) =>
        event.type === "network_event" && event.dport === script
      )?.pid;
      assert.ok(scriptPid);
      const dependency = {
        ecosystem: "npm",
        name: "evil",
        version: "1.0.0",
        script: "postinstall",
      };
      const marked = events.map((event) =>
        event.pid === scriptPid ? { ...event, dependency } : event
      );
      await Deno.writeTextFile(
        `${dir}/events.jsonl`,
        [...marked, ...await readJsonLines(`${dir}/block.jsonl`)]
          .map((event) => JSON.stringify(event) + "\n").join(""),
      );

      const suggested = await ringfence([
        "report",
        `${dir}/events.jsonl`,
        "--suggest-policy",
        "--policy",
        `${dir}/audit.yaml`,
        "--out",
        `${dir}/suggested.yaml`,
      ], dir);
      assert.equal(suggested.code, 0, suggested.stderr);
      const text = await Deno.readTextFile(`${dir}/suggested.yaml`);
      assert.match(text, /^mode: block$/m);
      assert.match(
        text,
        new RegExp(
          `# steps: [^\\n]*; processes: ${PYTHON}\\n {4}- 127\\.0\\.0\\.1:${used}\\n`,
        ),
        text,
      );
      assert.match(
        text,
        new RegExp(
          `# - 127\\.0\\.0\\.1:${script}: reached by bare IP from the install script of evil@1\\.0\\.0 \\(postinstall\\)`,
        ),
        text,
      );
      assert.match(
        text,
        new RegExp(
          `# - 127\\.0\\.0\\.1:${refused}: refused in the audited run \\(not in allow list\\)`,
        ),
        text,
      );
      // The audited policy's other settings, as written.
      assert.match(text, /^# The team's policy: audit first\.$/m);
      assert.match(
        text,
        /^process:\n {2}deny: \["\/usr\/bin\/nc"\] # never in a build\n {2}action: kill\nrunner:\n {2}bpf: deny$/m,
      );
      assert.match(text, /^ {2}loopback: deny$/m);

      const validated = await ringfence(
        ["validate", `${dir}/suggested.yaml`],
        dir,
      );
      assert.equal(validated.code, 0, validated.stderr);
      assert.equal(validated.stdout.trim(), `${dir}/suggested.yaml: ok`);

      const before = [...accepted];
      const enforced = await run(
        `${dir}/suggested.yaml`,
        [probe(used), probe(script), probe(refused)],
        `${dir}/enforced.jsonl`,
      );
      assert.equal(enforced.stdout, "ok\nerrno 1\nerrno 1\n", enforced.stderr);
      assert.deepEqual(
        accepted.map((count, index) => count - before[index]),
        [1, 0, 0],
        "only the used destination was reached",
      );
      assert.match(enforced.stderr, /, 2 blocked, exit 0$/m);
    } finally {
      close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);
