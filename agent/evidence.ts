/**
 * What the kernel kept of an agent that is gone, read from its pins
 * (agent/pins.ts): its owner, whether it still runs, who signalled it
 * (`agent_signals`, filled in the kernel), what the kernel refused and
 * killed (the pinned `stats` counters, in total and since the agent's last
 * heartbeat), and the records its rings still held. `ringfence stop` and
 * a new agent read it; the job report's "agent tampered" section consumes
 * {@linkcode KernelEvidence} as it is.
 *
 * @module
 */

import { agentEvent } from "../sensors/agent_event.ts";
import { EVENT_HEADER, TimeFormatter } from "../sensors/event.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import { decodeFileSystemEvent } from "../sensors/file_system_event.ts";
import { decodeStruct, sizeOf } from "../sensors/layout.ts";
import { mapKeys, mapLookup } from "../sensors/libbpf.ts";
import { closeFd } from "../sensors/libc.ts";
import { decodeNetworkEvent } from "../sensors/network_event.ts";
import { mapInfo, openPinned } from "../sensors/pin.ts";
import {
  AGENT_SIGNAL,
  decodeProcessEvent,
  PROCESS_MAPS,
  ProcessKind,
} from "../sensors/process.ts";
import { RingBufferReader } from "../sensors/ringbuf.ts";
import { readSensorStats } from "../sensors/sensor.ts";
import {
  instanceDir,
  listInstances,
  ownerAlive,
  readInstance,
  removeInstance,
} from "./pins.ts";

/** A signal a policed process sent to the agent, as the kernel kept it. */
export interface AgentSignal {
  /** The sender. */
  senderPid: number;
  /** The scope root it descends from. */
  senderRoot: number;
  /** Its command name. */
  comm: string;
  /** Its real uid. */
  uid: number;
  /** The agent pid it signalled. */
  targetPid: number;
  /** The last signal number it sent. */
  signal: number;
  /** How many it sent. */
  count: number;
  /** The last one's time, CLOCK_BOOTTIME nanoseconds. */
  timeNs: bigint;
}

/**
 * What an instance's pins say: one object for `ringfence stop`, a new
 * agent and the job report.
 */
export interface KernelEvidence {
  /** The instance (`start-…`, `run-<pid>`). */
  instance: string;
  /** The agent that pinned them, when the pins said. */
  agentPid?: number;
  /** Whether that agent still runs (same pid and start time). */
  agentAlive: boolean;
  /** Signals policed processes sent to the agent (`agent_signals`). */
  signals: AgentSignal[];
  /** Actions the kernel refused, all sensors, since the sensors loaded. */
  refused: number;
  /** Processes the kernel killed, likewise. */
  killed: number;
  /**
   * Of those, the ones since the agent's last heartbeat (a second before
   * it died at most): what happened while no agent ran.
   */
  refusedSinceAgent: number;
  /** Kills since the agent's last heartbeat. */
  killedSinceAgent: number;
  /** When the agent last wrote its heartbeat (ISO 8601). */
  lastHeartbeat?: string;
  /** Records drained from the pinned rings (by `recoverInstance`). */
  drainedRecords: number;
  /** Where the agent's events went, as it recorded. */
  output?: string;
}

/** Reads an instance's evidence; undefined when it has no pins. */
export function readEvidence(instance: string): KernelEvidence | undefined {
  const state = readInstance(instance);
  if (!state) return undefined;
  const evidence: KernelEvidence = {
    instance,
    agentPid: state.owner?.pid,
    agentAlive: state.owner ? ownerAlive(state.owner) : false,
    signals: [],
    refused: 0,
    killed: 0,
    refusedSinceAgent: 0,
    killedSinceAgent: 0,
    lastHeartbeat: state.heartbeat?.time,
    drainedRecords: 0,
    output: state.owner?.output,
  };
  for (const sensor of sensorDirs(state.dir)) {
    withPinned(`${state.dir}/${sensor}/map_stats`, (fd) => {
      const stats = readSensorStats(fd);
      const then = state.heartbeat?.stats[sensor];
      evidence.refused += stats.refused;
      evidence.killed += stats.killed;
      evidence.refusedSinceAgent += stats.refused - (then?.refused ?? 0);
      evidence.killedSinceAgent += stats.killed - (then?.killed ?? 0);
    });
  }
  withPinned(
    `${state.dir}/process/map_agent_signals`,
    (fd) => evidence.signals = readSignals(fd),
  );
  return evidence;
}

/** Every entry of a pinned `agent_signals` map. */
function readSignals(fd: number): AgentSignal[] {
  const signals: AgentSignal[] = [];
  const value = new Uint8Array(AGENT_SIGNAL.size);
  for (const key of mapKeys(fd, sizeOf(PROCESS_MAPS.agent_signals.key))) {
    if (!mapLookup(fd, new Uint8Array(key), value)) continue;
    const record = decodeStruct(AGENT_SIGNAL, value);
    signals.push({
      senderPid: record.sender_pid,
      senderRoot: record.sender_root,
      comm: cText(record.comm),
      uid: record.uid,
      targetPid: record.target_pid,
      signal: record.signal,
      count: record.count,
      timeNs: BigInt(record.time_ns),
    });
  }
  return signals.sort((a, b) => Number(a.timeNs - b.timeNs));
}

/**
 * For `ringfence stop` after the agent died: reads the evidence, hands
 * every record left in the pinned rings to `write` as events (preceded by
 * a `recovered` agent event), then removes the pins. Undefined when the
 * instance has no pins.
 */
export function recoverInstance(
  instance: string,
  write: (event: RingfenceEvent) => void,
): KernelEvidence | undefined {
  const evidence = readEvidence(instance);
  if (!evidence) return undefined;
  const dir = instanceDir(instance);
  const events: RingfenceEvent[] = [];
  const time = new TimeFormatter();
  for (const sensor of sensorDirs(dir)) {
    const decode = DECODERS[sensor];
    if (!decode) continue;
    withPinned(`${dir}/${sensor}/map_events`, (fd) => {
      using ring = new RingBufferReader(fd, mapInfo(fd).maxEntries);
      ring.drain((view, offset) => {
        const event = decode(view, offset, time);
        if (event) events.push(event);
      });
    });
  }
  evidence.drainedRecords = events.length;
  write(agentEvent("recovered", {
    instance,
    previous_pid: evidence.agentPid,
    drained_records: events.length,
    refused: evidence.refusedSinceAgent,
    killed: evidence.killedSinceAgent,
  }));
  events.forEach(write);
  removeInstance(instance);
  return evidence;
}

const DECODERS: Record<
  string,
  (
    view: DataView,
    offset: number,
    time: TimeFormatter,
  ) => RingfenceEvent | undefined
> = {
  // A dependency capture is the agent's to classify, not an event.
  process: (view, offset, time) =>
    view.getUint8(offset + EVENT_HEADER.fields.kind) === ProcessKind.dependency
      ? undefined
      : decodeProcessEvent(view, offset, time),
  network: decodeNetworkEvent,
  "file-system": (view, offset, time) => {
    // The agent's final match on file rules is not applied: the kernel's
    // word is reported as it is.
    const { classes: _, ...event } = decodeFileSystemEvent(view, offset, time);
    return event;
  },
};

/** The lines `ringfence stop` (or a new agent) prints of the evidence. */
export function evidenceLines(evidence: KernelEvidence): string[] {
  const who = evidence.agentPid ? `agent pid ${evidence.agentPid}` : "agent";
  const lines = [
    `pins ${evidence.instance} of ${who} (${
      evidence.agentAlive ? "running" : "not running"
    }): the kernel refused ${evidence.refused} actions and killed ${evidence.killed} processes in all`,
  ];
  if (!evidence.agentAlive) {
    lines.push(
      `while no agent ran, the kernel refused ${evidence.refusedSinceAgent} actions and killed ${evidence.killedSinceAgent} processes` +
        (evidence.lastHeartbeat
          ? ` (since the agent's last heartbeat at ${evidence.lastHeartbeat})`
          : "") +
        `; ${evidence.drainedRecords} records recovered from the rings`,
    );
  }
  for (const signal of evidence.signals) {
    lines.push(
      `signal ${signal.signal} sent to the agent (pid ${signal.targetPid}) ${signal.count} time(s) by pid ${signal.senderPid} (${signal.comm}, uid ${signal.uid}, scope root ${signal.senderRoot})`,
    );
  }
  return lines;
}

/**
 * Removes the pins of `run-<pid>` instances whose agent is dead and whose
 * scope holds no live process: nothing is left for them to enforce.
 * Returns the evidence of each instance swept.
 */
export function sweepStaleRuns(): KernelEvidence[] {
  const swept: KernelEvidence[] = [];
  for (const name of listInstances()) {
    if (!name.startsWith("run-") || name === `run-${Deno.pid}`) continue;
    const evidence = readEvidence(name);
    if (!evidence || evidence.agentAlive) continue;
    if (scopeHasLiveProcess(instanceDir(name))) continue;
    try {
      removeInstance(name);
      swept.push(evidence);
    } catch { /* the next start tries again */ }
  }
  return swept;
}

function scopeHasLiveProcess(dir: string): boolean {
  let live = false;
  withPinned(`${dir}/process/map_scope_pids`, (fd) => {
    const keySize = sizeOf(PROCESS_MAPS.scope_pids.key);
    live = mapKeys(fd, keySize).some((key) => {
      const pid = new DataView(key.buffer, key.byteOffset).getUint32(0, true);
      try {
        Deno.statSync(`/proc/${pid}`);
        return true;
      } catch {
        return false;
      }
    });
  });
  return live;
}

/** A NUL-terminated char array as text. */
function cText(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return new TextDecoder().decode(bytes.subarray(0, end < 0 ? undefined : end));
}

function sensorDirs(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((entry) => entry.isDirectory)
      .map((entry) => entry.name).sort();
  } catch {
    return [];
  }
}

function withPinned(path: string, use: (fd: number) => void): void {
  let fd: number;
  try {
    fd = openPinned(path);
  } catch {
    return;
  }
  try {
    use(fd);
  } finally {
    closeFd(fd);
  }
}
