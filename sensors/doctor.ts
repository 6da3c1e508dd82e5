/**
 * What this host offers the agent, checked for real (`ringfence doctor`).
 *
 * It reports the kernel, root, BTF, the cgroup2 mount, tracefs, where
 * libbpf comes from (the host's or the copy carried inside ringfence) and,
 * for each BPF program type the sensors use plus the two that commonly
 * fail (kprobe, lsm), whether the kernel accepts the type
 * (`libbpf_probe_bpf_prog_type`) and whether a do-nothing program of that
 * type actually loads and attaches. Then it loads the real sensors without
 * attaching them, and says what will not work and why.
 *
 * @module
 */

import { BpfObject } from "./bpf_object.ts";
import { BpfError, libbpf, libbpfInfo } from "./libbpf.ts";
import { hasEmbeddedLibbpf } from "./libbpf_loader.ts";
import { closeFd, openDirectory } from "./libc.ts";
import { readSensorObject } from "./objects.ts";
import { exists, parseMounts } from "./system.ts";

/** One program type: what the probe and a real attach gave. */
export interface ProgramTypeReport {
  /** Name as users know it, e.g. "cgroup_sock_addr". */
  name: string;
  /** The kernel accepts programs of this type (libbpf's probe). */
  probe: boolean | string;
  /** A program of this type loaded and attached, or why not. */
  attach: true | string;
  /** Whether the sensors need it. */
  required: boolean;
  /** What it is used for, or why it does not matter. */
  use: string;
}

/** Everything doctor found. */
export interface DoctorReport {
  kernel: string;
  arch: string;
  root: boolean;
  btf: string | undefined;
  cgroup2: string | undefined;
  tracefs: string | undefined;
  lockdown: string | undefined;
  libbpf: { source: string; version: string; path: string } | string;
  embeddedLibbpf: boolean;
  programTypes: ProgramTypeReport[];
  sensors: Record<string, true | string>;
  /** What will not work, each with its reason. */
  problems: string[];
  /** Things that do not work here but the agent does not need. */
  notes: string[];
  /** The agent can run on this host. */
  ok: boolean;
}

interface ProbeSpec {
  name: string;
  type: number;
  program: string;
  kind: "trace" | "cgroup";
  required: boolean;
  use: string;
  /** Why it fails on common hosts, added to its failure reason. */
  hint: string;
}

// enum bpf_prog_type values (stable kernel ABI).
const PROBES: ProbeSpec[] = [
  {
    name: "tracepoint",
    type: 5,
    program: "probe_tracepoint",
    kind: "trace",
    required: false,
    use: "nothing: the sensors attach raw tracepoints (raw_tp) instead",
    hint: "tracefs or CONFIG_TRACEPOINTS missing",
  },
  {
    name: "raw_tp",
    type: 17,
    program: "probe_raw_tp",
    kind: "trace",
    required: true,
    use:
      "fork, exec and exit (process sensor), listen (network), syscalls (file system)",
    hint: "the kernel lacks raw tracepoint support",
  },
  {
    name: "cgroup_sock_addr",
    type: 18,
    program: "probe_cgroup_sock_addr",
    kind: "cgroup",
    required: true,
    use: "connect/sendmsg/bind policy (network sensor)",
    hint: "needs CONFIG_CGROUP_BPF and a cgroup2 mount",
  },
  {
    name: "cgroup_sock",
    type: 9,
    program: "probe_cgroup_sock",
    kind: "cgroup",
    required: true,
    use: "socket creation (network sensor)",
    hint: "needs CONFIG_CGROUP_BPF and a cgroup2 mount",
  },
  {
    name: "cgroup_skb",
    type: 8,
    program: "probe_cgroup_skb",
    kind: "cgroup",
    required: true,
    use: "DNS answers and packets (network sensor)",
    hint: "needs CONFIG_CGROUP_BPF and a cgroup2 mount",
  },
  {
    name: "kprobe",
    type: 2,
    program: "probe_kprobe",
    kind: "trace",
    required: false,
    use: "not used by ringfence",
    hint: "no kprobe support in this kernel (CONFIG_KPROBES is off)",
  },
  {
    name: "lsm",
    type: 29,
    program: "probe_lsm",
    kind: "trace",
    required: false,
    use:
      "optional: with it a protected file's change is refused with EPERM; without it the writer is killed after the syscall",
    hint: "BPF LSM needs CONFIG_BPF_LSM and 'bpf' in the lsm= boot list",
  },
];

function readText(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path).trim();
  } catch {
    return undefined;
  }
}

function message(error: unknown): string {
  return (error as Error).message.split("\n")[0];
}

function probeType(type: number): boolean | string {
  try {
    const result = libbpf().libbpf_probe_bpf_prog_type(type, null);
    return result < 0 ? `probe failed (error ${-result})` : result === 1;
  } catch (error) {
    return message(error);
  }
}

function tryAttach(
  bytes: Uint8Array,
  spec: ProbeSpec,
  cgroup: string | undefined,
): true | string {
  let object: BpfObject | undefined;
  try {
    object = BpfObject.open(bytes, "doctor");
    for (const program of object.programs()) {
      program.setAutoload(program.name === spec.program);
    }
    object.load();
    const program = object.program(spec.program);
    if (spec.kind === "cgroup") {
      if (!cgroup) return "no cgroup2 mount to attach to";
      const fd = openDirectory(cgroup);
      try {
        program.attachCgroup(fd, cgroup).destroy();
      } finally {
        closeFd(fd);
      }
    } else {
      program.attach().destroy();
    }
    return true;
  } catch (error) {
    const text = message(error);
    return error instanceof BpfError
      ? text.replace(/^[^:]*doctor[^:]*: /, "")
        .replace(/^attach \S+ to [^:]+: /, "")
        .replace(/prog '\w+': /, "")
      : text;
  } finally {
    object?.close();
  }
}

/** Examines the host; needs root for the program checks. */
export async function examineHost(
  options: { sensors?: string } = {},
): Promise<DoctorReport> {
  const problems: string[] = [];
  const notes: string[] = [];
  const root = Deno.uid() === 0;
  if (!root) {
    problems.push("not root: ringfence loads BPF programs; run it with sudo");
  }
  const btf = exists("/sys/kernel/btf/vmlinux")
    ? "/sys/kernel/btf/vmlinux"
    : undefined;
  if (!btf) {
    problems.push(
      "no BTF (/sys/kernel/btf/vmlinux): needs Linux >= 5.8 built with CONFIG_DEBUG_INFO_BTF=y",
    );
  }
  const mounts = parseMounts(readText("/proc/mounts") ?? "");
  const cgroup2 = mounts.find((mount) => mount.type === "cgroup2")?.target;
  if (!cgroup2) {
    problems.push(
      "no cgroup2 mount: the network sensor attaches there; mount one with 'mount -t cgroup2 none /sys/fs/cgroup/unified'",
    );
  }
  let tracefs = mounts.find((mount) => mount.type === "tracefs")?.target;
  if (!tracefs && exists("/sys/kernel/debug/tracing/events")) {
    tracefs = "/sys/kernel/debug/tracing";
  }
  const lockdown = readText("/sys/kernel/security/lockdown")?.match(
    /\[(\w+)\]/,
  )?.[1];
  let libbpf: DoctorReport["libbpf"];
  try {
    const info = libbpfInfo();
    libbpf = { source: info.source, version: info.version, path: info.path };
  } catch (error) {
    libbpf = message(error);
    problems.push(libbpf);
  }
  const programTypes: ProgramTypeReport[] = [];
  const sensors: Record<string, true | string> = {};
  if (root && btf && typeof libbpf === "object") {
    let probes: Uint8Array | undefined;
    try {
      probes = await readSensorObject("doctor");
    } catch (error) {
      problems.push(message(error));
    }
    for (const spec of PROBES) {
      const probe = probeType(spec.type);
      const attach = probes
        ? tryAttach(probes, spec, cgroup2)
        : "probe object missing";
      programTypes.push({
        name: spec.name,
        probe,
        attach,
        required: spec.required,
        use: spec.use,
      });
      if (attach !== true) {
        const line = `${spec.name}: ${attach} (${spec.hint})`;
        if (spec.required) problems.push(`${line}: needed for ${spec.use}`);
        else notes.push(`${line}: ${spec.use}`);
      }
    }
    for (const name of ["process", "network", "file-system"]) {
      try {
        const bytes = await readSensorObject(name, options.sensors);
        using object = BpfObject.open(bytes, `sensor.${name}`);
        // The LSM programs are optional (the lsm row above says whether
        // they load); the sensor must load without them.
        for (const program of object.programs()) {
          if (program.name.startsWith("lsm_")) program.setAutoload(false);
        }
        object.load();
        sensors[name] = true;
      } catch (error) {
        sensors[name] = message(error);
        problems.push(`sensor ${name} does not load: ${sensors[name]}`);
      }
    }
  }
  return {
    kernel: Deno.osRelease(),
    arch: Deno.build.arch,
    root,
    btf,
    cgroup2,
    tracefs,
    lockdown,
    libbpf,
    embeddedLibbpf: await hasEmbeddedLibbpf(),
    programTypes,
    sensors,
    problems,
    notes,
    ok: problems.length === 0,
  };
}
