/**
 * One line per block or kill, as it happens: which events are blocks,
 * kills, or (audit mode) would-be ones, the line that names what, which
 * process, step and package, the GitHub workflow command (`::error`) that
 * annotates the job with it, and the limits that keep a loop from flooding
 * the log. Pure: `ringfence run` prints the lines as events come, and
 * `ringfence stop` from the events file.
 *
 * ```text
 * ringfence: BLOCKED connect 1.1.1.1:443 (not in allow list) by /usr/bin/node pid 4242, step "npm install", package evil@1.0.0 (postinstall)
 * ringfence: KILLED /usr/bin/nc pid 77 (process.deny "/usr/bin/nc"), step "build"
 * ```
 *
 * @module
 */

import type { RingfenceEvent } from "../sensors/events.ts";
import type { GuardEvent } from "../sensors/guard_event.ts";
import { endpoint } from "../policy/endpoint.ts";
import { describeDependency } from "./dependency.ts";
import { describeGuard, isStopRequest } from "./guard.ts";
import { describePrimitive } from "./privileged.ts";

/** What happened: done in block mode, or what block mode would do. */
export type AlertAction = "BLOCKED" | "KILLED" | "WOULD BLOCK" | "WOULD KILL";

/** A block or kill (or a would-be one), in words. */
export interface Alert {
  /** What ringfence did, or would do in block mode. */
  action: AlertAction;
  /** What was stopped, e.g. `connect 1.1.1.1:443`, `exec /usr/bin/nc`. */
  what: string;
  /** Why, e.g. `not in allow list`, `process.deny "/usr/bin/nc"`. */
  why?: string;
  /** The process: its executable, else its command name. */
  process: string;
  /** Its pid. */
  pid: number;
  /** The CI step, when known. */
  step?: string;
  /** The package whose install script it descends from, when it does. */
  package?: string;
  /** Same process, same action, same thing: repeats share it. */
  key: string;
}

/** A sensor's reason in words: `not_in_allow_list` → `not in allow list`. */
function words(reason: string | undefined): string | undefined {
  return reason ? reason.replace(/_/g, " ") : undefined;
}

/** The loosest shape of an event this module reads. */
type Loose = RingfenceEvent & Record<string, unknown>;

/**
 * The alert an event is, or undefined when it is none: a refused or
 * audited network action, anything killed, a denied exec, a protected
 * file's denial, a guard event. Unknown types and reasons are handled by
 * their verdict and `killed`. `processOf` gives a pid's executable when the
 * event carries none (the agent's process tree).
 */
export function classify(
  input: RingfenceEvent,
  processOf?: (pid: number) => string | undefined,
): Alert | undefined {
  const event = input as Loose;
  if (event.type === "agent" || event.type === "file_integrity") {
    return undefined;
  }
  if (isStopRequest(event)) return undefined;
  const killed = event.killed === true;
  const verdict = typeof event.verdict === "string" ? event.verdict : "";
  const action = actionOf(event, killed, verdict);
  if (!action) return undefined;
  const { what, why } = describe(event);
  const process = (typeof event.exe === "string" && event.exe) ||
    processOf?.(event.pid) || execFile(event) || event.comm;
  const alert: Alert = {
    action,
    what,
    process,
    pid: event.pid,
    key: [action, process, what].join("\0"),
  };
  if (why) alert.why = why;
  if (event.step?.name) alert.step = event.step.name;
  const pkg = describeDependency(event.dependency);
  if (pkg) alert.package = pkg;
  return alert;
}

/** The action an event stands for, if it is a block or a kill. */
function actionOf(
  event: Loose,
  killed: boolean,
  verdict: string,
): AlertAction | undefined {
  if (killed) return "KILLED";
  // The process sensor enforces by killing only: a denied program, a
  // guard's catch, an untracked process.
  const killOnly = event.type === "process_event";
  if (killOnly && event.action === "killed") return "KILLED";
  if (killOnly && event.action === "audit") return "WOULD KILL";
  if (verdict === "deny") return killOnly ? "KILLED" : "BLOCKED";
  if (verdict === "audit") return killOnly ? "WOULD KILL" : "WOULD BLOCK";
  return undefined;
}

/** The executable a process event names. */
function execFile(event: Loose): string | undefined {
  if (event.type !== "process_event") return undefined;
  const file = event.file ?? event.path;
  return typeof file === "string" && file ? file : undefined;
}

/** What was stopped and why, per event type. */
function describe(event: Loose): { what: string; why?: string } {
  if (event.type === "network_event") {
    const target = endpoint(event.daddr, event.dport);
    switch (event.kind) {
      case "dns":
        return {
          what: `DNS query ${
            event.query ??
              (event.query_truncated ? "(name too long)" : "(unreadable)")
          }${event.qtype ? ` ${event.qtype}` : ""} to ${target}`,
          why: words(event.reason),
        };
      case "socket":
        return { what: describePrimitive(event), why: words(event.reason) };
      default: {
        const name = event.query ? `${event.query} ` : "";
        const protocol = event.kind === "send" ? `${event.protocol} ` : "";
        return {
          what: `${event.kind} ${protocol}${name}${target}`,
          why: words(event.reason),
        };
      }
    }
  }
  if (event.type === "process_event") {
    if (event.kind === "exec") {
      const file = execFile(event) ?? event.comm;
      return {
        what: `exec ${file}`,
        why: event.rule !== undefined
          ? `process.deny ${JSON.stringify(event.rule)}`
          : words(event.reason as string | undefined),
      };
    }
    if (event.kind === "untracked") {
      return { what: "untracked process", why: "the scope map was full" };
    }
    if (
      event.kind === "memory_access" || event.kind === "bpf" ||
      event.kind === "signal"
    ) {
      const guard = event as unknown as GuardEvent;
      const target = guard.target
        ? ` to ${guard.target.comm || "?"} (pid ${guard.target.pid}, ${
          guard.target.outside_scope ? "outside the scope" : guard.target.role
        })`
        : "";
      const rule = guard.kind === "memory_access"
        ? "runner.memory"
        : guard.kind === "bpf"
        ? "runner.bpf"
        : "signal to the agent or a scope root";
      return { what: `${describeGuard(guard)}${target}`, why: rule };
    }
  }
  if (event.type === "file_system_event") {
    const path = event.new_path
      ? `${event.path} → ${event.new_path}`
      : event.path;
    return { what: `${event.kind} ${path}`, why: event.reason };
  }
  // A type or kind this module does not know: its own words.
  const subject = [event.path, event.daddr].find((value) =>
    typeof value === "string" && value
  );
  return {
    what: `${event.type} ${event.kind}${subject ? ` ${subject}` : ""}`,
    why: words(typeof event.reason === "string" ? event.reason : undefined),
  };
}

/**
 * Control characters as escapes: a path or a DNS name comes from the job,
 * and a newline in it must not start a line of its own in the log (where
 * the runner would read a workflow command).
 */
function oneLine(text: string): string {
  return text.replace(
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f]/g,
    (char) => `\\x${char.charCodeAt(0).toString(16).padStart(2, "0")}`,
  );
}

/**
 * The alert's sentence, without the `ringfence: ` prefix; `repeated`
 * says the pid is that of the first of several.
 */
export function alertText(alert: Alert, repeated = false): string {
  const pid = `${repeated ? "first pid" : "pid"} ${alert.pid}`;
  const why = alert.why ? ` (${alert.why})` : "";
  let head: string;
  if (alert.action === "KILLED" || alert.action === "WOULD KILL") {
    // A denied exec is the process itself: the rule says the rest.
    const what = alert.what === `exec ${alert.process}` ? [] : [alert.what];
    const inner = [...what, ...(alert.why ? [alert.why] : [])].join(": ");
    head = `${alert.action} ${alert.process} ${pid}${
      inner ? ` (${inner})` : ""
    }`;
  } else {
    head = `${alert.action} ${alert.what}${why} by ${alert.process} ${pid}`;
  }
  const step = alert.step ? `, step ${JSON.stringify(alert.step)}` : "";
  const pkg = alert.package ? `, package ${alert.package}` : "";
  return oneLine(`${head}${step}${pkg}`);
}

/** The stderr line of an alert. */
export function formatAlert(alert: Alert): string {
  return `ringfence: ${alertText(alert)}`;
}

/** A workflow command's message, escaped as GitHub's toolkit does. */
export function escapeData(text: string): string {
  return text.replace(/%/g, "%25").replace(/\r/g, "%0D").replace(/\n/g, "%0A");
}

/** A workflow command's property value, escaped as GitHub's toolkit does. */
export function escapeProperty(text: string): string {
  return escapeData(text).replace(/:/g, "%3A").replace(/,/g, "%2C");
}

/** `::error title=TITLE::MESSAGE`, escaped. */
export function errorCommand(title: string, message: string): string {
  return `::error title=${escapeProperty(title)}::${escapeData(message)}`;
}

/** The `::error` workflow command of an alert. */
export function annotation(alert: Alert): string {
  return errorCommand(
    `ringfence ${alert.action.toLowerCase()}`,
    alertText(alert),
  );
}

/**
 * Error annotations GitHub shows per step: the limiter keeps one below
 * it for the summarising annotation.
 */
export const ANNOTATIONS_MAX = 10;

/** Distinct lines printed before the rest only counts. */
export const LINES_MAX = 50;

/** What the limiter says to print for one event. */
export interface AlertOutput {
  /** The stderr line, when this alert is printed. */
  line?: string;
  /** The `::error` command, when annotations are on and any are left. */
  annotation?: string;
  /** Said once, when the line limit is reached. */
  notice?: string;
}

/**
 * Lets each distinct alert (same action, process and thing) through once,
 * counts its repeats, and stops printing new ones past `lines` and
 * annotating past `annotations - 1`: a loop cannot flood the log, and the
 * end says what was held back.
 */
export class AlertLimiter {
  readonly #repeats = new Map<string, { alert: Alert; count: number }>();
  readonly #lines: number;
  readonly #annotations: number;
  #printed = 0;
  #annotated = 0;
  #held = 0;
  #notAnnotated = 0;
  #total = 0;

  /** With `annotations` 0 no workflow command is made. */
  constructor(
    options: { lines?: number; annotations?: number } = {},
  ) {
    this.#lines = options.lines ?? LINES_MAX;
    this.#annotations = options.annotations ?? 0;
  }

  /** Alerts seen, repeats included. */
  get total(): number {
    return this.#total;
  }

  /** What to print for `alert`, now. */
  add(alert: Alert): AlertOutput {
    this.#total++;
    const seen = this.#repeats.get(alert.key);
    if (seen) {
      seen.count++;
      return {};
    }
    // Distinct alerts are remembered up to a bound; past it they are
    // counted only.
    if (this.#repeats.size < 10 * this.#lines) {
      this.#repeats.set(alert.key, { alert, count: 0 });
    }
    const out: AlertOutput = {};
    if (this.#printed < this.#lines) {
      this.#printed++;
      out.line = formatAlert(alert);
    } else {
      if (this.#held === 0) {
        out.notice =
          `ringfence: more than ${this.#lines} different blocks and kills: the rest are counted at the end`;
      }
      this.#held++;
    }
    if (this.#annotations > 0) {
      if (this.#annotated < this.#annotations - 1) {
        this.#annotated++;
        out.annotation = annotation(alert);
      } else this.#notAnnotated++;
    }
    return out;
  }

  /**
   * The closing lines: the repeats of each printed alert, what was held
   * back, and where all of them are (`where`, e.g. the events file).
   */
  endLines(where?: string): string[] {
    const lines: string[] = [];
    const repeated = [...this.#repeats.values()].filter((entry) => entry.count)
      .sort((a, b) => b.count - a.count);
    for (const { alert, count } of repeated.slice(0, 20)) {
      lines.push(
        `ringfence: ${count} more ${count === 1 ? "time" : "times"}: ${
          alertText(alert, true)
        }`,
      );
    }
    if (repeated.length > 20) {
      lines.push(
        `ringfence: ${repeated.length - 20} more alerts repeated`,
      );
    }
    if (this.#held) {
      lines.push(
        `ringfence: ${this.#held} different blocks and kills not shown${
          where ? `; all are in ${where}` : ""
        }`,
      );
    }
    return lines;
  }

  /** The summarising annotation, when some alerts were not annotated. */
  endAnnotation(where?: string): string | undefined {
    if (!this.#notAnnotated) return undefined;
    return errorCommand(
      "ringfence: more blocks and kills",
      `${this.#notAnnotated} more different blocks and kills than annotated here (${this.#total} in all, repeats included)${
        where ? `; all are in ${where}` : ""
      }, and in the job summary`,
    );
  }
}
