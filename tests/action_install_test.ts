/**
 * The Action's install of the binary it is pinned to (action/release.json)
 * from a local HTTP server standing in for the release page, with its
 * checksum checked; the artifact zip and protocol against the fake results
 * service; `install.sh --runner-hooks`; the job summary's size limit.
 *
 * @module
 */

import assert from "node:assert/strict";
import { fitSummary, STEP_SUMMARY_MAX } from "../cli/publish.ts";
import { stateDir } from "../cli/state.ts";
import { manifestFrom } from "../scripts/release_manifest.ts";
import { ROOT } from "./helpers/kernel.ts";
import {
  fakeResultsService,
  fakeRuntimeToken,
  unzip,
} from "./helpers/fake_results.ts";

const decoder = new TextDecoder();

async function run(
  command: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(command, {
    args,
    cwd: options.cwd,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const digest = await crypto.subtle.digest("SHA-256", bytes);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, "0"))
    .join("");
}

const ASSET = `ringfence-${
  Deno.build.arch === "aarch64" ? "aarch64" : "x86_64"
}-linux`;

/** A copy of the action (action/, scripts/) with its own release.json. */
async function actionCopy(
  dir: string,
  manifest: unknown | undefined,
): Promise<string> {
  const root = `${dir}/action-copy/`;
  await Deno.mkdir(`${root}action`, { recursive: true });
  await Deno.mkdir(`${root}scripts/runner-hooks`, { recursive: true });
  for (const entry of Deno.readDirSync(`${ROOT}action`)) {
    if (entry.name.endsWith(".mjs")) {
      await Deno.copyFile(
        `${ROOT}action/${entry.name}`,
        `${root}action/${entry.name}`,
      );
    }
  }
  for (const file of ["install.sh", "runner-hooks/job-started.sh"]) {
    await Deno.copyFile(`${ROOT}scripts/${file}`, `${root}scripts/${file}`);
  }
  if (manifest) {
    await Deno.writeTextFile(
      `${root}action/release.json`,
      JSON.stringify(manifest),
    );
  }
  return root;
}

/** Serves `files` (name → bytes) on 127.0.0.1, logging the paths asked. */
function releaseServer(files: Map<string, Uint8Array<ArrayBuffer>>) {
  const asked: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    (request) => {
      const path = new URL(request.url).pathname;
      asked.push(path);
      const body = files.get(path);
      return body
        ? new Response(body)
        : new Response("not found", { status: 404 });
    },
  );
  return {
    url: `http://127.0.0.1:${server.addr.port}`,
    asked,
    close: () => server.shutdown(),
  };
}

Deno.test("action install: the pinned release is downloaded and installed; a checksum mismatch installs nothing", async () => {
  const dir = await Deno.makeTempDir();
  const binary = new TextEncoder().encode("#!/bin/sh\necho fake ringfence\n");
  const evil = new TextEncoder().encode("#!/bin/sh\necho evil\n");
  const server = releaseServer(
    new Map([
      [`/v9.9.9/${ASSET}`, binary],
      [`/evil/${ASSET}`, evil],
      [
        `/evil/${ASSET}.sha256`,
        new TextEncoder().encode(`${"0".repeat(64)}  x\n`),
      ],
    ]),
  );
  try {
    const pinned = {
      version: "v9.9.9",
      sha256: { [ASSET]: await sha256(binary) },
    };
    const root = await actionCopy(dir, pinned);
    const installed = await run("node", [
      "--input-type=module",
      "-e",
      `import { installRelease } from ${
        JSON.stringify(`${root}action/install.mjs`)
      };
       console.log(JSON.stringify(await installRelease({ version: "", baseUrl: ${
        JSON.stringify(`${server.url}/v9.9.9`)
      }, prefix: ${JSON.stringify(`${dir}/bin`)} })));`,
    ]);
    assert.equal(installed.code, 0, installed.stderr);
    const result = JSON.parse(installed.stdout);
    assert.equal(result.version, "v9.9.9");
    assert.equal(result.path, `${dir}/bin/ringfence`);
    assert.deepEqual(await Deno.readFile(`${dir}/bin/ringfence`), binary);
    assert.equal(
      (await Deno.stat(`${dir}/bin/ringfence`)).mode! & 0o777,
      0o755,
    );
    // The pinned digest decides: no .sha256 was fetched.
    assert.deepEqual(server.asked, [`/v9.9.9/${ASSET}`]);

    // The pre step, with a mirror serving another file under the name.
    const state = `${dir}/temp`;
    await Deno.mkdir(state);
    const summary = `${dir}/summary`;
    const pre = await run("node", [`${root}action/pre.mjs`], {
      env: {
        PATH: Deno.env.get("PATH")!,
        RUNNER_TEMP: state,
        GITHUB_STEP_SUMMARY: summary,
        "INPUT_BASE-URL": `${server.url}/evil`,
        INPUT_VERSION: "",
      },
    });
    assert.equal(pre.code, 1, pre.stdout + pre.stderr);
    assert.match(
      pre.stdout,
      new RegExp(
        `^::error title=ringfence::checksum mismatch for ${server.url}/evil/${ASSET}: expected ${
          pinned.sha256[ASSET]
        } \\(pinned in action/release\\.json\\), got ${await sha256(
          evil,
        )}; nothing was installed$`,
        "m",
      ),
    );
    await assert.rejects(
      Deno.stat(`${state}/ringfence/bin/ringfence`),
      Deno.errors.NotFound,
    );

    // An explicit tag: checked against the .sha256 published with it.
    const tagged = await run("node", [`${root}action/pre.mjs`], {
      env: {
        PATH: Deno.env.get("PATH")!,
        RUNNER_TEMP: state,
        "INPUT_BASE-URL": `${server.url}/evil`,
        INPUT_VERSION: "evil",
      },
    });
    assert.equal(tagged.code, 1);
    assert.match(
      tagged.stdout,
      /::error title=ringfence::checksum mismatch for .*: expected 0{64}, got [0-9a-f]{64}; nothing was installed/,
    );

    // No pin, no binary, no version: refused with what to do.
    const bare = await actionCopy(`${dir}/bare`, undefined);
    const unpinned = await run("node", [`${bare}action/pre.mjs`], {
      env: { PATH: Deno.env.get("PATH")!, RUNNER_TEMP: state },
    });
    assert.equal(unpinned.code, 1);
    assert.match(
      unpinned.stdout,
      /no pinned release \(action\/release\.json\): give `binary`/,
    );

    // The manifest the release workflow writes.
    await Deno.writeTextFile(
      `${dir}/${ASSET}.sha256`,
      `${pinned.sha256[ASSET]}  ${ASSET}\n`,
    );
    assert.deepEqual(manifestFrom(dir, "v9.9.9"), pinned);
  } finally {
    await server.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("action artifact: a zip of the files, created, put as a block blob and finalized with its digest", async () => {
  const dir = await Deno.makeTempDir();
  const results = fakeResultsService();
  try {
    await Deno.writeTextFile(`${dir}/events.jsonl`, '{"a":1}\n'.repeat(1000));
    await Deno.writeTextFile(`${dir}/report.md`, "## ringfence\n");
    const script = (name: string) =>
      `import { uploadArtifact } from ${
        JSON.stringify(`${ROOT}action/artifact.mjs`)
      };
       try { console.log(JSON.stringify(await uploadArtifact(${
        JSON.stringify(name)
      }, ${
        JSON.stringify([
          `${dir}/events.jsonl`,
          `${dir}/report.md`,
          `${dir}/absent.json`,
        ])
      }))); } catch (e) { console.log("error: " + e.message); }`;
    const env = {
      PATH: Deno.env.get("PATH")!,
      ACTIONS_RESULTS_URL: results.url,
      ACTIONS_RUNTIME_TOKEN: fakeRuntimeToken(),
    };
    const uploaded = await run("node", [
      "--input-type=module",
      "-e",
      script("r"),
    ], { env });
    assert.equal(uploaded.code, 0, uploaded.stderr);
    const result = JSON.parse(uploaded.stdout);
    assert.deepEqual(result.files, ["events.jsonl", "report.md"]);
    assert.equal(result.id, "42");
    const artifact = results.artifacts.get("r")!;
    assert.equal(
      artifact.finalized?.hash,
      `sha256:${await sha256(artifact.blob!)}`,
    );
    assert.deepEqual(await unzip(artifact.blob!), {
      "events.jsonl": '{"a":1}\n'.repeat(1000),
      "report.md": "## ringfence\n",
    });
    // The same name again: the service's refusal, in one line.
    const again = await run(
      "node",
      ["--input-type=module", "-e", script("r")],
      { env },
    );
    assert.match(again.stdout, /^error: CreateArtifact: HTTP 409 name taken$/m);
    // A bad token.
    const bad = await run("node", ["--input-type=module", "-e", script("s")], {
      env: { ...env, ACTIONS_RUNTIME_TOKEN: "x.e30.y" },
    });
    assert.match(
      bad.stdout,
      /^error: ACTIONS_RUNTIME_TOKEN names no Actions\.Results scope/m,
    );
  } finally {
    await results.close();
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("install.sh --runner-hooks: installs the hooks and sets the runner's .env, idempotent", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const runner = `${dir}/actions-runner`;
    await Deno.mkdir(runner);
    await Deno.writeTextFile(
      `${runner}/.env`,
      "LANG=C.UTF-8\nACTIONS_RUNNER_HOOK_JOB_STARTED=/old/hook.sh\n",
    );
    await Deno.writeTextFile(`${dir}/policy.yaml`, "version: 1\n");
    const args = [
      `${ROOT}scripts/install.sh`,
      "--runner-hooks",
      `${runner}/hooks`,
      "--runner-env",
      `${runner}/.env`,
      "--policy",
      `${dir}/policy.yaml`,
      "--hooks-only",
      "--prefix",
      `${dir}/bin`,
    ];
    for (let i = 0; i < 2; i++) {
      const result = await run("sh", args);
      assert.equal(result.code, 0, result.stderr);
    }
    assert.equal(
      await Deno.readTextFile(`${runner}/.env`),
      [
        "LANG=C.UTF-8",
        `ACTIONS_RUNNER_HOOK_JOB_STARTED=${runner}/hooks/job-started.sh`,
        `ACTIONS_RUNNER_HOOK_JOB_COMPLETED=${runner}/hooks/job-completed.sh`,
        `RINGFENCE_BIN=${dir}/bin/ringfence`,
        `RINGFENCE_POLICY=${dir}/policy.yaml`,
        "",
      ].join("\n"),
    );
    for (const hook of ["job-started.sh", "job-completed.sh"]) {
      assert.equal(
        await Deno.readTextFile(`${runner}/hooks/${hook}`),
        await Deno.readTextFile(`${ROOT}scripts/runner-hooks/${hook}`),
      );
      assert.equal(
        (await Deno.stat(`${runner}/hooks/${hook}`)).mode! & 0o777,
        0o755,
      );
    }
    // Default .env: the directory given.
    const plain = await run("sh", [
      `${ROOT}scripts/install.sh`,
      "--runner-hooks",
      runner,
      "--hooks-only",
      "--prefix",
      `${dir}/bin`,
    ]);
    assert.equal(plain.code, 0, plain.stderr);
    assert.match(
      await Deno.readTextFile(`${runner}/.env`),
      new RegExp(
        `^ACTIONS_RUNNER_HOOK_JOB_STARTED=${runner}/job-started.sh$`,
        "m",
      ),
    );
    const missing = await run("sh", [
      `${ROOT}scripts/install.sh`,
      "--runner-hooks",
      runner,
      "--hooks-only",
      "--policy",
      `${dir}/absent.yaml`,
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /absent\.yaml: no such policy file/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("state directory: one rule for the hooks, the Action and the agent", async () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  assert.equal(
    stateDir(env({ RINGFENCE_STATE_DIR: "/x", RUNNER_TEMP: "/t" })),
    "/x",
  );
  assert.equal(stateDir(env({ RUNNER_TEMP: "/t/" })), "/t/ringfence");
  assert.equal(stateDir(env({})), "/var/lib/ringfence");
  // The hooks' shell rule gives the same answers.
  for (
    const [vars, expected] of [
      [{ RINGFENCE_STATE_DIR: "/x", RUNNER_TEMP: "/t" }, "/x"],
      [{ RUNNER_TEMP: "/t/" }, "/t/ringfence"],
      [{}, "/var/lib/ringfence"],
    ] as const
  ) {
    const rule = (await Deno.readTextFile(
      `${ROOT}scripts/runner-hooks/job-started.sh`,
    )).split("\n").filter((line) => /^state=/.test(line)).join("\n");
    const result = await run("sh", ["-c", `${rule}\nprintf %s "$state"`], {
      env: { PATH: "/usr/bin:/bin", ...vars },
    });
    assert.equal(result.stdout, expected);
  }
});

Deno.test("job summary: a report over 1 MiB is cut at a line, its code block closed, with a note", () => {
  const small = "## ringfence\n\nall fine\n";
  assert.equal(fitSummary(small, STEP_SUMMARY_MAX), small);
  const big = "## ringfence\n\n```\n" +
    "1234 node — node build.js\n".repeat(60_000) + "```\n";
  const cut = fitSummary(big, STEP_SUMMARY_MAX, "in the artifact");
  assert.ok(new TextEncoder().encode(cut).length <= STEP_SUMMARY_MAX);
  assert.match(cut, /^## ringfence/);
  assert.match(
    cut,
    /\n```\n\n… the report is cut here: the job summary holds at most 1 MiB; the whole report is in the artifact\n$/,
  );
  assert.equal((cut.match(/^```/gm) ?? []).length % 2, 0);
});

Deno.test("action: main and post without a started agent say so", async () => {
  const env = { PATH: Deno.env.get("PATH")!, RUNNER_TEMP: "/nonexistent" };
  const main = await run("node", [`${ROOT}action/main.mjs`], { env });
  assert.equal(main.code, 1);
  assert.match(
    main.stdout,
    /^::error title=ringfence::the agent was not started: this action's pre step did not run or failed/m,
  );
  const post = await run("node", [`${ROOT}action/post.mjs`], { env });
  assert.equal(post.code, 0, post.stdout + post.stderr);
  assert.match(
    post.stdout,
    /^::warning title=ringfence::no agent was started/m,
  );
});
