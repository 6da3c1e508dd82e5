/**
 * The agent's check of its own kernel state, every second and at once after
 * a policed process calls `bpf()`: each cgroup link still attached (the
 * kernel shows a detached cgroup link with no cgroup), each slot of the
 * syscall chains holding the program put there, each config map holding
 * the bytes last written, each scope entry of a live process still in
 * `scope_pids`. What it finds changed it puts back (a new link, pinned in
 * the old one's place; the program put in its slot again; the value
 * rewritten; the entry re-inserted) and reports as an event
 * `{"type":"agent","kind":"tamper",...}`.
 *
 * A write to a map or a detach by root cannot be refused from a raw
 * tracepoint: it is undone here, within a second or at the next `bpf()`
 * event, and reported.
 *
 * @module
 */

import { type AgentEvent, agentEvent } from "../sensors/agent_event.ts";
import { encodeInt, sizeOf } from "../sensors/layout.ts";
import { mapDelete, mapKeys, mapLookup, mapUpdate } from "../sensors/libbpf.ts";
import { LINK_TYPE_CGROUP, linkInfo } from "../sensors/pin.ts";
import {
  PROCESS_MAPS,
  type ProcessSensor,
  type ScopeEntry,
} from "../sensors/process.ts";
import type { Sensor } from "../sensors/sensor.ts";
import { processStart } from "./procfs.ts";

/** How often the running agent checks (ms). */
export const INTEGRITY_INTERVAL_MS = 1000;

/** Scope entries remembered between checks, at most. */
const REMEMBERED_MAX = 8192;

/** Where a replaced link is pinned again, when the agent pins. */
export type Repin = (sensor: string, program: string, fd: number) => void;

/** One agent's integrity check over its sensors. */
export class IntegrityCheck {
  readonly #sensors: () => readonly Sensor[];
  readonly #process: ProcessSensor;
  readonly #report: (event: AgentEvent) => void;
  readonly #repin: () => Repin | undefined;
  // pid → its scope entry and start time, as last seen in scope_pids.
  #scope = new Map<number, ScopeEntry & { start: number }>();

  /**
   * @param sensors the loaded sensors.
   * @param report takes each tamper event.
   * @param repin pins a replaced link, when the agent pins.
   */
  constructor(
    sensors: () => readonly Sensor[],
    process: ProcessSensor,
    report: (event: AgentEvent) => void,
    repin: () => Repin | undefined,
  ) {
    this.#sensors = sensors;
    this.#process = process;
    this.#report = report;
    this.#repin = repin;
  }

  /** Checks everything once; returns the tamper events it reported. */
  check(): AgentEvent[] {
    const found: AgentEvent[] = [];
    const report = (event: AgentEvent) => {
      found.push(event);
      this.#report(event);
    };
    for (const sensor of this.#sensors()) {
      this.#checkLinks(sensor, report);
      this.#checkChain(sensor, report);
      this.#checkConfigs(sensor, report);
    }
    this.#checkScope(report);
    return found;
  }

  #checkLinks(sensor: Sensor, report: (event: AgentEvent) => void): void {
    for (const link of [...sensor.links]) {
      let detached: boolean;
      try {
        const info = linkInfo(link.fd);
        detached = info.type === LINK_TYPE_CGROUP && info.cgroupId === 0n;
      } catch {
        continue; // not the agent's to judge: an fd it no longer has
      }
      if (!detached) continue;
      let repaired = false;
      try {
        const fresh = sensor.replaceLink(link);
        this.#repin()?.(sensor.name, fresh.program, fresh.fd);
        repaired = true;
      } catch { /* reported as not repaired */ }
      report(agentEvent("tamper", {
        what: "link_detached",
        name: `${sensor.name}/${link.program}`,
        repaired,
      }));
    }
  }

  /**
   * A slot of a syscall chain is the only hook of its program: emptied or
   * given another program (by root, with bpftool), the sensor's check no
   * longer runs, as with a detached link.
   */
  #checkChain(sensor: Sensor, report: (event: AgentEvent) => void): void {
    for (const link of sensor.chained) {
      let holds: number;
      try {
        holds = sensor.slotHolds(link);
      } catch {
        holds = 0; // unreadable: filled again below
      }
      if (holds === link.id) continue;
      let repaired = false;
      try {
        sensor.refillSlot(link);
        repaired = sensor.slotHolds(link) === link.id;
      } catch { /* reported as not repaired */ }
      report(agentEvent("tamper", {
        what: "chain_changed",
        name: `${sensor.name}/${link.program}`,
        repaired,
      }));
    }
  }

  #checkConfigs(sensor: Sensor, report: (event: AgentEvent) => void): void {
    const key = encodeInt("u32", 0);
    for (const [map, written] of sensor.configs) {
      const fd = sensor.object.map(map).fd;
      const now = new Uint8Array(written.length);
      let same = false;
      try {
        same = mapLookup(fd, key, now) && equal(now, written);
      } catch { /* unreadable: rewritten below */ }
      if (same) continue;
      let repaired = false;
      try {
        mapUpdate(fd, key, written);
        repaired = true;
      } catch { /* reported as not repaired */ }
      report(
        agentEvent("tamper", { what: "map_changed", name: map, repaired }),
      );
    }
  }

  #checkScope(report: (event: AgentEvent) => void): void {
    const process = this.#process;
    const keySize = sizeOf(PROCESS_MAPS.scope_pids.key);
    const fd = process.object.map("scope_pids").fd;
    const present = new Set(
      mapKeys(fd, keySize).map((key) =>
        new DataView(key.buffer, key.byteOffset).getUint32(0, true)
      ),
    );
    for (const [pid, entry] of this.#scope) {
      if (present.has(pid)) continue;
      // Gone from the map: by the kernel at exit, or by someone else.
      if (processStart(pid) !== entry.start) {
        this.#scope.delete(pid);
        continue;
      }
      let repaired = false;
      try {
        process.setScope(pid, { flags: entry.flags, rootPid: entry.rootPid });
        // The process may have exited meanwhile: no entry for a dead pid.
        if (processStart(pid) !== entry.start) {
          mapDelete(fd, encodeInt("u32", pid));
        } else {
          repaired = true;
        }
      } catch { /* reported as not repaired */ }
      if (repaired || processStart(pid) === entry.start) {
        report(agentEvent("tamper", {
          what: "scope_removed",
          name: String(pid),
          repaired,
        }));
      }
      present.add(pid);
    }
    for (const pid of present) {
      if (this.#scope.has(pid)) continue;
      if (this.#scope.size >= REMEMBERED_MAX) break;
      const entry = process.scopeOf(pid);
      const start = processStart(pid);
      if (entry && start) this.#scope.set(pid, { ...entry, start });
    }
  }
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let index = 0; index < a.length; index++) {
    if (a[index] !== b[index]) return false;
  }
  return true;
}
