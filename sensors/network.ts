/**
 * sensor.network: outbound connections, UDP destinations, DNS queries,
 * listens and binds of the processes in scope, judged in the kernel
 * against an allow-list held in BPF maps (bpf/sensor.network.bpf.c).
 *
 * Records are decoded by ./network_event.ts and the maps encoded by
 * ./network_maps.ts; this module loads, attaches and fills them. The
 * policy maps exist in two generations: {@linkcode NetworkSensor} writes
 * the idle one and then flips `generation` in the config map, so a policy
 * swap (e.g. on SIGHUP) is atomic for the programs.
 *
 * @module
 */

import { sizeOf } from "./layout.ts";
import { mapDelete, mapKeys, mapLookup } from "./libbpf.ts";
import { netnsCookie } from "./libc.ts";
import { SyscallEnterSlot } from "./syscall_chain.ts";
import {
  allowEntries,
  decodeDnsAdmission,
  DNS_ALLOW,
  type DnsAdmission,
  encodeDomains,
  encodeResolverKey,
  NETWORK_CONFIG,
  NETWORK_MAPS,
  networkConfig,
  type NetworkPolicyMaps,
  type NetworkSettings,
  type RunnerAllowMaps,
  sameDomains,
} from "./network_maps.ts";
import { Sensor, type SensorOptions } from "./sensor.ts";
import { cgroup2Mount } from "./system.ts";

export {
  decodeNetworkEvent,
  type NetworkEvent,
  type NetworkKind,
  type NetworkVerdict,
} from "./network_event.ts";
export type {
  AllowedDomain,
  AllowPrefix,
  DnsAdmission,
  NetworkPolicyMaps,
  NetworkPrivileged,
  NetworkSettings,
  Resolver,
  RunnerAllowMaps,
} from "./network_maps.ts";

const GENERATION_MAPS = [
  {
    v4: "allow_v4",
    v6: "allow_v6",
    resolvers: "resolvers",
    domains: "domains",
    runnerV4: "runner_v4",
    runnerV6: "runner_v6",
  },
  {
    v4: "allow_v4_gen1",
    v6: "allow_v6_gen1",
    resolvers: "resolvers_gen1",
    domains: "domains_gen1",
    runnerV4: "runner_v4_gen1",
    runnerV6: "runner_v6_gen1",
  },
] as const;

/** The maps of addresses DNS answers admitted, and their key sizes. */
const DNS_ADMITTED = [
  {
    family: 4,
    map: "dns_allow_v4",
    keySize: sizeOf(NETWORK_MAPS.dns_allow_v4.key),
  },
  {
    family: 6,
    map: "dns_allow_v6",
    keySize: sizeOf(NETWORK_MAPS.dns_allow_v6.key),
  },
  {
    family: 4,
    map: "dns_runner_v4",
    keySize: sizeOf(NETWORK_MAPS.dns_runner_v4.key),
  },
  {
    family: 6,
    map: "dns_runner_v6",
    keySize: sizeOf(NETWORK_MAPS.dns_runner_v6.key),
  },
] as const;

/** The cgroup programs and how their links are named. */
const CGROUP_PROGRAMS = [
  ["sock_create", "cgroup/sock_create"],
  ["connect4", "cgroup/connect4"],
  ["connect6", "cgroup/connect6"],
  ["sendmsg4", "cgroup/sendmsg4"],
  ["sendmsg6", "cgroup/sendmsg6"],
  ["bind4", "cgroup/bind4"],
  ["bind6", "cgroup/bind6"],
  ["egress", "cgroup_skb/egress"],
  ["ingress", "cgroup_skb/ingress"],
] as const;

/**
 * The loader's network namespace: where the resolvers of its resolv.conf
 * answer from. 0n (the initial namespace, as the sensor reads it) when
 * the kernel cannot tell.
 */
function ownNetns(): bigint {
  try {
    return netnsCookie();
  } catch {
    return 0n;
  }
}

/** What runner roots may reach when the policy gives them nothing more. */
const NO_RUNNER: RunnerAllowMaps = Object.freeze({
  v4: [],
  v6: [],
  domains: [],
});

/** The value of a `resolvers` entry: its presence is what counts. */
const RESOLVER_PRESENT = new Uint8Array([1, 0, 0, 0]);

/**
 * The network sensor. Open it with the process sensor's `sharedMaps()`
 * so it sees the same scope, then {@linkcode Sensor.load},
 * {@linkcode NetworkSensor.configure}, {@linkcode NetworkSensor.setPolicy}
 * and {@linkcode NetworkSensor.attach}.
 */
export class NetworkSensor extends Sensor {
  #settings: Required<NetworkSettings> = {
    mode: "audit",
    action: "deny",
    allowLoopback: true,
    dnsMinTtl: 30,
    dnsMaxTtl: 86400,
    dnsQueries: "allowed-only",
    resolverNetns: ownNetns(),
    allowPrivileged: [],
    installScripts: 0,
  };
  #generation = 0;
  #policy: NetworkPolicyMaps = {
    v4: [],
    v6: [],
    resolvers: [],
    domains: [],
    runner: NO_RUNNER,
  };

  /** Opens sensor.network from its ELF bytes. */
  constructor(bytes: Uint8Array, options: SensorOptions = {}) {
    super("network", bytes, options);
  }

  /** Writes the config map once loaded; before attach. */
  protected override loaded(): void {
    super.loaded();
    this.#writeConfig();
  }

  /**
   * Attaches every cgroup program (multi-attach links), the listen raw
   * tracepoint and the io_uring one that catches privileged primitives,
   * and puts the sys_enter one in its slot of the syscall chain (the
   * process sensor's, when given as `sharedMaps`). `cgroupPath` defaults to
   * the cgroup2 mount, read from /proc/mounts. On failure, what was
   * attached is detached by close().
   */
  attach(cgroupPath: string = cgroup2Mount()): void {
    for (const [program, hook] of CGROUP_PROGRAMS) {
      this.adopt(
        this.object.program(program).attachCgroupPath(
          cgroupPath,
          `${hook} at ${cgroupPath}`,
        ),
      );
    }
    this.attachBySection(["inet_sock_set_state"]);
    this.chain("sys_enter", "syscall_enter_chain", SyscallEnterSlot.network);
    this.#attachIoUring();
  }

  /**
   * The io_uring socket check: its tracepoint is absent where the kernel
   * has no io_uring (or names it otherwise, before Linux 5.19), and
   * there is no IORING_OP_SOCKET to catch either.
   */
  #attachIoUring(): void {
    let link;
    try {
      link = this.object.program("io_uring_submit_req").attach();
    } catch {
      return;
    }
    this.adopt(link);
  }

  /**
   * Sets mode, action, loopback, DNS TTL bounds, which names may be asked,
   * where the trusted resolvers live and the privileged primitives allowed
   * (takes effect at once).
   */
  configure(settings: Partial<NetworkSettings>): void {
    this.#settings = { ...this.#settings, ...settings };
    this.#writeConfig();
  }

  /**
   * Replaces the policy in one step: writes the idle generation of the
   * maps, then makes it live. Parts not given keep their current value.
   * Addresses learned from DNS are forgotten when the domains change.
   *
   * @throws {RangeError} when an entry does not fit the maps; nothing
   *   changes then.
   * @throws {import("./libbpf.ts").BpfError} when the kernel refuses an entry.
   */
  setPolicy(policy: Partial<NetworkPolicyMaps>): void {
    const next = { ...this.#policy, ...policy };
    // Everything is encoded before the first write.
    const v4 = allowEntries(next.v4, 4);
    const v6 = allowEntries(next.v6, 6);
    const resolvers = next.resolvers.map((resolver) => ({
      key: encodeResolverKey(resolver),
      value: RESOLVER_PRESENT,
    }));
    const runner = next.runner ?? NO_RUNNER;
    const runnerV4 = allowEntries(runner.v4, 4);
    const runnerV6 = allowEntries(runner.v6, 6);
    // One map holds both lists' names; a runner's keys carry a flag.
    const domains = [
      ...encodeDomains(next.domains),
      ...encodeDomains(runner.domains, true),
    ];
    const idle = 1 - this.#generation;
    const maps = GENERATION_MAPS[idle];
    // No program reads the idle maps: emptied first, they never hold more
    // than the new policy.
    const clear = { addFirst: false };
    this.replaceEntries(maps.v4, NETWORK_MAPS[maps.v4], v4, clear);
    this.replaceEntries(maps.v6, NETWORK_MAPS[maps.v6], v6, clear);
    const { resolvers: resolverMap, domains: domainMap } = maps;
    this.replaceEntries(
      resolverMap,
      NETWORK_MAPS[resolverMap],
      resolvers,
      clear,
    );
    this.replaceEntries(domainMap, NETWORK_MAPS[domainMap], domains, clear);
    this.replaceEntries(
      maps.runnerV4,
      NETWORK_MAPS[maps.runnerV4],
      runnerV4,
      clear,
    );
    this.replaceEntries(
      maps.runnerV6,
      NETWORK_MAPS[maps.runnerV6],
      runnerV6,
      clear,
    );
    const domainsChanged = (policy.domains !== undefined &&
      !sameDomains(this.#policy.domains, next.domains)) ||
      (policy.runner !== undefined &&
        !sameDomains(
          this.#policy.runner?.domains ?? [],
          runner.domains,
        ));
    this.#generation = idle;
    this.#policy = next;
    this.#writeConfig();
    if (domainsChanged) this.forgetDnsAdmissions();
  }

  /** The generation of the policy maps the programs use now (0 or 1). */
  get generation(): number {
    return this.#generation;
  }

  /** Addresses DNS answers admitted that have not lapsed. */
  dnsAdmitted(): DnsAdmission[] {
    const admitted: DnsAdmission[] = [];
    for (const { family, map, keySize } of DNS_ADMITTED) {
      const fd = this.object.map(map).fd;
      const value = new Uint8Array(DNS_ALLOW.size);
      for (const key of mapKeys(fd, keySize)) {
        if (!mapLookup(fd, new Uint8Array(key), value)) continue;
        admitted.push(decodeDnsAdmission(family, key, value));
      }
    }
    return admitted;
  }

  /** Forgets every address DNS answers admitted. */
  forgetDnsAdmissions(): void {
    for (const { map, keySize } of DNS_ADMITTED) {
      const fd = this.object.map(map).fd;
      for (const key of mapKeys(fd, keySize)) {
        mapDelete(fd, new Uint8Array(key));
      }
    }
  }

  #writeConfig(): void {
    this.writeConfig(
      "net_config",
      NETWORK_CONFIG,
      networkConfig(this.#settings, this.#generation, this.#policy.resolvers),
    );
  }
}
