import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { ProcessEvent } from "../sensors/process.ts";
import { isContainerCommand, isRuntime } from "./container_steps.ts";
import { type ProcessNode, ProcessTree } from "./process_tree.ts";
import { scopeRootTest, type Step, StepTracker } from "./steps.ts";

let clock = 0;

/** A process event as the sensor decodes it, with what these tests need. */
function event(
  kind: "fork" | "exec" | "exit",
  pid: number,
  ppid: number,
  comm: string,
  argv?: string[],
): ProcessEvent {
  clock++;
  return {
    type: "process_event",
    kind,
    time: `2026-12-03T12:00:00.${String(clock).padStart(9, "0")}Z`,
    pid,
    tid: pid,
    ppid,
    uid: 1001,
    gid: 1001,
    comm,
    cgroup_id: 1,
    ...(argv && { path: `/usr/bin/${comm}`, argv }),
  } as ProcessEvent;
}

/** A tree and a tracker fed as the agent feeds them: apply, then annotate. */
function job() {
  const tree = new ProcessTree();
  const environs: Record<number, Record<string, string>> = {
    20: { GITHUB_ACTION: "pull" },
    30: { GITHUB_ACTION: "test" },
  };
  const steps = new StepTracker(
    tree,
    scopeRootTest(false, () => ["Runner.Worker", "dockerd", "containerd"]),
    (pid) => environs[pid] && new Map(Object.entries(environs[pid])),
  );
  const feed = (e: ProcessEvent): Step | undefined => {
    tree.apply(e);
    steps.annotate(e as RingfenceEvent);
    return (e as { step?: Step }).step;
  };
  // The runner, the runtime and its shim's parent, seen in /proc.
  feed(event("exec", 10, 1, "Runner.Worker", ["Runner.Worker"]));
  feed(event("exec", 50, 1, "dockerd", ["dockerd"]));
  feed(event("exec", 60, 1, "containerd", ["containerd"]));
  return { tree, steps, feed };
}

Deno.test("container_steps: what is a runtime, what is a container command", () => {
  const node = (comm: string, argv: string[]) =>
    ({ comm, argv, path: `/usr/bin/${comm}` }) as ProcessNode;
  assert.ok(isRuntime(node("containerd-shim", [])));
  assert.ok(isRuntime(node("dockerd", [])));
  assert.ok(!isRuntime(node("bash", [])));
  assert.ok(isContainerCommand(node("docker", ["docker", "run", "alpine"])));
  assert.ok(
    isContainerCommand(node("docker", ["docker", "--debug", "pull", "x"])),
  );
  assert.ok(isContainerCommand(node("podman", ["podman", "exec", "c", "sh"])));
  assert.ok(!isContainerCommand(node("docker", ["docker", "ps"])));
  assert.ok(!isContainerCommand(node("docker", ["docker"])));
  assert.ok(!isContainerCommand(node("bash", ["bash", "run"])));
});

Deno.test("container_steps: a container's processes get the step of `docker run`", () => {
  const { feed } = job();
  // Step "pull" (20) runs `docker run alpine` (21).
  feed(event("fork", 20, 10, "Runner.Worker"));
  feed(event("exec", 20, 10, "bash", ["bash", "-e", "step.sh"]));
  feed(event("fork", 21, 20, "bash"));
  assert.equal(
    feed(event("exec", 21, 20, "docker", ["docker", "run", "alpine"]))?.name,
    "pull",
  );
  // containerd starts a shim, the shim the container, which forks.
  feed(event("fork", 61, 60, "containerd"));
  feed(event("exec", 61, 60, "containerd-shim", ["containerd-shim-runc-v2"]));
  assert.equal(feed(event("fork", 62, 61, "containerd-shim"))?.name, "pull");
  assert.equal(
    feed(event("exec", 62, 61, "sh", ["sh", "-c", "make"]))?.name,
    "pull",
  );
  // `docker run` ends; what the container forks later keeps its step.
  feed(event("exit", 21, 20, "docker"));
  feed(event("exit", 20, 10, "bash"));
  assert.equal(feed(event("fork", 63, 62, "sh"))?.name, "pull");

  // Step "test" (30) runs `docker exec`: the process it starts is its.
  feed(event("fork", 30, 10, "Runner.Worker"));
  feed(event("exec", 30, 10, "bash", ["bash", "step.sh"]));
  feed(event("fork", 31, 30, "bash"));
  feed(event("exec", 31, 30, "docker", ["docker", "exec", "c", "id"]));
  assert.equal(feed(event("fork", 64, 61, "containerd-shim"))?.name, "test");
  // The first container's processes keep theirs.
  assert.equal(feed(event("fork", 65, 62, "sh"))?.name, "pull");
});

Deno.test("container_steps: the runtime's own events get the one running command's step", () => {
  const { steps, feed } = job();
  const dockerd = (): Step | undefined => steps.stepOf(50);
  const idle = dockerd();
  assert.equal(idle?.name, "dockerd");
  feed(event("fork", 20, 10, "Runner.Worker"));
  feed(event("exec", 20, 10, "bash", ["bash", "step.sh"]));
  feed(event("fork", 21, 20, "bash"));
  feed(event("exec", 21, 20, "docker", ["docker", "pull", "x/y"]));
  assert.equal(dockerd()?.name, "pull");
  // Two at once: no telling which asked.
  feed(event("fork", 30, 10, "Runner.Worker"));
  feed(event("exec", 30, 10, "bash", ["bash", "step.sh"]));
  feed(event("fork", 31, 30, "bash"));
  feed(event("exec", 31, 30, "docker", ["docker", "build", "."]));
  assert.equal(dockerd()?.name, "dockerd");
  feed(event("exit", 21, 20, "docker"));
  assert.equal(dockerd()?.name, "test");
  feed(event("exit", 31, 30, "docker"));
  assert.equal(dockerd()?.name, "dockerd");
});
