import assert from "node:assert/strict";
import { TimeFormatter } from "./event.ts";
import {
  bpfCommandName,
  decodeGuardEvent,
  GUARD_EVENT,
  GuardFlag,
  GuardRole,
  GuardVia,
  isGuardRecord,
  signalName,
} from "./guard_event.ts";
import { encodeStruct } from "./layout.ts";
import { ProcessKind } from "./process.ts";

function record(
  kind: number,
  flags: number,
  fields: Record<string, number | bigint | string>,
): DataView {
  const bytes = encodeStruct(GUARD_EVENT, {
    header: {
      type: 1,
      kind,
      flags,
      tid: 42,
      time_ns: 0n,
      pid: 42,
      ppid: 41,
      uid: 0,
      gid: 0,
      cgroup_id: 1n,
      comm: "python3",
    },
    target_pid: 0,
    target_root: 0,
    target_role: 0,
    via: 0,
    arg: 0n,
    syscall: 0,
    pad: 0,
    target_comm: "",
    ...fields,
  });
  return new DataView(bytes.buffer);
}

const time = new TimeFormatter(0n);

Deno.test("decodeGuardEvent() names the target, how, and what was done", () => {
  const view = record(ProcessKind.memoryAccess, GuardFlag.killed, {
    target_pid: 1200,
    target_root: 1200,
    target_role: GuardRole.root,
    via: GuardVia.vmReadv,
    syscall: 310,
  });
  assert.ok(isGuardRecord(view, 0));
  const event = decodeGuardEvent(
    view,
    0,
    time,
    (pid) => pid === 1200 ? "Runner.Worker" : undefined,
  );
  assert.equal(event.kind, "memory_access");
  assert.equal(event.via, "process_vm_readv");
  assert.equal(event.syscall, "process_vm_readv");
  assert.equal(event.action, "killed");
  assert.equal(event.killed, true);
  assert.deepEqual(event.target, {
    pid: 1200,
    comm: "Runner.Worker",
    role: "root",
    root: 1200,
  });
});

Deno.test("decodeGuardEvent() reads the i386 numbers of a compat call", () => {
  const event = decodeGuardEvent(
    record(ProcessKind.bpf, GuardFlag.compat, { arg: 34n, syscall: 357 }),
    0,
    time,
  );
  assert.equal(event.kind, "bpf");
  assert.equal(event.command, "BPF_LINK_DETACH");
  assert.equal(event.syscall, "bpf");
  assert.equal(event.compat, true);
  assert.equal(event.action, "audit");
  assert.equal(event.target, undefined);
});

Deno.test("decodeGuardEvent() names a signal and a target outside scope", () => {
  const event = decodeGuardEvent(
    record(ProcessKind.signal, GuardFlag.outside, {
      arg: 9n,
      syscall: 62,
      target_pid: 7,
      target_comm: "deno",
    }),
    0,
    time,
  );
  assert.equal(event.signal, "SIGKILL");
  assert.deepEqual(event.target, {
    pid: 7,
    comm: "deno",
    role: "process",
    outside_scope: true,
  });
});

Deno.test("a fork, exec or exit record is not a guard record", () => {
  assert.ok(!isGuardRecord(record(ProcessKind.exec, 0, {}), 0));
});

Deno.test("signalName() and bpfCommandName() cover the numbers", () => {
  assert.equal(signalName(15), "SIGTERM");
  assert.equal(signalName(34), "SIGRTMIN");
  assert.equal(signalName(36), "SIGRTMIN+2");
  assert.equal(bpfCommandName(5), "BPF_PROG_LOAD");
  assert.equal(bpfCommandName(99), "BPF_CMD_99");
});
