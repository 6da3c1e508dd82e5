/**
 * The layering rules, checked over the import graph of the production code
 * (tests and benchmarks may import anything):
 *
 *   bpf/ → sensors/ → agent/ → report/, exporters/ → cli/ → main.ts
 *   policy/ is pure: it imports nothing outside itself but its YAML parser.
 *   web/ (the page's front end) imports sensors/ types and report/; only
 *   report/html.ts and scripts/ import web/.
 *
 * @module
 */

import assert from "node:assert/strict";
import { dirname, join, normalize, relative } from "node:path";

const ROOT = normalize(join(dirname(new URL(import.meta.url).pathname), ".."));

/** What each top-level directory may import, besides itself. */
const ALLOWED: Record<string, readonly string[]> = {
  sensors: ["bpf", "version.ts"],
  policy: ["node_modules"],
  agent: ["sensors", "policy", "version.ts"],
  report: ["sensors", "policy", "agent", "web", "version.ts"],
  web: ["sensors", "report"],
  exporters: ["sensors", "policy", "node_modules", "version.ts"],
  cli: [
    "sensors",
    "policy",
    "agent",
    "report",
    "exporters",
    "node_modules",
    "version.ts",
  ],
};

const SPECIFIER = /(?:from|import)\s*\(?\s*["'](\.{1,2}\/[^"']+)["']/g;

async function* productionFiles(dir: string): AsyncGenerator<string> {
  for await (const entry of Deno.readDir(join(ROOT, dir))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory) yield* productionFiles(path);
    else if (/\.ts$/.test(entry.name) && !/_test\.ts$/.test(entry.name)) {
      yield path;
    }
  }
}

/** Every relative import of `file`, as paths from the repository root. */
async function importsOf(file: string): Promise<string[]> {
  const text = await Deno.readTextFile(join(ROOT, file));
  return [...text.matchAll(SPECIFIER)].map((match) =>
    relative(ROOT, join(ROOT, dirname(file), match[1]))
  );
}

const top = (path: string) => path.split("/")[0];

Deno.test("each layer imports only the layers below it", async () => {
  const broken: string[] = [];
  for (const [layer, allowed] of Object.entries(ALLOWED)) {
    for await (const file of productionFiles(layer)) {
      for (const target of await importsOf(file)) {
        const to = top(target);
        if (to !== layer && !allowed.includes(to)) {
          broken.push(`${file} imports ${target}`);
        }
      }
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("nothing but main.ts imports cli/", async () => {
  const broken: string[] = [];
  for (const layer of [...Object.keys(ALLOWED), "tests", "bench", "scripts"]) {
    if (layer === "cli") continue;
    for await (const file of productionFiles(layer)) {
      for (const target of await importsOf(file)) {
        if (top(target) === "cli") broken.push(`${file} imports ${target}`);
      }
    }
  }
  assert.deepEqual(broken, []);
  for (const target of await importsOf("mod.ts")) {
    assert.notEqual(top(target), "cli", `mod.ts imports ${target}`);
  }
});

Deno.test("nothing but report/html.ts and scripts/ imports web/", async () => {
  const broken: string[] = [];
  for (const layer of [...Object.keys(ALLOWED), "bench"]) {
    if (layer === "web") continue;
    for await (const file of productionFiles(layer)) {
      if (file === join("report", "html.ts")) continue;
      for (const target of await importsOf(file)) {
        if (top(target) === "web") broken.push(`${file} imports ${target}`);
      }
    }
  }
  for (const name of ["main.ts", "mod.ts"]) {
    for (const target of await importsOf(name)) {
      if (top(target) === "web") broken.push(`${name} imports ${target}`);
    }
  }
  assert.deepEqual(broken, []);
});

Deno.test("the layering check sees a violation", async () => {
  const imports = await importsOf("agent/agent.ts");
  assert.ok(imports.some((path) => top(path) === "sensors"), imports.join());
  assert.ok(!ALLOWED.sensors.includes("policy"));
});
