/**
 * `ringfence run` over real processes: the recorded tree must match what the
 * shell script does, exactly, and nothing outside it may be reported.
 */
import assert from "node:assert/strict";
import { Agent, parsePolicy } from "../mod.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import {
  buildExecBurst,
  kernelTest,
  readJsonLines,
  ringfence,
  runShellArgs,
} from "./helpers/kernel.ts";

interface Recorded {
  pid: number;
  forkParent?: number;
  execs: { path: string; argv: string[] }[];
  exit?: { code: number; signal: number; ppid: number };
}

function recordTree(events: ProcessEvent[]): Map<number, Recorded> {
  const processes = new Map<number, Recorded>();
  const get = (pid: number) => {
    let process = processes.get(pid);
    if (!process) processes.set(pid, process = { pid, execs: [] });
    return process;
  };
  for (const event of events) {
    const process = get(event.pid);
    if (event.kind === "fork") process.forkParent = event.ppid;
    if (event.kind === "exec") {
      process.execs.push({ path: event.path!, argv: event.argv! });
    }
    if (event.kind === "exit") {
      process.exit = {
        code: event.exit_code!,
        signal: event.signal!,
        ppid: event.ppid,
      };
    }
  }
  return processes;
}

const SCRIPT = [
  "/bin/sh -c '/bin/echo nested; exit 7'", // nested shell, exits 7
  "/bin/sleep 0.2 &", // a background child
  "( /bin/sleep 0.3 & )", // double fork: the sleep reparents to init
  "wait",
  "/bin/sleep 0.6", // outlive the orphan so its exit is recorded
  "/bin/true",
  "exit 5",
].join("\n");

kernelTest(
  "ringfence run records the exact process tree of a script",
  async () => {
    const output = await Deno.makeTempFile({ suffix: ".jsonl" });
    // A process outside the tree that runs all along: it must not appear.
    const outsider = new Deno.Command("/bin/sh", {
      args: [
        "-c",
        "for i in 1 2 3 4 5 6 7 8 9 10; do /bin/true; sleep 0.1; done",
      ],
    }).spawn();
    try {
      const result = await ringfence([
        "run",
        "--output",
        output,
        "--",
        "/bin/bash",
        "-c",
        SCRIPT,
      ]);
      assert.equal(result.code, 5, result.stderr);
      assert.equal(result.stdout, "nested\n");
      assert.match(
        result.stderr,
        /^ringfence: 8 processes, \d+ events, 0 dropped, exit 5$/m,
      );

      const events = await readJsonLines<ProcessEvent>(output);
      for (const event of events) {
        assert.equal(event.type, "process_event");
        assert.match(event.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/);
        assert.equal(typeof event.comm, "string");
        assert.equal(event.uid, 0);
      }
      const tree = recordTree(events);
      assert.equal(
        tree.size,
        8,
        `processes: ${JSON.stringify([...tree.values()])}`,
      );

      const byExec = (path: string, ...argv: string[]) => {
        const found = [...tree.values()].filter((process) =>
          process.execs.some((exec) =>
            exec.path === path &&
            JSON.stringify(exec.argv) === JSON.stringify(argv)
          )
        );
        assert.equal(found.length, 1, `one exec of ${path} ${argv.join(" ")}`);
        return found[0];
      };
      const root = byExec("/bin/bash", "/bin/bash", "-c", SCRIPT);
      assert.equal(
        root.forkParent,
        result.pid,
        "the root is ringfence's child",
      );
      assert.deepEqual(root.exit, { code: 5, signal: 0, ppid: result.pid });

      const shell = byExec(
        "/bin/sh",
        "/bin/sh",
        "-c",
        "/bin/echo nested; exit 7",
      );
      assert.equal(shell.forkParent, root.pid);
      assert.equal(shell.exit?.code, 7);
      const echo = byExec("/bin/echo", "/bin/echo", "nested");
      assert.equal(echo.forkParent, shell.pid);
      assert.equal(echo.exit?.code, 0);

      const background = byExec("/bin/sleep", "/bin/sleep", "0.2");
      assert.equal(background.forkParent, root.pid);

      const orphan = byExec("/bin/sleep", "/bin/sleep", "0.3");
      const subshell = tree.get(orphan.forkParent!)!;
      assert.equal(
        subshell.forkParent,
        root.pid,
        "the subshell forked by bash",
      );
      assert.deepEqual(subshell.execs, [], "the subshell never execs");
      assert.equal(subshell.exit?.code, 0);
      assert.notEqual(
        orphan.exit?.ppid,
        subshell.pid,
        "reparented after its parent left",
      );
      assert.equal(orphan.exit?.code, 0);

      assert.equal(
        byExec("/bin/sleep", "/bin/sleep", "0.6").forkParent,
        root.pid,
      );
      assert.equal(byExec("/bin/true", "/bin/true").forkParent, root.pid);

      for (const process of tree.values()) {
        assert.ok(
          process.forkParent !== undefined,
          `fork of ${process.pid} seen`,
        );
        assert.ok(process.exit, `exit of ${process.pid} seen`);
      }
      assert.ok(!tree.has(outsider.pid), "the outsider is not reported");
    } finally {
      await outsider.status;
      await Deno.remove(output);
    }
  },
);

kernelTest(
  "a storm of 5,000 execs loses no event, or says how many it lost",
  async () => {
    const output = await Deno.makeTempFile({ suffix: ".jsonl" });
    try {
      const result = await ringfence([
        "run",
        "--output",
        output,
        "--",
        "/bin/bash",
        "-c",
        "for i in $(seq 5000); do /bin/true; done",
      ]);
      assert.equal(result.code, 0, result.stderr);
      const dropped = Number(result.stderr.match(/(\d+) dropped/)![1]);
      const events = await readJsonLines<ProcessEvent>(output);
      const execs = events.filter((event) =>
        event.kind === "exec" && event.path === "/bin/true"
      ).length;
      const forks = events.filter((event) =>
        event.kind === "fork"
      ).length;
      const exits = events.filter((event) => event.kind === "exit").length;
      if (dropped === 0) {
        assert.equal(execs, 5000);
        // 5,000 × true, bash and the $(seq) subshell
        assert.equal(forks, 5002);
        assert.equal(exits, forks);
      } else {
        assert.ok(
          execs + dropped >= 5000,
          `${execs} execs + ${dropped} dropped`,
        );
      }
    } finally {
      await Deno.remove(output);
    }
  },
);

kernelTest(
  "ringfence run passes a signal death on as 128 + signal",
  async () => {
    const result = await ringfence(runShellArgs("kill -TERM $$"));
    assert.equal(result.code, 143, result.stderr);
  },
);

kernelTest(
  "ringfence run has dropped its start-up pages once its command has run a while",
  async () => {
    // The agent's resident set and its peak once the command has run past
    // DROP_AFTER_MS (cli/run.ts): the drop leaves the set well below the
    // start's peak. Not at once: a short command never waits for it.
    const result = await ringfence(
      runShellArgs("sleep 0.5; grep -E 'VmHWM|VmRSS' /proc/$PPID/status"),
    );
    assert.equal(result.code, 0, result.stderr);
    const kb = (name: string) =>
      Number(result.stdout.match(new RegExp(`${name}:\\s+(\\d+) kB`))?.[1]) /
      1024;
    const [peak, resident] = [kb("VmHWM"), kb("VmRSS")];
    // Without the drop nothing has left the resident set yet: it is the peak.
    assert.ok(resident < peak - 4, `${resident} MB of a ${peak} MB peak`);
  },
);

kernelTest("ringfence run reports a command that does not exist", async () => {
  const result = await ringfence([
    "run",
    "--output",
    "/dev/null",
    "--",
    "/nonexistent/cmd",
  ]);
  assert.equal(result.code, 127);
  assert.equal(
    result.stderr.trim(),
    "ringfence: /nonexistent/cmd: command not found",
  );
});

kernelTest(
  "an exec burst into a one-page ring: every record is delivered or counted as dropped",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const burst = await buildExecBurst(dir);
      if ("error" in burst) throw new Error(burst.error);
      const execs = 1000;
      const records = async (ringSize: number | undefined, sync: boolean) => {
        const agent = await Agent.start({
          policy: parsePolicy("version: 1\n", "inline.yaml"),
          spawner: true,
          ringSize,
        });
        let delivered = 0;
        agent.subscribe((event) => {
          if (event.type === "process_event") delivered++;
        });
        try {
          const command = new Deno.Command(burst.driver, {
            args: [String(execs), burst.program],
          });
          // Synchronously, the agent cannot read its ring meanwhile.
          const output = sync ? command.outputSync() : await command.output();
          assert.ok(output.success, new TextDecoder().decode(output.stderr));
          agent.flush();
        } finally {
          await agent.stop();
        }
        return { delivered, drops: agent.stats().sensors.process.drops };
      };
      // The whole count, from a run the agent keeps up with.
      const full = await records(undefined, false);
      assert.equal(full.drops, 0, "the 1 MiB ring kept up");
      assert.ok(full.delivered >= 3 * execs, `${full.delivered} records`);
      // The same burst into 4 KiB that nobody reads until it is over.
      const small = await records(4096, true);
      assert.ok(small.drops > 0, "the one-page ring overflowed");
      assert.equal(
        small.delivered + small.drops,
        full.delivered,
        `${small.delivered} delivered + ${small.drops} dropped`,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
