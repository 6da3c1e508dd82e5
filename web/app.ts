/// <reference lib="dom" />
/// <reference lib="dom.iterable" />
/// <reference lib="dom.asynciterable" />
/**
 * The page of a job: plain DOM, no framework. Static: renders the JobData
 * in `<script id="ringfence-data" type="application/json">`. Live: when
 * `<meta name="ringfence-live" content="/events">` is present, reads the
 * event stream with the bearer token from `location.hash` (`#token=...`),
 * feeds a JobModel and re-renders, throttled.
 *
 * @module
 */

import {
  type Activity,
  type EgressRow,
  type FileRow,
  type JobData,
  JobModel,
  type ProcessNode,
} from "./model.ts";
import type { RingfenceEvent } from "../sensors/events.ts";

type Child = Node | string | undefined | false;

/** Makes an element with attributes and children. */
function h(
  tag: string,
  attributes: Record<string, string | undefined> = {},
  ...children: Child[]
): HTMLElement {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value !== undefined) element.setAttribute(name, value);
  }
  for (const child of children) {
    if (child === undefined || child === false) continue;
    element.append(child);
  }
  return element;
}

/** A verdict as a badge: text and color, not color alone. */
function badge(verdict: string | undefined): Child {
  if (!verdict || verdict === "allow") return undefined;
  const text = verdict === "deny"
    ? "BLOCKED"
    : verdict === "audit"
    ? "WOULD BLOCK"
    : verdict.toUpperCase();
  return h("span", { class: `badge badge-${verdict}` }, text);
}

/** What the page remembers across re-renders. */
const state = {
  data: undefined as JobData | undefined,
  expanded: new Set<number>(),
  egressSort: { column: "count", descending: true },
  fileSort: { column: "count", descending: true },
  egressFilter: "",
  fileFilter: "",
  search: "",
};

function header(data: JobData): HTMLElement {
  const { header, counts } = data;
  const policy = header.policy
    ? `${header.policy.path}${
      header.policy.sha256
        ? ` (sha256 ${header.policy.sha256.slice(0, 12)})`
        : ""
    }`
    : "not recorded";
  const item = (label: string, value: string, cls?: string) =>
    h(
      "div",
      { class: `stat ${cls ?? ""}` },
      h("dt", {}, label),
      h("dd", {}, value),
    );
  return h(
    "dl",
    { class: "stats" },
    item("Mode", header.mode ?? "not recorded"),
    item("Policy", policy),
    item(
      "Agent",
      header.intact
        ? "intact"
        : `TAMPERED: ${header.integrityReasons.join("; ")}`,
      header.intact ? "ok" : "bad",
    ),
    item("Events", String(counts.events)),
    item("Processes", String(counts.processes)),
    item("Blocked", String(counts.denied), counts.denied ? "bad" : undefined),
    item(
      "Would block",
      String(counts.audit),
      counts.audit ? "warn" : undefined,
    ),
    item("Killed", String(counts.killed), counts.killed ? "bad" : undefined),
    item("Connections", String(counts.connections)),
    item("File changes", String(counts.fileChanges)),
    header.first ? item("From", header.first.slice(0, 23)) : undefined,
    header.last ? item("To", header.last.slice(0, 23)) : undefined,
  );
}

function marks(node: ProcessNode): Child[] {
  return [
    node.killed && h("span", { class: "badge badge-deny" }, "KILLED"),
    node.blocked && !node.killed &&
    h("span", { class: "badge badge-deny" }, "BLOCKED"),
  ];
}

function activityList(list: Activity[], omitted: number): HTMLElement {
  return h(
    "ul",
    { class: "activity" },
    ...list.map((activity) =>
      h(
        "li",
        { class: activity.verdict ? `v-${activity.verdict}` : undefined },
        h("time", {}, activity.time.slice(11, 23)),
        " ",
        activity.text,
        " ",
        badge(activity.verdict),
      )
    ),
    omitted > 0 && h("li", { class: "omitted" }, `… ${omitted} more`),
  );
}

function processLine(node: ProcessNode): HTMLElement {
  const label = node.command ?? node.comm;
  return h(
    "span",
    { class: "proc" },
    h("code", { class: "cmd" }, label),
    " ",
    h("span", { class: "meta" }, `pid ${node.pid}`),
    node.step && h("span", { class: "meta" }, `step: ${node.step}`),
    node.package &&
      h("span", { class: "meta pkg" }, `package: ${node.package}`),
    node.exit && h("span", { class: "meta" }, node.exit),
    ...marks(node),
    node.why && (node.blocked || node.killed) &&
      h("span", { class: "why" }, node.why),
  );
}

function treeNode(
  node: ProcessNode,
  children: Map<number, ProcessNode[]>,
): HTMLElement {
  const kids = children.get(node.id) ?? [];
  const expanded = state.expanded.has(node.id);
  const item = h("li", {
    class: node.killed || node.blocked ? "node flagged" : "node",
    "data-pid": String(node.pid),
  });
  const row = h("div", { class: "row" });
  if (kids.length) {
    const button = h("button", {
      type: "button",
      class: "toggle",
      "aria-expanded": String(expanded),
      "aria-label": `${
        expanded ? "Collapse" : "Expand"
      } ${node.comm} (pid ${node.pid}), ${kids.length} children`,
    }, expanded ? "▾" : "▸");
    button.addEventListener("click", () => {
      if (state.expanded.has(node.id)) state.expanded.delete(node.id);
      else state.expanded.add(node.id);
      item.replaceWith(treeNode(node, children));
      (document.querySelector(
        `li[data-pid="${node.pid}"] > .row > .toggle`,
      ) as HTMLElement | null)?.focus();
    });
    row.append(button);
  } else row.append(h("span", { class: "leaf", "aria-hidden": "true" }, "•"));
  row.append(processLine(node));
  item.append(row);
  if (node.activity.length) {
    item.append(h(
      "details",
      { class: "did" },
      h(
        "summary",
        {},
        `What it did (${node.activity.length + node.activityOmitted})`,
      ),
      activityList(node.activity, node.activityOmitted),
    ));
  }
  if (kids.length && expanded) {
    item.append(h(
      "ul",
      { role: "group" },
      ...kids.map((kid) => treeNode(kid, children)),
    ));
  }
  return item;
}

function childrenOf(data: JobData): Map<number, ProcessNode[]> {
  const children = new Map<number, ProcessNode[]>();
  for (const node of data.processes) {
    if (node.parent === undefined) continue;
    const list = children.get(node.parent) ?? [];
    list.push(node);
    children.set(node.parent, list);
  }
  return children;
}

function tree(data: JobData): HTMLElement {
  const children = childrenOf(data);
  const roots = data.processes.filter((node) => node.parent === undefined);
  const expandAll = h("button", { type: "button" }, "Expand all");
  expandAll.addEventListener("click", () => {
    for (const node of data.processes) state.expanded.add(node.id);
    render();
  });
  const collapseAll = h("button", { type: "button" }, "Collapse all");
  collapseAll.addEventListener("click", () => {
    state.expanded.clear();
    render();
  });
  return h(
    "div",
    {},
    h("div", { class: "tools" }, expandAll, " ", collapseAll),
    h(
      "ul",
      { class: "tree", "aria-label": "Process tree" },
      ...roots.map((root) => treeNode(root, children)),
    ),
    data.omitted.processes > 0 &&
      h(
        "p",
        { class: "omitted" },
        `${data.omitted.processes} more processes not shown`,
      ),
  );
}

function flagged(data: JobData): HTMLElement {
  const list = data.processes.filter((node) => node.killed || node.blocked);
  if (!list.length) return h("p", {}, "Nothing was blocked or killed.");
  return h(
    "ul",
    { class: "flagged-list" },
    ...list.map((node) => h("li", {}, processLine(node))),
  );
}

interface Column<Row> {
  key: string;
  label: string;
  value: (row: Row) => string | number;
  cell?: (row: Row) => Child;
}

function table<Row>(
  id: string,
  rows: Row[],
  columns: Column<Row>[],
  sort: { column: string; descending: boolean },
  filter: string,
): HTMLElement {
  const needle = filter.trim().toLowerCase();
  const shown = rows.filter((row) =>
    !needle ||
    columns.some((column) =>
      String(column.value(row)).toLowerCase().includes(needle)
    )
  );
  const by = columns.find((column) => column.key === sort.column) ??
    columns[0];
  shown.sort((a, b) => {
    const x = by.value(a), y = by.value(b);
    const order = typeof x === "number" && typeof y === "number"
      ? x - y
      : String(x).localeCompare(String(y));
    return sort.descending ? -order : order;
  });
  const head = h(
    "tr",
    {},
    ...columns.map((column) => {
      const active = column.key === sort.column;
      const button = h(
        "button",
        { type: "button", class: "sort" },
        column.label,
        active ? (sort.descending ? " ↓" : " ↑") : "",
      );
      button.addEventListener("click", () => {
        if (sort.column === column.key) sort.descending = !sort.descending;
        else {
          sort.column = column.key;
          sort.descending = false;
        }
        render();
        (document.querySelector(
          `#${id} th[data-key="${column.key}"] button`,
        ) as HTMLElement | null)?.focus();
      });
      return h("th", {
        scope: "col",
        "data-key": column.key,
        "aria-sort": active
          ? (sort.descending ? "descending" : "ascending")
          : undefined,
      }, button);
    }),
  );
  return h(
    "div",
    { class: "table-wrap" },
    h(
      "p",
      { class: "count", "aria-live": "polite" },
      `${shown.length} of ${rows.length} rows`,
    ),
    h(
      "table",
      { id },
      h("thead", {}, head),
      h(
        "tbody",
        {},
        ...shown.map((row) =>
          h(
            "tr",
            {},
            ...columns.map((column) =>
              h(
                "td",
                {},
                column.cell ? column.cell(row) : String(column.value(row)),
              )
            ),
          )
        ),
      ),
    ),
  );
}

function verdictText(row: EgressRow): string {
  return Object.entries(row.verdicts).map(([verdict, count]) =>
    `${
      verdict === "deny"
        ? "blocked"
        : verdict === "audit"
        ? "would block"
        : "allowed"
    } ${count}`
  ).join(", ");
}

const EGRESS_COLUMNS: Column<EgressRow>[] = [
  { key: "domain", label: "Domain", value: (row) => row.domain ?? "" },
  { key: "address", label: "Address", value: (row) => row.address },
  { key: "port", label: "Port", value: (row) => row.port },
  { key: "protocol", label: "Protocol", value: (row) => row.protocol },
  { key: "count", label: "Count", value: (row) => row.count },
  {
    key: "verdicts",
    label: "Verdicts",
    value: verdictText,
    cell: (row) =>
      h(
        "span",
        {},
        verdictText(row),
        " ",
        badge(
          row.verdicts.deny ? "deny" : row.verdicts.audit ? "audit" : undefined,
        ),
      ),
  },
  { key: "steps", label: "Steps", value: (row) => row.steps.join(", ") },
  {
    key: "processes",
    label: "Processes",
    value: (row) => [...row.processes, ...row.packages].join(", "),
  },
];

const FILE_COLUMNS: Column<FileRow>[] = [
  { key: "path", label: "Path", value: (row) => row.path },
  { key: "kind", label: "Change", value: (row) => row.kind },
  { key: "process", label: "Process", value: (row) => row.process },
  { key: "step", label: "Step", value: (row) => row.step ?? "" },
  { key: "package", label: "Package", value: (row) => row.package ?? "" },
  {
    key: "verdict",
    label: "Verdict",
    value: (row) => row.verdict,
    cell: (row) => h("span", {}, row.verdict, " ", badge(row.verdict)),
  },
  {
    key: "tamper",
    label: "Tampering",
    value: (row) => (row.tamper ? "yes" : "no"),
  },
  { key: "count", label: "Count", value: (row) => row.count },
];

function timeline(data: JobData): HTMLElement {
  return h(
    "ol",
    { class: "timeline" },
    ...data.steps.map((step) =>
      h(
        "li",
        {},
        h(
          "details",
          {},
          h(
            "summary",
            {},
            h("strong", {}, step.name),
            ` ${step.first.slice(11, 23)} – ${
              step.last.slice(11, 23)
            }, ${step.count} events`,
            step.blocked > 0 &&
              h(
                "span",
                { class: "badge badge-deny" },
                `${step.blocked} BLOCKED`,
              ),
          ),
          activityList(step.events, step.omitted),
        ),
      )
    ),
  );
}

function searchResults(data: JobData, query: string): HTMLElement {
  const needle = query.trim().toLowerCase();
  if (!needle) return h("div", {});
  const hits: [string, string][] = [];
  const add = (kind: string, text: string | undefined) => {
    if (text && text.toLowerCase().includes(needle) && hits.length < 200) {
      hits.push([kind, text]);
    }
  };
  for (const node of data.processes) {
    add("command", `${node.command ?? node.comm} (pid ${node.pid})`);
  }
  const domains = new Set<string>();
  for (const row of data.egress) {
    if (row.domain && !domains.has(row.domain)) {
      domains.add(row.domain);
      add("domain", row.domain);
    }
    add("address", `${row.address}:${row.port}`);
  }
  for (const row of data.files) add("path", row.path);
  return h(
    "div",
    {},
    h("p", { "aria-live": "polite" }, `${hits.length} matches`),
    h(
      "ul",
      { class: "results" },
      ...hits.map(([kind, text]) =>
        h(
          "li",
          {},
          h("span", { class: "meta" }, kind),
          " ",
          h("code", {}, text),
        )
      ),
    ),
  );
}

function suggested(data: JobData): HTMLElement {
  if (!data.suggestedPolicy) {
    return h("p", {}, "No suggested policy was given with this report.");
  }
  const text = data.suggestedPolicy;
  const status = h("span", { role: "status", class: "meta" });
  const copy = h("button", { type: "button" }, "Copy policy");
  copy.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(text);
      status.textContent = "Copied.";
    } catch {
      // No clipboard API (insecure context): select the text to copy by hand.
      const selection = getSelection();
      const range = document.createRange();
      range.selectNodeContents(pre);
      selection?.removeAllRanges();
      selection?.addRange(range);
      status.textContent = "Selected: press Ctrl+C to copy.";
    }
  });
  const pre = h("pre", { class: "policy", tabindex: "0" }, text);
  return h("div", {}, h("div", { class: "tools" }, copy, " ", status), pre);
}

/** Containers filled by render(); inputs live outside them. */
const slots: Record<string, HTMLElement> = {};

function section(id: string, title: string, ...before: Child[]): HTMLElement {
  const slot = h("div", { class: "slot" });
  slots[id] = slot;
  return h(
    "section",
    { id, "aria-labelledby": `${id}-h` },
    h("h2", { id: `${id}-h` }, title),
    ...before,
    slot,
  );
}

function input(
  id: string,
  label: string,
  onInput: (value: string) => void,
): HTMLElement {
  const field = h("input", { id, type: "search", autocomplete: "off" });
  field.addEventListener("input", () => {
    onInput((field as HTMLInputElement).value);
    render();
  });
  return h("div", { class: "field" }, h("label", { for: id }, label), field);
}

function layout(root: HTMLElement): void {
  root.replaceChildren(
    h(
      "header",
      {},
      h("h1", {}, document.title || "ringfence job"),
      h("p", { id: "live-status", class: "meta", role: "status" }),
    ),
    h(
      "nav",
      { "aria-label": "Sections" },
      ...[
        ["summary", "Summary"],
        ["search", "Search"],
        ["tree", "Processes"],
        ["egress", "Egress"],
        ["files", "Files"],
        ["timeline", "Steps"],
        ["policy", "Suggested policy"],
      ].map(([id, label]) => h("a", { href: `#${id}` }, label)),
    ),
    h(
      "main",
      {},
      section("summary", "Summary"),
      section("flagged", "Blocked and killed"),
      section(
        "search",
        "Search",
        input(
          "search-input",
          "Search command lines, domains and paths",
          (value) => {
            state.search = value;
          },
        ),
      ),
      section("tree", "Process tree"),
      section(
        "egress",
        "Egress",
        input("egress-filter", "Filter destinations", (value) => {
          state.egressFilter = value;
        }),
      ),
      section(
        "files",
        "File changes and tampering",
        input("files-filter", "Filter files", (value) => {
          state.fileFilter = value;
        }),
      ),
      section("timeline", "Steps"),
      section("policy", "Suggested policy"),
    ),
  );
}

/** Renders the current data into the slots. */
function render(): void {
  const data = state.data;
  if (!data) return;
  slots.summary.replaceChildren(header(data));
  slots.flagged.replaceChildren(flagged(data));
  slots.search.replaceChildren(searchResults(data, state.search));
  slots.tree.replaceChildren(tree(data));
  slots.egress.replaceChildren(
    table(
      "egress-table",
      data.egress,
      EGRESS_COLUMNS,
      state.egressSort,
      state.egressFilter,
    ),
    data.omitted.egress > 0
      ? h(
        "p",
        { class: "omitted" },
        `${data.omitted.egress} more destinations not shown`,
      )
      : "",
  );
  slots.files.replaceChildren(
    table(
      "files-table",
      data.files,
      FILE_COLUMNS,
      state.fileSort,
      state.fileFilter,
    ),
    data.omitted.files > 0
      ? h(
        "p",
        { class: "omitted" },
        `${data.omitted.files} more file rows not shown`,
      )
      : "",
  );
  slots.timeline.replaceChildren(timeline(data));
  slots.policy.replaceChildren(suggested(data));
}

/** Reads the live stream (SSE or JSON lines) into a model. */
async function live(path: string): Promise<void> {
  const status = document.getElementById("live-status")!;
  const token = new URLSearchParams(location.hash.slice(1)).get("token") ?? "";
  const model = new JobModel();
  state.data = model.data();
  render();
  let pending = false;
  const schedule = () => {
    if (pending) return;
    pending = true;
    setTimeout(() => {
      pending = false;
      state.data = model.data();
      render();
    }, 500);
  };
  const response = await fetch(path, {
    headers: {
      Authorization: `Bearer ${token}`,
      Accept: "text/event-stream",
    },
  });
  if (!response.ok || !response.body) {
    status.textContent = `Live: the agent answered ${response.status}` +
      (response.status === 401 ? " (open the URL with #token=...)" : "");
    return;
  }
  status.textContent = "Live: connected";
  const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = "";
  let count = 0;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buffer += value;
    const lines = buffer.split("\n");
    buffer = lines.pop() ?? "";
    for (const line of lines) {
      const json = line.startsWith("data:")
        ? line.slice(5).trim()
        : line.trim();
      if (!json.startsWith("{")) continue;
      try {
        model.add(JSON.parse(json) as RingfenceEvent);
        count++;
      } catch {
        // A line cut by the stream's end: nothing to show.
      }
    }
    status.textContent = `Live: connected, ${count} events`;
    schedule();
  }
  status.textContent = `Live: the stream ended after ${count} events`;
  schedule();
}

function main(): void {
  const root = document.getElementById("app") ?? document.body;
  layout(root);
  const meta = document.querySelector(
    'meta[name="ringfence-live"]',
  ) as HTMLMetaElement | null;
  if (meta) {
    live(meta.content).catch((error) => {
      document.getElementById("live-status")!.textContent = `Live: ${
        (error as Error).message
      }`;
    });
    return;
  }
  const script = document.getElementById("ringfence-data");
  state.data = JSON.parse(script?.textContent ?? "null") as JobData;
  render();
}

main();
