/**
 * The guard of sensor.process through `ringfence run`, on the real kernel:
 * a step that reaches for a scope root's memory (its secret lives only
 * there), calls bpf() or signals the agent is killed in block mode before
 * anything reaches it, and reported; audit mode reports the same calls and
 * lets them through, which shows the attacks work when not stopped.
 *
 * The root is tests/helpers/guard_root.py (what `ringfence run` starts);
 * each attack is a child of it, tests/helpers/guard_attack.py.
 */
import assert from "node:assert/strict";
import { Agent } from "../agent/agent.ts";
import { parsePolicy } from "../policy/parse.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { GuardEvent } from "../sensors/guard_event.ts";
import {
  clang,
  kernelTest,
  readJsonLines,
  ringfence,
  ROOT,
  runInDir,
} from "./helpers/kernel.ts";

const PYTHON = "/usr/bin/python3";
const ROOT_SCRIPT = `${ROOT}tests/helpers/guard_root.py`;

/** What one attack mode came to, from the root's lines. */
interface Attack {
  /** The attacker's own output. */
  lines: string[];
  /** Its exit status; -9 when SIGKILL ended it. */
  exit: number;
  /** The root's secret buffer after the attack. */
  memory: string;
  /** Whether the root had a tracer after the attack. */
  traced: string;
  /** Whether the attacker's read buffer held the secret. */
  sink: string;
}

/** A `ringfence run` of the root with `modes`, parsed. */
interface Run {
  code: number;
  stderr: string;
  /** The agent's pid. */
  agent: number;
  root: number;
  secret: string;
  attacks: Record<string, Attack>;
  guard: GuardEvent[];
  events: RingfenceEvent[];
  report: string;
}

/**
 * Runs guard_root.py with `modes` under `ringfence run`, with a policy of
 * `mode` and `runner` lines.
 */
async function attack(
  mode: "block" | "audit",
  modes: string[],
  { runner = [], env = false }: { runner?: string[]; env?: boolean } = {},
): Promise<Run> {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/policy.yaml`,
      [
        "version: 1",
        `mode: ${mode}`,
        ...(runner.length ? ["runner:", ...runner.map((l) => `  ${l}`)] : []),
        "",
      ].join("\n"),
    );
    const result = await ringfence([
      ...runInDir(dir),
      PYTHON,
      ROOT_SCRIPT,
      modes.join(","),
      ...(env ? ["--env"] : []),
    ]);
    const lines = result.stdout.split("\n");
    const value = (prefix: string) =>
      lines.find((line) => line.startsWith(prefix))?.slice(prefix.length) ??
        "";
    const attacks: Record<string, Attack> = {};
    for (const name of modes) {
      attacks[name] = {
        lines: lines.filter((line) => line.startsWith(`${name} attacker: `))
          .map((line) => line.slice(`${name} attacker: `.length)),
        exit: Number(value(`${name} exit: `)),
        memory: value(`${name} memory: `),
        traced: value(`${name} traced: `),
        sink: value(`${name} sink: `),
      };
    }
    const secret = value("secret: ");
    assert.ok(secret, `the root ran to its end: ${result.stdout}`);
    const events = await readJsonLines<RingfenceEvent>(`${dir}/events.jsonl`);
    return {
      code: result.code,
      stderr: result.stderr,
      agent: result.pid,
      root: Number(value("root: ")),
      secret,
      attacks,
      guard: events.filter((event): event is GuardEvent =>
        event.type === "process_event" &&
        ["memory_access", "bpf", "signal"].includes(event.kind)
      ),
      events,
      report: await Deno.readTextFile(`${dir}/report.md`),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** The attacker process of `mode`: the exec of guard_attack.py MODE. */
function attackerPid(run: Run, mode: string): number {
  const exec = run.events.find((event) =>
    event.type === "process_event" && event.kind === "exec" &&
    event.argv?.[1]?.endsWith("guard_attack.py") && event.argv[2] === mode
  );
  assert.ok(exec, `the attacker of ${mode} ran`);
  return exec.pid;
}

/**
 * Asserts that `mode`'s attacker was killed before anything of the secret
 * reached it, and that one event names it, the root and its step.
 */
function assertKilled(
  run: Run,
  mode: string,
  expected: Partial<GuardEvent> & { role?: string },
) {
  const result = run.attacks[mode];
  assert.equal(result.exit, -9, `${mode}: the attacker died of SIGKILL`);
  assert.equal(result.sink, "clean", `${mode}: nothing was copied`);
  assert.ok(
    !result.lines.some((line) => line.includes(run.secret)),
    `${mode}: the secret reached the attacker: ${result.lines}`,
  );
  assert.ok(
    !result.lines.includes("done"),
    `${mode}: the attacker ran on after the call`,
  );
  const pid = attackerPid(run, mode);
  const event = run.guard.find((event) => event.pid === pid);
  assert.ok(event, `${mode}: an event for the attacker`);
  assert.equal(event.action, "killed", mode);
  assert.equal(event.verdict, "deny", mode);
  assert.equal(event.step?.pid, pid, `${mode}: the step is the attacker`);
  const { role = "root", ...fields } = expected;
  for (const [key, value] of Object.entries(fields)) {
    assert.deepEqual(event[key as keyof GuardEvent], value, `${mode}: ${key}`);
  }
  if (event.kind !== "bpf") {
    assert.equal(event.target?.pid, role === "agent" ? run.agent : run.root);
    assert.equal(event.target?.role, role, mode);
  }
  assert.ok(!JSON.stringify(run.events).includes(run.secret));
}

kernelTest(
  "block mode: /proc/PID/mem of a scope root, by any path, kills the reader before it reads",
  async () => {
    const modes = [
      "proc_mem",
      "proc_mem_dotdot",
      "proc_mem_dirfd",
      "proc_mem_task",
      "proc_mem_symlink",
    ];
    const run = await attack("block", modes);
    assert.equal(run.code, 0, run.stderr);
    for (const mode of modes) {
      assertKilled(run, mode, {
        kind: "memory_access",
        via: "proc_mem",
        syscall: "openat",
      });
      assert.equal(run.attacks[mode].memory, "unchanged");
    }
    assert.match(run.report, /### Memory access and tampering/);
    assert.match(
      run.report,
      /opened \/proc\/PID\/mem \| python3 \(pid \d+, root\)/,
    );
    assert.match(
      run.report,
      /5 memory accesses by policed processes: 5 callers killed/,
    );
    assert.match(run.stderr, /5 memory access or tampering \(5 killed\)/);
  },
);

kernelTest(
  "block mode: an int $0x80 open of /proc/PID/mem kills the reader before it reads",
  async () => {
    const run = await attack("block", ["proc_mem_int80"]);
    assertKilled(run, "proc_mem_int80", {
      kind: "memory_access",
      via: "proc_mem",
      compat: true,
    });
    assert.equal(run.attacks.proc_mem_int80.memory, "unchanged");
  },
);

kernelTest(
  "block mode: process_vm_readv/writev, both ABIs, copy nothing and kill the caller",
  async () => {
    const run = await attack("block", [
      "vm_readv",
      "vm_readv_int80",
      "vm_writev",
    ]);
    assertKilled(run, "vm_readv", { via: "process_vm_readv" });
    assertKilled(run, "vm_readv_int80", {
      via: "process_vm_readv",
      compat: true,
    });
    assertKilled(run, "vm_writev", { via: "process_vm_writev" });
    assert.equal(run.attacks.vm_writev.memory, "unchanged");
    assert.ok(!run.attacks.vm_writev.lines.some((l) => l.startsWith("wrote")));
  },
);

kernelTest(
  "block mode: ptrace attach, seize and traceme under a root are killed; the root runs on",
  async () => {
    const modes = ["ptrace_attach", "ptrace_seize", "ptrace_traceme"];
    const run = await attack("block", modes);
    assertKilled(run, "ptrace_attach", { via: "ptrace_attach" });
    assertKilled(run, "ptrace_seize", { via: "ptrace_seize" });
    assertKilled(run, "ptrace_traceme", { via: "ptrace_traceme" });
    for (const mode of modes) {
      assert.equal(run.attacks[mode].traced, "no", `${mode}: root untraced`);
      assert.equal(run.attacks[mode].memory, "unchanged");
    }
  },
);

kernelTest(
  "block mode: the environ of a scope root is not read",
  async () => {
    const run = await attack("block", ["proc_environ"], { env: true });
    assert.match(run.secret, /^env-/);
    assertKilled(run, "proc_environ", { via: "proc_environ" });
  },
);

kernelTest(
  "io_uring: an IORING_OP_OPENAT of /proc/PID/mem is judged as an open",
  async () => {
    const dir = await Deno.makeTempDir();
    try {
      const helper = `${dir}/uring_open`;
      const source = `${ROOT}tests/helpers/uring_open.c`;
      const error = await clang(["-O2", "-o", helper, source]);
      if (error) throw new Error(`building uring_open.c: ${error}`);
      const mode = `uring_open=${helper}`;
      const block = await attack("block", [mode]);
      assert.ok(!block.attacks[mode].lines.includes("unsupported"));
      assertKilled(block, mode, {
        via: "proc_mem",
        syscall: "io_uring_enter",
      });
      const audit = await attack("audit", [mode]);
      assert.equal(audit.attacks[mode].sink, "secret", "the read works");
      const event = audit.guard.find((event) =>
        event.pid === attackerPid(audit, mode)
      );
      assert.equal(event?.action, "audit");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);

kernelTest(
  "block mode: bpf() from a step is killed and reported with its command",
  async () => {
    const run = await attack("block", ["bpf", "bpf_int80"]);
    for (const mode of ["bpf", "bpf_int80"]) {
      assertKilled(run, mode, {
        kind: "bpf",
        command: "BPF_LINK_GET_NEXT_ID",
        syscall: "bpf",
      });
      assert.ok(!run.attacks[mode].lines.some((l) => l.startsWith("bpf")));
    }
    assert.match(run.report, /bpf\(BPF_LINK_GET_NEXT_ID\)/);
  },
);

kernelTest(
  "block mode: a signal to the agent is reported; one it cannot handle kills the sender",
  async () => {
    const run = await attack("block", ["signal_agent", "signal_agent_winch"]);
    assert.equal(run.code, 0, run.stderr);
    // SIGTERM is the stop request `ringfence stop` sends: recorded only
    const term = run.guard.find((event) =>
      event.pid === attackerPid(run, "signal_agent")
    );
    assert.equal(term?.kind, "signal");
    assert.equal(term?.signal, "SIGTERM");
    assert.equal(term?.action, "audit");
    assert.equal(term?.target?.pid, run.agent);
    assert.equal(term?.target?.role, "agent");
    assert.ok(run.attacks.signal_agent.lines.includes("done"));
    assertKilled(run, "signal_agent_winch", {
      kind: "signal",
      signal: "SIGWINCH",
      role: "agent",
    });
  },
);

kernelTest(
  "audit mode reports each memory access and lets it through",
  async () => {
    const modes = ["proc_mem", "vm_readv", "vm_writev", "ptrace_seize", "bpf"];
    const run = await attack("audit", modes);
    for (const mode of ["proc_mem", "vm_readv", "ptrace_seize"]) {
      const result = run.attacks[mode];
      assert.equal(result.exit, 0, mode);
      assert.equal(result.sink, "secret", `${mode}: the read went through`);
      assert.ok(result.lines.some((line) => line.includes(run.secret)), mode);
    }
    assert.equal(run.attacks.vm_writev.memory, "changed");
    for (const mode of modes) {
      const event = run.guard.find((event) =>
        event.pid === attackerPid(run, mode)
      );
      assert.equal(event?.action, "audit", mode);
      assert.equal(event?.killed, undefined, mode);
    }
    assert.match(run.report, /⚠️ reported/);
  },
);

kernelTest(
  "runner.memory and runner.bpf allow: nothing is killed or reported",
  async () => {
    const run = await attack("block", ["proc_mem", "bpf"], {
      runner: ["memory: allow", "bpf: allow"],
    });
    assert.equal(run.attacks.proc_mem.sink, "secret");
    assert.equal(run.attacks.bpf.exit, 0);
    assert.deepEqual(run.guard, []);
  },
);

kernelTest(
  "the kernel records who signalled the agent in agent_signals",
  async () => {
    const agent = await Agent.start({
      policy: parsePolicy("version: 1\nmode: block\n", "inline"),
      spawner: true,
    });
    const events: RingfenceEvent[] = [];
    agent.subscribe((event) => events.push(event));
    try {
      // SIGWINCH: harmless to this process (the agent), fatal to the sender
      const child = new Deno.Command(PYTHON, {
        args: [
          "-c",
          `import os, signal; os.kill(${Deno.pid}, signal.SIGWINCH); print("sent")`,
        ],
        stdout: "piped",
      }).spawn();
      const output = await child.output();
      assert.equal(output.signal, "SIGKILL");
      assert.equal(new TextDecoder().decode(output.stdout), "");
      const records = agent.agentSignals();
      const record = records.find((record) => record.senderPid === child.pid);
      assert.ok(
        record,
        `the sender is recorded: ${
          JSON.stringify(records, (_, v) => typeof v === "bigint" ? `${v}` : v)
        }`,
      );
      assert.equal(record.signal, 28);
      assert.equal(record.count, 1);
      assert.equal(record.targetPid, Deno.pid);
      assert.equal(record.comm, "python3");
      agent.flush();
      const event = events.find((event) =>
        event.type === "process_event" && event.kind === "signal" &&
        event.pid === child.pid
      );
      assert.ok(event, "a signal event for the sender");
    } finally {
      await agent.stop();
    }
  },
);
