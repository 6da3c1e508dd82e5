/**
 * A full output disk: the events that cannot be written are counted and
 * said once, and the agent, its enforcement and `run`'s command go on.
 */
import assert from "node:assert/strict";
import { kernelTest, ringfence } from "./helpers/kernel.ts";

async function sh(...args: string[]): Promise<void> {
  const output = await new Deno.Command(args[0], { args: args.slice(1) })
    .output();
  if (!output.success) {
    throw new Error(
      `${args.join(" ")}: ${new TextDecoder().decode(output.stderr)}`,
    );
  }
}

kernelTest(
  "a full --output disk loses lines, not the agent or the command",
  async () => {
    const dir = await Deno.makeTempDir();
    const full = `${dir}/full`;
    await Deno.mkdir(full);
    await sh("mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", full);
    try {
      await Deno.writeTextFile(
        `${dir}/policy.yaml`,
        "version: 1\nmode: block\nnetwork:\n  allow: []\n  loopback: deny\n",
      );
      const result = await ringfence([
        "run",
        "--policy",
        `${dir}/policy.yaml`,
        "--output",
        `${full}/events.jsonl`,
        "--",
        "/bin/bash",
        "-c",
        // Hundreds of exec events: far more than 16 KiB of lines. The
        // connect at the end must still be refused: enforcement goes on.
        "for i in $(seq 300); do /bin/true; done; " +
        "if exec 3<>/dev/tcp/127.0.0.1/9; then echo connected; else echo refused; fi",
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.trim(), "refused");
      const failures = result.stderr.split("\n").filter((line) =>
        line.includes("cannot write events")
      );
      assert.equal(failures.length, 1, result.stderr);
      assert.match(failures[0], /No space left on device/);
      assert.doesNotMatch(result.stderr, /Uncaught|stack/i);
      assert.match(result.stderr, /\d+ not written \(--output\)/);
    } finally {
      await sh("umount", full);
      await Deno.remove(dir, { recursive: true });
    }
  },
);
