/**
 * Changes to checked-out sources made through a path the events do not
 * give as the file's own: a symbolic link to the source directory inside
 * `node_modules` (a package can make one), then an unlink or a rename by
 * a name through it. The events name the link's path; the agent's sweep
 * at stop finds the sources gone or replaced and reports them as
 * tampered. What git itself removes or moves is not tampering.
 */
import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import {
  kernelTest,
  readJsonLines,
  ringfence,
  runInDir,
} from "./helpers/kernel.ts";
import { GIT, git } from "./helpers/git.ts";

kernelTest(
  "ringfence run: sources removed or replaced through a symlinked directory are tampered",
  async () => {
    const dir = await Deno.realPath(await Deno.makeTempDir());
    try {
      await Deno.mkdir(`${dir}/origin/src`, { recursive: true });
      for (const name of ["main.c", "util.c", "keep.c", "old.c", "moved.c"]) {
        await Deno.writeTextFile(`${dir}/origin/src/${name}`, `// ${name}\n`);
      }
      await git(`${dir}/origin`, "init", "-q");
      await git(`${dir}/origin`, "add", ".");
      await git(`${dir}/origin`, "commit", "-q", "-m", "initial");
      const ws = `${dir}/workspace`;
      const script = [
        "set -e",
        `git clone -q ${dir}/origin ${ws}`,
        `cd ${ws}`,
        // What git does to its own files is a checkout's.
        `git ${GIT.join(" ")} rm -q src/old.c`,
        `git ${GIT.join(" ")} mv src/moved.c src/renamed.c`,
        // A package's files, and its link to the sources.
        "mkdir -p node_modules/pkg",
        "for i in 1 2 3; do echo x > node_modules/pkg/f$i.js; done",
        "ln -s ../../src node_modules/pkg/link",
        "rm node_modules/pkg/link/main.c",
        "echo evil > node_modules/pkg/link/.util.c.new",
        "mv node_modules/pkg/link/.util.c.new node_modules/pkg/link/util.c",
      ].join("\n");
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        `version: 1\nfiles:\n  watch: ["${ws}/**"]\n`,
      );
      const result = await ringfence([
        ...runInDir(dir),
        "/bin/bash",
        "-c",
        script,
      ]);
      assert.equal(result.code, 0, result.stderr);
      // The attack went through: this is detection.
      await assert.rejects(Deno.stat(`${ws}/src/main.c`), Deno.errors.NotFound);
      assert.equal(await Deno.readTextFile(`${ws}/src/util.c`), "evil\n");
      // The events gave the link's paths, not the sources'.
      const events = await readJsonLines<RingfenceEvent>(
        `${dir}/events.jsonl`,
      );
      const unlink = events.find((event) =>
        event.type === "file_system_event" && event.kind === "unlink" &&
        event.path.endsWith("/link/main.c")
      );
      assert.ok(unlink, "the unlink's event names the path through the link");
      // The sweep's events: the two sources, and nothing git did.
      const found = events.filter((event) =>
        event.type === "agent" && event.kind === "source"
      ).map((event) =>
        event.type === "agent" &&
        [event.path, event.change, event.checked_out_by]
      ).sort();
      assert.deepEqual(found, [
        [`${ws}/src/main.c`, "unlink", `git clone -q ${dir}/origin ${ws}`],
        [`${ws}/src/util.c`, "rename", `git clone -q ${dir}/origin ${ws}`],
      ]);
      const tampered = result.stderr.split("\n").filter((line) =>
        line.startsWith("ringfence: tampered ")
      ).sort();
      assert.equal(tampered.length, 2, result.stderr);
      assert.match(
        tampered[0],
        new RegExp(
          `^ringfence: tampered ${ws}/src/main\\.c \\(unlink\\) by a process no event named \\(found when the agent stopped\\)`,
        ),
      );
      const markdown = await Deno.readTextFile(`${dir}/report.md`);
      assert.match(
        markdown,
        new RegExp(
          `\\| \`${ws}/src/util\\.c\` \\| rename \\| \`\\(unknown: found when the agent stopped\\)\` \\|`,
        ),
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
