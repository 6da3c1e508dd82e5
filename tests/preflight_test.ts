/**
 * What ringfence says when it cannot start: one line that names what is
 * missing and how to fix it, exit code 2, and nothing left loaded.
 */
import assert from "node:assert/strict";
import { DENO, kernelTest, ROOT, runShellArgs } from "./helpers/kernel.ts";

async function ringfenceWith(
  args: string[],
  options: { env?: Record<string, string>; prefix?: string[] } = {},
) {
  const command = [
    ...(options.prefix ?? []),
    DENO,
    "run",
    "-A",
    `${ROOT}main.ts`,
    ...args,
  ];
  const output = await new Deno.Command(command[0], {
    args: command.slice(1),
    env: options.env,
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return { code: output.code, stderr: new TextDecoder().decode(output.stderr) };
}

kernelTest("not root: one line that says so, exit 2", async () => {
  const result = await ringfenceWith(["run", "--", "/bin/true"], {
    prefix: ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"],
    env: { DENO_DIR: await Deno.makeTempDir() },
  });
  assert.equal(result.code, 2);
  assert.equal(
    result.stderr,
    "ringfence: ringfence must run as root (it loads BPF programs): rerun with sudo\n",
  );
});

kernelTest(
  "no libbpf: one line that says how to install it, exit 2",
  async () => {
    const result = await ringfenceWith(["run", "--", "/bin/true"], {
      env: { RINGFENCE_LIBBPF: "/nonexistent/libbpf.so.1" },
    });
    assert.equal(result.code, 2);
    assert.match(
      result.stderr,
      /^ringfence: libbpf 1\.x not found \(\/nonexistent\/libbpf\.so\.1: .*\): install it with 'apt-get install libbpf1' or run scripts\/setup\n$/,
    );
  },
);

kernelTest(
  "no tracefs: the sensors attach raw tracepoints by name, and nothing is mounted",
  async () => {
    // In a mount namespace of its own, without tracefs: the host keeps its.
    const script = [
      "for dir in /sys/kernel/tracing /sys/kernel/debug/tracing; do",
      '  while grep -q " $dir tracefs " /proc/mounts; do umount "$dir"; done',
      "done",
      `"$@" >/dev/null 2>&1; echo "exit $?"`,
      'grep -c " tracefs " /proc/mounts',
    ].join("\n");
    const output = await new Deno.Command("unshare", {
      args: [
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        script,
        "sh",
        DENO,
        "run",
        "-A",
        `${ROOT}main.ts`,
        ...runShellArgs("exit 7"),
      ],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(
      new TextDecoder().decode(output.stdout),
      "exit 7\n0\n",
      stderr,
    );
  },
);

kernelTest(
  "sensors not built: the missing file and the command that builds it",
  async () => {
    const empty = await Deno.makeTempDir();
    const result = await ringfenceWith([
      "run",
      "--sensors",
      empty,
      "--",
      "/bin/true",
    ]);
    assert.equal(result.code, 2);
    assert.equal(
      result.stderr,
      `ringfence: ${empty}/sensor.process.bpf.o: sensor not built: run 'deno task build'\n`,
    );
    await Deno.remove(empty);
  },
);

Deno.test("deno task build without clang: one line naming the fix", async () => {
  const output = await new Deno.Command(DENO, {
    args: ["run", "-A", `${ROOT}scripts/build_sensors.ts`],
    env: { PATH: "/nonexistent" },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(output.code, 2);
  assert.equal(
    new TextDecoder().decode(output.stderr),
    "ringfence build: clang not found: run 'bash scripts/setup' (installs clang, llvm, libbpf-dev, bpftool)\n",
  );
});
