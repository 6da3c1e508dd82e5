/**
 * Dependency attribution: which package's install or build script a
 * process descends from, as the `dependency` field of its events.
 *
 * sensor.process captures, at the exec of a package manager's child, the
 * new image's environment, working directory and file
 * (sensors/dependency_event.ts); {@linkcode classifyCapture} names the
 * package from them:
 *
 * - npm, yarn, pnpm, bun: `npm_package_name`, `npm_package_version` and
 *   `npm_lifecycle_event` in the environment, the manager from
 *   `npm_config_user_agent`; only a package under `node_modules/` is a
 *   dependency (the project's own scripts are not). Without those
 *   variables, a working directory `…/node_modules/(@scope/)name` and its
 *   package.json.
 * - pip, uv: the build backend running in an unpacked sdist
 *   (`pip-install-*`, `pip-req-build-*`, uv's `sdists-*` / `builds-*`),
 *   named by its PKG-INFO, pyproject.toml or setup.cfg; script `build`.
 * - cargo: a build script (`…/build/<pkg>-<hash>/build-script-*`) of a
 *   package outside the directory cargo runs in, named by `CARGO_PKG_NAME`
 *   and `CARGO_PKG_VERSION`; script `build.rs`.
 * - gem: a working directory `…/gems/<name>-<version>/ext/…`; script
 *   `extconf`.
 *
 * The answer is kept on the process tree's node and inherited by every
 * process it forks, however its environment changes later; what a script
 * runs never names another package.
 *
 * @module
 */

import type { Dependency } from "../sensors/event.ts";
import type { DependencyCapture } from "../sensors/dependency_event.ts";
import type { RingfenceEvent } from "../sensors/events.ts";
import type { ProcessNode, ProcessTree } from "./process_tree.ts";

export type { Dependency };

/**
 * Package managers by the name sensor.process matches on a parent's comm
 * cut at its first space, dot or digit: npm titles itself `npm install …`,
 * pip may run as `python3.11 -m pip`, yarn berry and pnpm may stay `node`.
 */
export const PACKAGE_MANAGERS: readonly string[] = [
  "npm",
  "yarn",
  "pnpm",
  "bun",
  "node",
  "pip",
  "python",
  "uv",
  "cargo",
  "gem",
  "ruby",
  "bundle",
];

/** Reads a small text file; undefined when it cannot. */
export type FileReader = (path: string) => string | undefined;

/** Reads a file with Deno, at most 64 KiB of it. */
export function readSmallFile(path: string): string | undefined {
  try {
    const file = Deno.openSync(path);
    try {
      const buffer = new Uint8Array(65536);
      const read = file.readSync(buffer) ?? 0;
      return new TextDecoder().decode(buffer.subarray(0, read));
    } finally {
      file.close();
    }
  } catch {
    return undefined;
  }
}

/** What classification needs besides the capture. */
export interface ClassifyContext {
  /** Reads package.json, PKG-INFO and the like. */
  read: FileReader;
  /** The working directory of a process (cargo's), when it can be read. */
  cwdOf: (pid: number) => string | undefined;
}

const defaultContext: ClassifyContext = {
  read: readSmallFile,
  cwdOf: (pid) => {
    try {
      return Deno.readLinkSync(`/proc/${pid}/cwd`);
    } catch {
      return undefined;
    }
  },
};

/** A Dependency with its fields in the order events print them. */
function dependencyOf(
  ecosystem: Dependency["ecosystem"],
  name: string,
  version: string | undefined,
  script: string | undefined,
  manager: string,
): Dependency {
  const dependency: Dependency = { ecosystem, name };
  if (version) dependency.version = version;
  if (script) dependency.script = script;
  dependency.manager = manager;
  return dependency;
}

const NPM_MANAGERS = new Set(["npm", "yarn", "pnpm", "bun"]);

/** The manager's name as the kernel matched it: cut at space, dot, digit. */
function managerBase(comm: string): string {
  const match = /^[^ .0-9]*/.exec(comm);
  return match ? match[0] : comm;
}

function dirname(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? "/" : path.slice(0, at);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}

/** `…/node_modules/(@scope/)name`: the package a directory is, if any. */
function nodeModulesPackage(dir: string): string | undefined {
  const match = /\/node_modules\/((?:@[^/]+\/)?[^/@.][^/]*)$/.exec(dir);
  return match?.[1];
}

function packageJsonVersion(
  dir: string,
  read: FileReader,
): { name?: string; version?: string } {
  const text = read(`${dir}/package.json`);
  if (!text) return {};
  try {
    const json = JSON.parse(text);
    return {
      name: typeof json.name === "string" ? json.name : undefined,
      version: typeof json.version === "string" ? json.version : undefined,
    };
  } catch {
    return {};
  }
}

function npmDependency(
  capture: DependencyCapture,
  base: string,
  read: FileReader,
): Dependency | undefined {
  const env = capture.env;
  const agent = env.get("npm_config_user_agent");
  const fromAgent = agent && /^([a-z]+)\//.exec(agent)?.[1];
  const manager = fromAgent && NPM_MANAGERS.has(fromAgent)
    ? fromAgent
    : NPM_MANAGERS.has(base)
    ? base
    : "npm";
  const packageJson = env.get("npm_package_json");
  const dir = packageJson ? dirname(packageJson) : capture.cwd;
  const inModules = nodeModulesPackage(dir);
  // The project's own scripts (`npm run build`, the root's `prepare`) run
  // outside node_modules: not a dependency.
  if (!inModules) return undefined;
  let name = env.get("npm_package_name");
  let version = env.get("npm_package_version");
  if (!name || !version) {
    const json = packageJsonVersion(dir, read);
    name ??= json.name ?? inModules;
    version ??= json.version;
  }
  const script = env.get("npm_lifecycle_event");
  return dependencyOf("npm", name, version, script, manager);
}

/** The value of a `Key: value` line (PKG-INFO) or `key = "value"` (TOML, cfg). */
function field(text: string, pattern: RegExp): string | undefined {
  const value = pattern.exec(text)?.[1]?.trim();
  return value ? value.replace(/^["']|["']$/g, "") : undefined;
}

/** An unpacked sdist's name and version from its metadata files. */
function sdistMetadata(
  dir: string,
  read: FileReader,
): { name?: string; version?: string } {
  const pkgInfo = read(`${dir}/PKG-INFO`);
  if (pkgInfo) {
    const name = field(pkgInfo, /^Name:(.*)$/m);
    if (name) {
      return { name, version: field(pkgInfo, /^Version:(.*)$/m) };
    }
  }
  const pyproject = read(`${dir}/pyproject.toml`);
  if (pyproject) {
    const project = /^\[project\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(
      pyproject,
    )?.[1];
    const name = project && field(project, /^name\s*=(.*)$/m);
    if (name) {
      return { name, version: field(project!, /^version\s*=(.*)$/m) };
    }
  }
  const cfg = read(`${dir}/setup.cfg`);
  if (cfg) {
    const metadata = /^\[metadata\]\s*$([\s\S]*?)(?=^\[|(?![\s\S]))/m.exec(
      cfg,
    )?.[1];
    const name = metadata && field(metadata, /^name\s*=(.*)$/m);
    if (name) {
      return { name, version: field(metadata!, /^version\s*=(.*)$/m) };
    }
  }
  // `name-1.2.3` as unpacked, or pip's `name_<hash>`.
  const base = basename(dir);
  const versioned = /^(.+?)-(\d[^-]*)$/.exec(base);
  if (versioned) return { name: versioned[1], version: versioned[2] };
  return { name: base.replace(/_[0-9a-f]{8,}$/, "") };
}

/** The unpacked sdist a Python build runs in, and who unpacked it. */
function sdistDir(cwd: string): { dir: string; manager: string } | undefined {
  // pip: /tmp/pip-install-<rand>/<name>_<hash>, /tmp/pip-req-build-<rand>
  let match = /^(.*\/pip-install-[^/]+\/[^/]+)(?:\/|$)/.exec(cwd) ??
    /^(.*\/pip-req-build-[^/]+)(?:\/|$)/.exec(cwd);
  if (match) return { dir: match[1], manager: "pip" };
  // uv: <cache>/sdists-v<N>/…/<name>-<version> or builds-v<N>/…
  match = /^(.*\/(?:sdists|builds)-v\d+\/.+)$/.exec(cwd);
  if (match && /uv/.test(cwd)) return { dir: match[1], manager: "uv" };
  return undefined;
}

function pythonDependency(
  capture: DependencyCapture,
  read: FileReader,
): Dependency | undefined {
  const found = sdistDir(capture.cwd);
  if (!found) return undefined;
  const { name, version } = sdistMetadata(found.dir, read);
  if (!name) return undefined;
  return dependencyOf("pypi", name, version, "build", found.manager);
}

function cargoDependency(
  capture: DependencyCapture,
  context: ClassifyContext,
): Dependency | undefined {
  const match = /\/build\/([^/]+)-[0-9a-f]+\/build-script-[^/]+$/.exec(
    capture.path,
  );
  if (!match) return undefined;
  const env = capture.env;
  const manifest = env.get("CARGO_MANIFEST_DIR") ?? capture.cwd;
  // The workspace's own build scripts are not a dependency's: a package
  // outside the directory cargo runs in (the registry, git checkouts, a
  // path dependency elsewhere) is.
  const workspace = context.cwdOf(capture.ppid);
  if (
    workspace && (manifest === workspace ||
      manifest.startsWith(
        workspace.endsWith("/") ? workspace : `${workspace}/`,
      ))
  ) {
    return undefined;
  }
  return dependencyOf(
    "cargo",
    env.get("CARGO_PKG_NAME") ?? match[1].replace(/_/g, "-"),
    env.get("CARGO_PKG_VERSION"),
    "build.rs",
    "cargo",
  );
}

function gemDependency(capture: DependencyCapture): Dependency | undefined {
  const match = /\/gems\/([^/]+)-(\d[^/-]*)\/ext(?:\/|$)/.exec(capture.cwd);
  if (!match) return undefined;
  const manager = managerBase(capture.manager) === "bundle" ? "bundler" : "gem";
  return dependencyOf("gem", match[1], match[2], "extconf", manager);
}

/**
 * Names the package whose install or build script the captured process
 * runs, or undefined when it runs none (a package manager's other
 * children: git, node-gyp's compilers, the project's own scripts).
 */
export function classifyCapture(
  capture: DependencyCapture,
  context: ClassifyContext = defaultContext,
): Dependency | undefined {
  const base = managerBase(capture.manager);
  const env = capture.env;
  if (
    env.has("npm_lifecycle_event") || env.has("npm_package_json") ||
    NPM_MANAGERS.has(base) ||
    (base === "node" && nodeModulesPackage(capture.cwd))
  ) {
    const npm = npmDependency(capture, base, context.read);
    if (npm || env.has("npm_lifecycle_event")) return npm;
  }
  if (base === "cargo") return cargoDependency(capture, context);
  if (base === "pip" || base === "python" || base === "uv") {
    return pythonDependency(capture, context.read);
  }
  if (base === "gem" || base === "ruby" || base === "bundle") {
    return gemDependency(capture);
  }
  return undefined;
}

/** Called once per captured candidate: undefined when it is no script. */
export type DecideListener = (
  pid: number,
  dependency: Dependency | undefined,
) => void;

/** Captures kept for processes the tree does not know (yet). */
const MAX_ORPHANS = 1024;

type Holder = ProcessNode & { [key: symbol]: Dependency | null | undefined };

/** Keeps each process's dependency and adds it to events. */
export class DependencyTracker {
  readonly #tree: ProcessTree;
  readonly #context: ClassifyContext;
  readonly #listeners = new Set<DecideListener>();
  /** Symbol-keyed on the tree's nodes: JSON and Object.keys skip it. */
  readonly #key = Symbol("ringfence.dependency");
  /** None named yet: events need no look-up. */
  #any = false;

  /** @param context file and /proc readers (tests pass fakes). */
  constructor(tree: ProcessTree, context: ClassifyContext = defaultContext) {
    this.#tree = tree;
    this.#context = context;
  }

  /**
   * Calls `listener` once per captured candidate, after classification,
   * with the dependency it works for (its own, or inherited from the
   * script it descends from), or undefined when it is no install script
   * and descends from none. Returns a function that unsubscribes.
   */
  onDecide(listener: DecideListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /**
   * Classifies a capture and keeps its answer for the process; returns
   * (and tells the `onDecide` listeners) the dependency the process works
   * for: its own, or the one it descends from.
   */
  capture(capture: DependencyCapture): Dependency | undefined {
    let dependency: Dependency | undefined;
    try {
      dependency = classifyCapture(capture, this.#context);
    } catch {
      dependency = undefined;
    }
    const node = this.#tree.get(capture.pid) as Holder | undefined;
    const inherited = this.#any && node?.parent
      ? this.#ofNode(node.parent as Holder)
      : null;
    // Whatever a script runs is its doing, a nested install too: a
    // package it unpacks itself cannot take the blame.
    if (inherited) dependency = inherited;
    if (dependency) {
      if (node) {
        node[this.#key] = dependency;
        this.#any = true;
      } else {
        // Bounded: the oldest goes first (Map keeps insertion order).
        if (this.#orphans.size >= MAX_ORPHANS) {
          this.#orphans.delete(this.#orphans.keys().next().value!);
        }
        this.#orphans.set(capture.pid, dependency);
        this.#any = true;
      }
    }
    // What the process works for: its own package, else the one it
    // descends from (a script's `node` child is captured as nothing new).
    const effective = dependency ?? inherited ?? undefined;
    for (const listener of this.#listeners) {
      try {
        listener(capture.pid, effective);
      } catch { /* a listener's failure must not stop attribution */ }
    }
    return effective;
  }

  /** Captures whose process the tree did not know yet (a fork record lost). */
  readonly #orphans = new Map<number, Dependency>();

  /** The dependency a process descends from, if any. */
  dependencyOf(pid: number): Dependency | undefined {
    if (!this.#any) return undefined;
    const node = this.#tree.get(pid) as Holder | undefined;
    if (!node) return this.#orphans.get(pid);
    return this.#ofNode(node) ?? undefined;
  }

  #ofNode(node: Holder): Dependency | null {
    const known = node[this.#key];
    if (known !== undefined) return known;
    const orphan = this.#orphans.get(node.pid);
    if (orphan) {
      this.#orphans.delete(node.pid);
      return node[this.#key] = orphan;
    }
    // Up the tree to the nearest node decided; every node on the way
    // takes the answer, so each is walked once.
    const chain: Holder[] = [node];
    let found: Dependency | null = null;
    for (
      let current = node.parent as Holder | undefined;
      current;
      current = current.parent as Holder | undefined
    ) {
      const value = current[this.#key];
      if (value !== undefined) {
        found = value;
        break;
      }
      chain.push(current);
      if (chain.length > 256) break;
    }
    for (const link of chain) link[this.#key] = found;
    return found;
  }

  /**
   * Adds `dependency` to an event of a process that descends from one (a
   * file_integrity event: of its writer).
   */
  annotate(event: RingfenceEvent): void {
    if (!this.#any || event.type === "agent") return;
    // A file_integrity event's own fields are the agent's: its writer did it.
    const pid = event.type === "file_integrity" ? event.writer?.pid : event.pid;
    if (typeof pid !== "number") return;
    const dependency = this.dependencyOf(pid);
    if (dependency) {
      (event as { dependency?: Dependency }).dependency = dependency;
    }
  }
}
