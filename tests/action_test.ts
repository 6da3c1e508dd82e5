/**
 * The GitHub Action driven as the runner drives it (tests/helpers/
 * fake_runner.ts): pre starts the agent before the "checkout", main hands
 * it the policy file the checkout wrote, a step's connection is refused,
 * and post publishes the full report to the job summary and uploads the
 * artifact (tests/helpers/fake_results.ts). Also: a refused policy, an
 * agent killed during the job, the pinned install and its checksum, and
 * the runner hooks' installation.
 *
 * @module
 */

import assert from "node:assert/strict";
import { DENO, kernelTest, ROOT } from "./helpers/kernel.ts";
import { FakeRunner } from "./helpers/fake_runner.ts";
import {
  fakeResultsService,
  fakeRuntimeToken,
  unzip,
} from "./helpers/fake_results.ts";

/** A listener on 127.0.0.1 counting the bytes it receives. */
function listener(): { port: number; bytes: () => number; close: () => void } {
  const server = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  let bytes = 0;
  (async () => {
    for await (const conn of server) {
      (async () => {
        const buffer = new Uint8Array(4096);
        try {
          for (;;) {
            const n = await conn.read(buffer);
            if (n === null) break;
            bytes += n;
          }
        } catch { /* reset */ }
        try {
          conn.close();
        } catch { /* closed */ }
      })();
    }
  })().catch(() => {});
  return {
    port: (server.addr as Deno.NetAddr).port,
    bytes: () => bytes,
    close: () => server.close(),
  };
}

/** The binary input: a shim running this checkout's main.ts. */
async function shim(dir: string): Promise<string> {
  const path = `${dir}/ringfence`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh\nexec '${DENO}' run -A '${ROOT}main.ts' "$@"\n`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

function processesMentioning(text: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name) || Number(entry.name) === Deno.pid) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`);
      if (cmdline.includes(text)) found.push(Number(entry.name));
    } catch { /* gone */ }
  }
  return found;
}

/**
 * Stops an agent a failed test left (`ringfence stop` removes its pins,
 * which a SIGKILL would leave enforcing), then kills what is left.
 */
async function killLeftovers(dir: string): Promise<void> {
  const state = `${dir}/_temp/ringfence`;
  try {
    Deno.statSync(`${state}/ringfence.pid`);
    await new Deno.Command(DENO, {
      args: ["run", "-A", `${ROOT}main.ts`, "stop", "--state-dir", state],
      stdout: "null",
      stderr: "null",
    }).output();
  } catch { /* none left */ }
  for (const pid of processesMentioning(dir)) {
    try {
      Deno.kill(pid, "SIGKILL");
    } catch { /* gone */ }
  }
}

/** A `bash` step that sends a line to 127.0.0.1:port; exits 0 on success. */
function connectStep(port: number): string {
  return `/bin/bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && echo payload >&3'`;
}

const CHECKOUT_POLICY = `version: 1
mode: audit
scope:
  processes: [Runner.Worker]
network:
  loopback: deny
  allow: []
`;

kernelTest(
  "action: pre before the checkout, main puts the checkout's policy in force, a blocked step, post publishes the report and the artifact",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ringfence-action-" });
    const allowed = listener();
    const blocked = listener();
    const results = fakeResultsService();
    let runner: FakeRunner | undefined;
    try {
      runner = await FakeRunner.start(dir);
      const inputs = {
        binary: await shim(dir),
        "egress-policy": "block",
        // harden-runner's syntax, newline separated.
        "allowed-endpoints": `127.0.0.1:${allowed.port}\nexample.com:443`,
        policy: ".github/ringfence.yaml",
        "upload-artifact": "true",
        "disable-file-monitoring": "false",
        "ready-timeout": "60",
      };
      const pre = await runner.action(ROOT, "pre", inputs);
      assert.equal(pre.code, 0, `pre: ${pre.stdout}\n${pre.stderr}`);
      assert.match(pre.stderr, /ringfence: armed after \d+ ms in block mode/);
      const state = `${runner.temp}/ringfence`;
      assert.match(
        await Deno.readTextFile(runner.stateFile),
        /^late-policy=.*\/work\/\.github\/ringfence\.yaml$/m,
      );

      // The "checkout": it is watched (the agent started before it), and
      // loopback is still allowed by the built-in policy.
      const checkout = await runner.step(
        `/bin/sh -c 'mkdir -p .github && cat > .github/ringfence.yaml'` +
          ` <<'EOF'\n${CHECKOUT_POLICY}EOF`,
      );
      assert.equal(checkout.code, 0, checkout.stderr);
      // A step that runs the main step's script itself, not as the
      // runner's direct child: the agent does not take the policy for it.
      const forged = await runner.step(
        `/bin/bash -c 'node ${ROOT}action/main.mjs; exit $?'`,
        { "INPUT_READY-TIMEOUT": "2" },
      );
      assert.equal(forged.code, 1, forged.stdout);
      assert.match(
        forged.stdout,
        /the agent did not take the policy .* within 2s/,
      );
      await assert.rejects(
        Deno.stat(`${state}/policy-handoff.json`),
        Deno.errors.NotFound,
      );
      assert.equal((await runner.step(connectStep(blocked.port))).code, 0);
      await waitFor(() => blocked.bytes() > 0, "the connection before main");
      const before = blocked.bytes();

      const main = await runner.action(ROOT, "main", inputs);
      assert.equal(main.code, 0, `main: ${main.stdout}\n${main.stderr}`);
      assert.match(
        main.stdout,
        /ringfence: policy \S+\/\.github\/ringfence\.yaml \(sha256 [0-9a-f]{64}\) in force, mode block/,
      );

      // A step after main: loopback is denied but for the allowed endpoint.
      const refused = await runner.step(connectStep(blocked.port));
      assert.notEqual(refused.code, 0, "the blocked connection succeeded");
      const ok = await runner.step(connectStep(allowed.port));
      assert.equal(ok.code, 0, `the allowed connection failed: ${ok.stderr}`);
      await waitFor(() => allowed.bytes() > 0, "the allowed connection");
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(blocked.bytes(), before, "bytes reached the blocked port");

      // The runner gives these to actions.
      const post = await runner.action(ROOT, "post", inputs, {
        ACTIONS_RESULTS_URL: results.url,
        ACTIONS_RUNTIME_TOKEN: fakeRuntimeToken(),
      });
      assert.equal(post.code, 0, `post: ${post.stdout}\n${post.stderr}`);

      // The job summary is the full report, with the block.
      const summary = post.summary;
      assert.match(summary, /^## ringfence$/m);
      assert.match(summary, /^\d+ processes · \d+ events · [1-9]\d* blocked/m);
      assert.ok(
        summary.includes(
          `| (no name) | ⛔ blocked | 127.0.0.1 | ${blocked.port} |`,
        ),
        summary,
      );
      assert.match(summary, /Process tree/);
      assert.ok(!summary.includes("TAMPERED"), summary);
      // post's own stop request is neither tampering nor a would-be kill
      assert.ok(!/signals? to the agent/.test(summary), summary);
      assert.ok(!/Would be killed/.test(summary), summary);
      assert.match(post.stdout, /^ringfence: \d+ processes, .*stopped$/m);

      // The state directory: one for the hooks and the agent.
      const files = [...Deno.readDirSync(state)].map((entry) => entry.name)
        .sort();
      for (
        const name of [
          "agent.log",
          "events.jsonl",
          "policy-handoff.json",
          "policy.yaml",
          "report.html",
          "report.json",
          "report.md",
        ]
      ) {
        assert.ok(files.includes(name), `${name} missing: ${files}`);
      }
      assert.ok(!files.includes("ringfence.pid"), "the pid file stayed");
      assert.equal(
        await Deno.readTextFile(`${state}/policy.yaml`),
        CHECKOUT_POLICY,
      );
      const handoff = JSON.parse(
        await Deno.readTextFile(`${state}/policy-handoff.json`),
      );
      assert.equal(handoff.status, "applied");
      assert.equal(handoff.mode, "block");
      const events = (await Deno.readTextFile(`${state}/events.jsonl`))
        .split("\n").filter(Boolean).map((line) => JSON.parse(line));
      assert.ok(
        events.some((event) =>
          event.kind === "exec" &&
          event.argv?.some((arg: string) => arg.includes(".github/ringfence"))
        ),
        "the checkout's exec is not in the events",
      );
      assert.deepEqual(processesMentioning(state), []);

      // The artifact.
      const artifact = results.artifacts.get("ringfence-build");
      assert.ok(artifact?.blob, "no artifact uploaded");
      assert.equal(artifact.runId, "run-1");
      assert.equal(artifact.jobId, "job-2");
      assert.equal(artifact.blobType, "BlockBlob");
      assert.equal(artifact.finalized?.size, String(artifact.blob.length));
      const digest = new Uint8Array(
        await crypto.subtle.digest("SHA-256", artifact.blob),
      );
      assert.equal(
        artifact.finalized?.hash,
        `sha256:${
          [...digest].map((b) => b.toString(16).padStart(2, "0")).join("")
        }`,
      );
      const zipped = await unzip(artifact.blob);
      assert.deepEqual(Object.keys(zipped).sort(), [
        "events.jsonl",
        "report.html",
        "report.json",
        "report.md",
      ]);
      // The web page of the job, its data inline.
      assert.match(zipped["report.html"], /<script id="ringfence-data"/);
      assert.equal(
        zipped["report.md"],
        await Deno.readTextFile(`${state}/report.md`),
      );
      assert.match(
        post.stdout,
        /uploaded events\.jsonl, report\.md, report\.html, report\.json as the artifact ringfence-build/,
      );
    } finally {
      await runner?.close();
      await killLeftovers(dir);
      allowed.close();
      blocked.close();
      await results.close();
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "action: a policy file that does not parse fails main with its line and column; a killed agent makes post fail as tampered",
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ringfence-action-" });
    let runner: FakeRunner | undefined;
    try {
      runner = await FakeRunner.start(dir);
      const inputs = {
        binary: await shim(dir),
        policy: ".github/ringfence.yaml",
        "ready-timeout": "60",
      };
      const pre = await runner.action(ROOT, "pre", inputs);
      assert.equal(pre.code, 0, `pre: ${pre.stdout}\n${pre.stderr}`);
      await Deno.mkdir(`${runner.workspace}/.github`);
      await Deno.writeTextFile(
        `${runner.workspace}/.github/ringfence.yaml`,
        "version: 1\nmode: block\nnetwork:\n  allow: [nope:99999]\n",
      );
      const main = await runner.action(ROOT, "main", inputs);
      assert.equal(main.code, 1, `main: ${main.stdout}\n${main.stderr}`);
      assert.match(
        main.stdout,
        /^::error title=ringfence policy,file=\.github\/ringfence\.yaml::\S+\/\.github\/ringfence\.yaml:4:\d+: .*; the previous policy stays in force$/m,
      );

      // Whoever runs the main step's script again, as the runner's child
      // even, is told the policy went to another process.
      const again = await runner.action(ROOT, "main", inputs);
      assert.equal(again.code, 1);
      assert.match(
        again.stdout,
        /::error title=ringfence::the policy was handed to the agent at the start of another process \(pid \d+\), not of this step/,
      );

      // A step kills the agent (it runs as root here).
      const state = `${runner.temp}/ringfence`;
      const pid = Number(
        (await Deno.readTextFile(`${state}/ringfence.pid`)).trim(),
      );
      Deno.kill(pid, "SIGKILL");
      const post = await runner.action(ROOT, "post", inputs);
      assert.equal(post.code, 3, `post: ${post.stdout}\n${post.stderr}`);
      assert.match(post.summary, /TAMPERED/);
      assert.match(post.summary, /^## ringfence$/m);
      assert.match(post.stdout, /^::error title=ringfence: AGENT TAMPERED::/m);
    } finally {
      await runner?.close();
      await killLeftovers(dir);
      await Deno.remove(dir, { recursive: true });
    }
  },
);

async function waitFor(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
