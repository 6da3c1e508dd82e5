/**
 * A reload parses the new policy in a worker: while a large policy parses,
 * the agent goes on reading and writing events, from source and from the
 * bundle alike.
 */
import assert from "node:assert/strict";
import { builtBundle, kernelTest, ROOT, startAgent } from "./helpers/kernel.ts";

/** A valid policy of about 3.8 MB: 15,000 prefixes with long comments. */
function largePolicy(): string {
  const lines = [
    "version: 1",
    "mode: audit",
    "scope:",
    "  processes: [rfreload]",
  ];
  lines.push("network:", "  allow:");
  const padding = "x".repeat(220);
  for (let i = 0; i < 15_000; i++) {
    lines.push(`    - 10.${i >> 8}.${i & 255}.0/24:443 # ${padding}`);
  }
  return lines.join("\n") + "\n";
}

for (const from of ["source", "bundle"] as const) {
  kernelTest(
    `SIGHUP parses a large policy off the event loop (${from})`,
    async () => {
      const dir = await Deno.makeTempDir();
      const policy = `${dir}/policy.yaml`;
      const output = `${dir}/events.jsonl`;
      await Deno.writeTextFile(
        policy,
        "version: 1\nmode: audit\nscope:\n  processes: [rfreload]\n",
      );
      const entry = from === "bundle" ? await builtBundle() : `${ROOT}main.ts`;
      const agent = await startAgent(
        ["--policy", policy, "--output", output, "--state-dir", dir],
        entry,
      );
      // A scope root that execs without pause: events all the time.
      await Deno.copyFile("/bin/sh", `${dir}/rfreload`);
      const busy = new Deno.Command(`${dir}/rfreload`, {
        args: ["-c", "while :; do /bin/true; done"],
        stdout: "null",
        stderr: "null",
      }).spawn();
      try {
        await new Promise((resolve) => setTimeout(resolve, 500));
        await Deno.writeTextFile(policy, largePolicy());
        const sizes: number[] = [];
        const hangup = performance.now();
        agent.kill("SIGHUP");
        while (!agent.stderr().includes("policy reloaded")) {
          sizes.push((await Deno.stat(output)).size);
          assert.ok(performance.now() - hangup < 20_000, agent.stderr());
          await new Promise((resolve) => setTimeout(resolve, 50));
        }
        const parsing = performance.now() - hangup;
        // The policy is large enough that an in-loop parse would stall
        // event writing for a while; the worker leaves the loop free.
        assert.ok(parsing > 300, `the reload took only ${parsing} ms`);
        const growth = sizes.filter((size, i) => i > 0 && size > sizes[i - 1]);
        assert.ok(
          growth.length >= Math.floor(sizes.length / 3),
          `events written during the reload: ${sizes.join(" ")}`,
        );
      } finally {
        busy.kill("SIGKILL");
        await busy.status;
        const { stderr } = await agent.stop();
        await Deno.remove(dir, { recursive: true });
        assert.doesNotMatch(stderr, /previous policy stays/);
        assert.match(stderr, / 0 dropped/, "no record lost during the reload");
      }
    },
  );
}
