/**
 * ringfence: eBPF runtime security for CI runners.
 *
 * Start an agent programmatically, subscribe to its events, and load or
 * validate policies.
 *
 * @example Watch a command and print its execs
 * ```ts ignore
 * import { Agent, parsePolicy } from "./mod.ts";
 *
 * const agent = await Agent.start({
 *   policy: parsePolicy("version: 1\n", "inline.yaml"),
 *   spawner: true, // processes this program spawns are watched
 * });
 * agent.subscribe((event) => {
 *   if (event.kind === "exec") console.log(event.pid, event.argv);
 * });
 * await new Deno.Command("/bin/echo", { args: ["hello"] }).output();
 * await agent.stop();
 * ```
 *
 * @module
 */

// The agent and what its methods take and give.
export {
  type AdoptionReport,
  Agent,
  type AgentOptions,
  type AgentStats,
  type FileEnforcement,
  type PinOptions,
  type PinsInfo,
} from "./agent/agent.ts";
export type { FileFinding, FileFindingKind } from "./agent/file_findings.ts";
export type { IntegrityPaths } from "./agent/file_policy.ts";
export type { ProcessNode, ProcessTree } from "./agent/process_tree.ts";
export type {
  FileState,
  ProtectedChange,
  TamperEntry,
  TamperReport,
} from "./agent/tamper.ts";
export type { SensorStats } from "./sensors/sensor.ts";
export type { HostFacts } from "./sensors/system.ts";

// Events.
export type {
  AgentEvent,
  BaseEvent,
  Dependency,
  EventListener,
  FileIntegrityEvent,
  FileSystemEvent,
  FileSystemSummaryEvent,
  GuardEvent,
  NetworkEvent,
  ProcessEvent,
  RingfenceEvent,
} from "./sensors/events.ts";
export type { GuardTarget, MemoryVia } from "./sensors/guard_event.ts";
export type { AgentSignal } from "./sensors/process.ts";
export type {
  ProtectedFileFinding,
  TamperWhat,
} from "./sensors/agent_event.ts";
export type { FileSystemKind } from "./sensors/file_system.ts";
export type {
  FileIntegrityKind,
  FileIntegrityState,
  FileIntegrityWriter,
} from "./sensors/file_integrity_event.ts";
export type { NetworkKind, NetworkVerdict } from "./sensors/network.ts";

// Policies.
export { loadPolicy, parsePolicy, PolicyError } from "./policy/parse.ts";
export type {
  AllowRule,
  CidrRule,
  DependenciesPolicy,
  DomainRule,
  ExporterConfig,
  FilesPolicy,
  InstallScriptsPolicy,
  ListenAddress,
  Mode,
  NetworkAction,
  NetworkPolicy,
  PackageException,
  Policy,
  PrivilegedPolicy,
  PrivilegedPrimitive,
  ProcessPolicy,
  ResolverSpec,
  RunnerPolicy,
  RunnerScope,
} from "./policy/schema.ts";

// What Agent.start() throws besides a policy the kernel cannot hold.
export { BpfError } from "./sensors/libbpf.ts";
export { PreflightError } from "./sensors/system.ts";

export { VERSION } from "./version.ts";
