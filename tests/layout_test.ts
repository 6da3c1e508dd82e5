/**
 * The TypeScript side of every byte layout the sensors share with the
 * kernel, held to the compiled objects' BTF: the structs decoded from the
 * rings and written to maps, the key and value type of each map the loader
 * touches, and the tables of C enum values.
 */
import assert from "node:assert/strict";
import {
  DOMAINS_MAX,
  PREFIXES_MAX,
  RESOLVERS_MAX,
  RUNNER_DOMAINS_MAX,
  SCOPE_PROCESSES_MAX,
} from "../policy/limits.ts";
import { EVENT_HEADER } from "../sensors/event.ts";
import {
  DEPENDENCY_EVENT,
  DependencyFlag,
} from "../sensors/dependency_event.ts";
import {
  FILE_SYSTEM_EVENT,
  FileSystemFlag,
  FileSystemKind,
} from "../sensors/file_system_event.ts";
import {
  FILE_SYSTEM_CONFIG,
  FILE_SYSTEM_MAPS,
  FileClass,
  FS_INODE_KEY,
  FS_NAME_KEY,
  FS_PREFIX_KEY,
} from "../sensors/file_system_maps.ts";
import type { MapLayout, StructLayout } from "../sensors/layout.ts";
import {
  NETWORK_EVENT,
  NetworkFlag,
  NetworkKind,
  NetworkReason,
  NetworkVerdict,
} from "../sensors/network_event.ts";
import {
  ALLOW_KEY_V4,
  ALLOW_KEY_V6,
  ALLOW_PORTS,
  DNS_ALLOW,
  DNS_KEY_V6,
  DOMAIN_KEY,
  DomainKeyFlag,
  NETWORK_CONFIG,
  NETWORK_MAPS,
  NetworkAction,
  NetworkDnsQueries,
  NetworkMode,
  NetworkPrivileged,
  RESOLVER_KEY,
} from "../sensors/network_maps.ts";
import {
  AGENT_SIGNAL,
  EXEC_FILE_KEY,
  EXEC_PATH_KEY,
  ExecDenyAction,
  GUARD_CONFIG,
  GuardAction,
  PROCESS_CONFIG,
  PROCESS_EVENT,
  PROCESS_MAPS,
  ProcessFlag,
  ProcessKind,
  SCOPE_COMM,
  SCOPE_ENTRY,
  SCOPE_UNTRACKED,
  ScopeCgroupSource,
  ScopeFlag,
  ScopeState,
  UntrackedState,
} from "../sensors/process.ts";
import { SENSOR_MAPS, SensorStat } from "../sensors/sensor.ts";
import {
  SYSCALL_CHAIN_MAPS,
  SyscallEnterSlot,
  SyscallExitSlot,
} from "../sensors/syscall_chain.ts";
import { InstallScriptRule } from "../sensors/install_scripts.ts";
import {
  GUARD_EVENT,
  GuardFlag,
  GuardRole,
  GuardVia,
} from "../sensors/guard_event.ts";
import {
  assertEnumMatchesBtf,
  assertLayoutMatchesBtf,
  assertMapMatchesBtf,
  btfMapMaxEntries,
} from "./helpers/btf.ts";
import { ROOT } from "./helpers/kernel.ts";

type Sensor = "process" | "network" | "file-system";

const object = (sensor: Sensor) => `${ROOT}bpf/build/sensor.${sensor}.bpf.o`;
const ALL: readonly Sensor[] = ["process", "network", "file-system"];

/** Each layout and the objects it is shared with. */
const STRUCTS: [StructLayout, readonly Sensor[]][] = [
  [EVENT_HEADER, ALL],
  [SCOPE_ENTRY, ALL],
  [SCOPE_COMM, ALL],
  [PROCESS_EVENT, ["process"]],
  [PROCESS_CONFIG, ["process"]],
  [EXEC_PATH_KEY, ["process"]],
  [EXEC_FILE_KEY, ["process"]],
  [AGENT_SIGNAL, ["process"]],
  [GUARD_CONFIG, ["process"]],
  [GUARD_EVENT, ["process"]],
  [SCOPE_UNTRACKED, ["process"]],
  [DEPENDENCY_EVENT, ["process"]],
  [NETWORK_EVENT, ["network"]],
  [NETWORK_CONFIG, ["network"]],
  [ALLOW_PORTS, ["network"]],
  [ALLOW_KEY_V4, ["network"]],
  [ALLOW_KEY_V6, ["network"]],
  [RESOLVER_KEY, ["network"]],
  [DOMAIN_KEY, ["network"]],
  [DNS_ALLOW, ["network"]],
  [DNS_KEY_V6, ["network"]],
  [FILE_SYSTEM_EVENT, ["file-system"]],
  [FILE_SYSTEM_CONFIG, ["file-system"]],
  [FS_PREFIX_KEY, ["file-system"]],
  [FS_NAME_KEY, ["file-system"]],
  [FS_INODE_KEY, ["file-system"]],
];

/** The maps the loader reads or writes, by the objects that define them. */
const MAPS: [Readonly<Record<string, MapLayout>>, readonly Sensor[]][] = [
  [SENSOR_MAPS, ALL],
  [SYSCALL_CHAIN_MAPS, ALL],
  [PROCESS_MAPS, ["process"]],
  [NETWORK_MAPS, ["network"]],
  [FILE_SYSTEM_MAPS, ["file-system"]],
];

/**
 * Each table, its C enum, the prefix of the enum's members, the objects
 * it is shared with, and the members that are bounds, not values.
 */
const ENUMS: [
  Readonly<Record<string, number>>,
  string,
  string,
  readonly Sensor[],
  string[]?,
][] = [
  [ScopeFlag, "scope_flag", "SCOPE_", ALL],
  [SensorStat, "sensor_stat", "STAT_", ALL, ["STAT_MAX"]],
  [SyscallEnterSlot, "syscall_enter_slot", "CHAIN_ENTER_", ALL, [
    "CHAIN_ENTER_SLOTS",
  ]],
  [SyscallExitSlot, "syscall_exit_slot", "CHAIN_EXIT_", ALL, [
    "CHAIN_EXIT_SLOTS",
  ]],
  [ProcessKind, "process_event_kind", "PROCESS_", ["process"]],
  [ProcessFlag, "process_event_flag", "PROCESS_FLAG_", ["process"]],
  [ExecDenyAction, "exec_deny_action", "EXEC_DENY_", ["process"]],
  [GuardAction, "guard_action", "GUARD_", ["process"]],
  [GuardVia, "guard_via", "GUARD_VIA_", ["process"]],
  [GuardRole, "guard_role", "GUARD_ROLE_", ["process"]],
  [GuardFlag, "guard_event_flag", "GUARD_FLAG_", ["process"]],
  [ScopeState, "scope_state_key", "SCOPE_STATE_", ["process"], [
    "SCOPE_STATE_MAX",
  ]],
  [ScopeCgroupSource, "scope_cgroup_source", "SCOPE_CGROUP_", ["process"]],
  [UntrackedState, "untracked_state", "UNTRACKED_", ["process"]],
  [DependencyFlag, "dependency_event_flag", "DEP_FLAG_", ["process"]],
  [NetworkKind, "network_event_kind", "NETWORK_", ["network"]],
  [NetworkVerdict, "network_verdict", "VERDICT_", ["network"]],
  [NetworkReason, "network_reason", "REASON_", ["network"]],
  [NetworkFlag, "network_event_flag", "NETWORK_FLAG_", ["network"]],
  [NetworkMode, "network_mode", "NETWORK_MODE_", ["network"]],
  [NetworkAction, "network_action", "NETWORK_ACTION_", ["network"]],
  [NetworkDnsQueries, "network_dns_queries", "DNS_QUERIES_", ["network"]],
  [NetworkPrivileged, "network_privileged", "PRIVILEGED_", ["network"]],
  [DomainKeyFlag, "domain_key_flag", "DOMAIN_", ["network"]],
  [FileSystemKind, "file_system_event_kind", "FS_", ["file-system"]],
  [FileSystemFlag, "file_system_event_flag", "FS_FLAG_", ["file-system"]],
  [FileClass, "file_system_class", "FS_CLASS_", ["file-system"]],
  [InstallScriptRule, "install_script_rule", "INSTALL_", [
    "network",
    "file-system",
  ]],
];

for (const [layout, sensors] of STRUCTS) {
  for (const sensor of sensors) {
    Deno.test(`struct ${layout.name} matches sensor.${sensor} BTF`, async () => {
      await assertLayoutMatchesBtf(object(sensor), layout);
    });
  }
}

for (const [maps, sensors] of MAPS) {
  for (const [name, layout] of Object.entries(maps)) {
    for (const sensor of sensors) {
      Deno.test(`map ${name} matches sensor.${sensor} BTF`, async () => {
        await assertMapMatchesBtf(object(sensor), name, layout);
      });
    }
  }
}

for (const [table, name, prefix, sensors, bounds] of ENUMS) {
  for (const sensor of sensors) {
    Deno.test(`enum ${name} matches sensor.${sensor} BTF`, async () => {
      await assertEnumMatchesBtf(object(sensor), name, prefix, table, bounds);
    });
  }
}

/** The parser's capacities (policy/limits.ts) and the maps they stand for. */
const LIMITS: [number, Sensor, string[]][] = [
  [SCOPE_PROCESSES_MAX, "process", ["scope_root_comms"]],
  [RESOLVERS_MAX, "network", ["resolvers", "resolvers_gen1"]],
  [DOMAINS_MAX, "network", ["domains", "domains_gen1"]],
  [RUNNER_DOMAINS_MAX, "network", ["dns_runner_v4", "dns_runner_v6"]],
  [PREFIXES_MAX, "network", [
    "allow_v4",
    "allow_v4_gen1",
    "allow_v6",
    "allow_v6_gen1",
    "runner_v4",
    "runner_v6",
  ]],
];

for (const [limit, sensor, maps] of LIMITS) {
  Deno.test(`policy limit ${limit} is the size of ${maps.join(", ")}`, async () => {
    for (const map of maps) {
      assert.equal(await btfMapMaxEntries(object(sensor), map), limit, map);
    }
  });
}

Deno.test("the syscall chains have one slot per chained program", async () => {
  for (const sensor of ALL) {
    const path = object(sensor);
    assert.equal(
      await btfMapMaxEntries(path, "syscall_enter_chain"),
      Object.keys(SyscallEnterSlot).length,
      sensor,
    );
    assert.equal(
      await btfMapMaxEntries(path, "syscall_exit_chain"),
      Object.keys(SyscallExitSlot).length,
      sensor,
    );
  }
});
