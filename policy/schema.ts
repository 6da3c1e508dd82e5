/**
 * The shape of a validated policy (schema version 1). Everything here is
 * produced by `parsePolicy()`; nothing is read from YAML directly.
 *
 * @module
 */

/**
 * What the agent does when a rule is broken: `audit` only reports,
 * `block` enforces (the network `action` says how).
 */
export type Mode = "audit" | "block";

/** The process names watched when a policy does not say. */
export const DEFAULT_PROCESSES: readonly string[] = Object.freeze([
  "Runner.Worker",
  "containerd",
  "dockerd",
]);

/**
 * The roots that are the CI runner itself when a policy does not say
 * (those of them that `scope.processes` lists).
 */
export const DEFAULT_RUNNER_PROCESSES: readonly string[] = Object.freeze([
  "Runner.Worker",
]);

/**
 * What the GitHub Actions runner's job process reaches on its own when a
 * policy does not say: the service's hosts GitHub documents for runner
 * communication (job messages, logs and summaries, action downloads).
 * Artifacts, caches and OIDC tokens are fetched by steps, which
 * `network.allow` judges.
 */
export const DEFAULT_RUNNER_ALLOW: readonly string[] = Object.freeze([
  "github.com:443",
  "api.github.com:443",
  "codeload.github.com:443",
  "*.actions.githubusercontent.com:443",
  "*.blob.core.windows.net:443",
  "ghcr.io:443",
  "pkg-containers.githubusercontent.com:443",
]);

/**
 * The kernel's `TASK_COMM_LEN`: `comm` holds at most this many bytes
 * including the terminating NUL, so a longer name can never match.
 */
export const TASK_COMM_LEN = 16;

/** A policy after validation, with every default filled in. */
export interface Policy {
  /** Schema version; only 1 exists. */
  version: 1;
  /** Report only, or enforce. */
  mode: Mode;
  /** Which processes (and their descendants) the policy applies to. */
  scope: {
    /** `comm` names, each at most 15 bytes, without duplicates. */
    processes: string[];
    /**
     * cgroup v2 paths whose processes (in sub-cgroups too) are in scope,
     * as written, relative to the cgroup2 mount or under it; present only
     * when the policy has the key.
     */
    cgroups?: string[];
    /** The roots that are the CI runner, and what only they may reach. */
    runner: RunnerScope;
  };
  /** Outbound network rules; defaults apply when the section is absent. */
  network: NetworkPolicy;
  /** Where events go besides `--output` (the `exporters` section). */
  exporters?: ExporterConfig[];
  /** Programs that must not run (the `process` section), when present. */
  process?: ProcessPolicy;
  /** File rules (the `files` section), when present. */
  files?: FilesPolicy;
  /** What a job may do to its runner; defaults apply when absent. */
  runner: RunnerPolicy;
  /** Rules for dependencies' own code (the `dependencies` section), when
   * present. */
  dependencies?: DependenciesPolicy;
  /** Where the policy came from, for messages. */
  source: {
    /** The file name given to `parsePolicy()` or `loadPolicy()`. */
    file: string;
  };
}

/**
 * `scope.runner`: the roots that are the CI runner's own process. Every
 * scope root's connections are judged by `network.allow`; these may also
 * reach `allow` (their CI service's hosts), and nothing else may.
 */
export interface RunnerScope {
  /** Names among `scope.processes`. */
  processes: string[];
  /** Destinations in the `network.allow` syntax. */
  allow: AllowRule[];
}

/** The `network` section. */
export interface NetworkPolicy {
  /** Destinations that may be reached; everything else breaks the policy. */
  allow: AllowRule[];
  /** DNS settings. */
  dns: {
    /**
     * The DNS servers whose answers are trusted to map allowed domains to
     * addresses. An empty list trusts none, so domain rules never match.
     */
    resolvers: ResolverSpec[];
    /**
     * Which names a process in scope may ask: `allowed-only` (the default)
     * those the domain rules cover, others are refused in block mode and
     * reported in audit mode, since a resolver forwards any name to whoever
     * serves it (DNS tunnelling); `any` lets every query through.
     */
    queries: "allowed-only" | "any";
  };
  /** What `block` mode does to an offending connection. */
  action: NetworkAction;
  /**
   * Whether 127.0.0.0/8 and ::1 are reachable without a rule. Allowed by
   * default: CI jobs talk to local services all the time.
   */
  loopback: "allow" | "deny";
  /**
   * The privileged network primitives monitored processes may use, each
   * `deny` unless the policy allows it: a network test suite may need raw
   * sockets, a VPN step TUN.
   */
  privileged: PrivilegedPolicy;
}

/** A privileged network primitive `network.privileged` names. */
export type PrivilegedPrimitive = "raw" | "packet" | "tun" | "netfilter";

/** Every privileged primitive, in the order the policy documents them. */
export const PRIVILEGED_PRIMITIVES: readonly PrivilegedPrimitive[] = Object
  .freeze(["raw", "packet", "tun", "netfilter"]);

/**
 * `network.privileged`: `raw` inet sockets (any IP header, IP_HDRINCL,
 * legacy iptables), `packet` sockets (AF_PACKET: any frame), `tun` (a
 * TUN/TAP device attached) and `netfilter` (the nftables/iptables-nft
 * netlink socket). Denied ones fail (raw) or kill the caller (the rest)
 * in block mode, and are reported as `audit` in audit mode.
 */
export type PrivilegedPolicy = Record<PrivilegedPrimitive, "allow" | "deny">;

/** `network.privileged` when the policy leaves it out: every one denied. */
export const DENY_PRIVILEGED: Readonly<PrivilegedPolicy> = Object.freeze({
  raw: "deny",
  packet: "deny",
  tun: "deny",
  netfilter: "deny",
});

/** `deny` fails the connect(); `kill` also kills the process. */
export type NetworkAction = "deny" | "kill";

/** An address range, optionally limited to one port. */
export interface CidrRule {
  /** Discriminant. */
  kind: "cidr";
  /** 4 or 6; IPv4-mapped IPv6 ranges are stored as family 4. */
  family: 4 | 6;
  /** 4 or 16 bytes in network order, host bits zeroed. */
  address: Uint8Array;
  /** 0-32 or 0-128; a bare address has the full length. */
  prefixLength: number;
  /** 1-65535, or null for any port. */
  port: number | null;
  /** The rule as written in the policy. */
  text: string;
}

/** A domain name, or all subdomains of one, optionally limited to a port. */
export interface DomainRule {
  /** Discriminant. */
  kind: "domain";
  /** Lower-case, no trailing dot, without the `*.` of a wildcard. */
  name: string;
  /** `*.name`: any subdomain at any depth, but not `name` itself. */
  wildcard: boolean;
  /** 1-65535, or null for any port. */
  port: number | null;
  /**
   * `name:port/udp`: UDP to the addresses the name's answers admit is
   * allowed too. Without it they are reached over TCP only, where the
   * first bytes must name the server (TLS SNI, HTTP Host).
   */
  udp: boolean;
  /** The rule as written in the policy. */
  text: string;
}

/** One entry of `network.allow`. */
export type AllowRule = CidrRule | DomainRule;

/**
 * A trusted DNS server: the host's own (`/etc/resolv.conf`) or an
 * explicit address.
 */
export type ResolverSpec =
  | { kind: "system" }
  | {
    kind: "address";
    family: 4 | 6;
    address: Uint8Array;
    /** Defaults to 53. */
    port: number;
  };

/** An address an exporter's server listens on. */
export interface ListenAddress {
  /** Host name or address to bind (loopback unless the policy says). */
  hostname: string;
  /** TCP port. */
  port: number;
}

/** One entry of `exporters`, with defaults filled in and `${VAR}` expanded. */
export type ExporterConfig =
  | { kind: "jsonl"; path: string }
  | {
    kind: "webhook";
    url: string;
    headers: Record<string, string>;
    /** Events per POST. */
    batch: number;
    /** Events held in memory before they are spooled to disk. */
    queue: number;
    /** Seconds per request. */
    timeout: number;
  }
  | { kind: "http"; listen: ListenAddress; token?: string }
  | { kind: "grpc"; listen: ListenAddress; token?: string }
  | {
    kind: "otlp";
    /** Base URL; logs go to `<endpoint>/v1/logs` unless it ends so. */
    endpoint: string;
    headers: Record<string, string>;
    batch: number;
    queue: number;
    timeout: number;
    encoding: "protobuf" | "json";
  };

/**
 * Forbidden programs. The kernel matches them at exec and when a loader
 * maps one executable: `paths` by the file they name (inode, and the path
 * the kernel resolves), `names` (from `**\/name` patterns) on the file's
 * name and the command name, which the kernel cuts at 15 bytes.
 */
export interface ProcessPolicy {
  /** Full paths, e.g. "/usr/bin/nc". */
  denyPaths: string[];
  /** File names from `**\/name`, e.g. "xmrig". */
  denyNames: string[];
  /** `kill` (in block mode) or `audit` (report only). */
  action: "kill" | "audit";
}

/**
 * The `runner` section. A denied rule is enforced in block mode and
 * reported in audit mode.
 */
export interface RunnerPolicy {
  /**
   * `deny` takes the runner user's sudo rights away while the agent runs
   * and gives them back when it stops; `allow` (the default) leaves them.
   */
  sudo: "allow" | "deny";
  /** Whose sudo rights `sudo: deny` takes: the runner's user by default. */
  user?: string;
  /**
   * `deny` (the default): a policed process that reads or writes another
   * process's memory (`/proc/PID/mem`, `process_vm_readv`/`writev`), reads
   * a scope root's or the agent's `environ`, or ptrace-attaches to one, is
   * killed.
   */
  memory: "allow" | "deny";
  /**
   * `deny` (the default): a policed process that calls bpf(2) is killed
   * and reported as tampering.
   */
  bpf: "allow" | "deny";
}

/**
 * File rules: globs (policy/glob.ts) after `${VAR}` expansion, each checked
 * at parse time.
 */
export interface FilesPolicy {
  /** Writes (open for write, create, truncate, unlink, rename, chmod,
   * chown) under these are reported and feed the tamper report. */
  watch: string[];
  /** Writes to these are forbidden. */
  protect: string[];
  /** Reads of these are reported. */
  secrets: string[];
  /** `kill` (in block mode) SIGKILLs a writer of a protected path;
   * `audit` only reports. */
  action: "kill" | "audit";
  /** Put a protected file that changed anyway back from the agent's start
   * snapshot (default false). */
  restore?: boolean;
  /**
   * `summary` (the default): creates, unlinks, mkdirs, ... under a
   * `bulk` directory that only `watch` names are counted per process and
   * directory (a `file_system_summary` event) rather than reported one by
   * one; `full`: every change is its own event.
   */
  detail?: "summary" | "full";
  /** Names of directories whose contents are summarised (node_modules,
   * .venv, target, ...); default {@linkcode DEFAULT_BULK_DIRS}. */
  bulk?: string[];
}

/**
 * The directories `files.bulk` names by default: where package managers
 * and builds write thousands of files.
 */
export const DEFAULT_BULK_DIRS: readonly string[] = [
  "node_modules",
  ".venv",
  "venv",
  "__pycache__",
  "target",
  "build",
  "dist",
  "out",
  ".next",
  ".gradle",
  ".tox",
];

/**
 * The `dependencies` section: rules for what packages' own code does while
 * a package manager installs or builds them.
 */
export interface DependenciesPolicy {
  /** `dependencies.install_scripts`, when present. */
  installScripts?: InstallScriptsPolicy;
}

/**
 * `dependencies.install_scripts`: what a dependency's install script (npm,
 * yarn, pnpm and bun lifecycle scripts, a pip/uv sdist build, a cargo
 * build script, a gem's native extension, and every process they start)
 * may do. Enforced in block mode, reported (`audit`) in audit mode.
 */
export interface InstallScriptsPolicy {
  /**
   * `deny`: no connection or datagram at all (the DNS resolver included),
   * loopback as `network.loopback` says; `allow-list`: `network.allow` as
   * for any process, with DNS queries held to the allowed names even under
   * `dns.queries: any`, and a violation handled by `action`.
   */
  network: "deny" | "allow-list";
  /**
   * `protect-secrets`: reading `files.secrets` or a built-in credential
   * path, or writing `files.protect` or the workspace's `.github/**`, kills
   * the script; `allow`: `files` applies as to any process.
   */
  files: "protect-secrets" | "allow";
  /**
   * `deny`: a connection is refused (EPERM), a file violation kills (the
   * kernel cannot refuse a read from a tracepoint); `kill`: every
   * violation kills the script.
   */
  action: "deny" | "kill";
  /** Packages the rule does not apply to. */
  except: PackageException[];
}

/** One entry of `dependencies.install_scripts.except`. */
export interface PackageException {
  /** The package name as its registry spells it (`@scope/pkg`, `esbuild`). */
  name: string;
  /** Only this version; any version when absent. */
  version?: string;
  /** The entry as written. */
  text: string;
}
