import assert from "node:assert/strict";
import { droppableMappings, parseSmaps } from "./memory.ts";

const SMAPS = `55d0c0000000-55d0c1000000 r--p 00000000 08:01 1234 /opt/deno
Size:              16384 kB
Rss:                8000 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0c1000000-55d0c4000000 r-xp 01000000 08:01 1234 /opt/deno
Size:              49152 kB
Rss:               20000 kB
Private_Dirty:      2048 kB
Anonymous:             0 kB
55d0c4000000-55d0c4100000 r--p 04000000 08:01 1234 /opt/deno
Size:               1024 kB
Rss:                1024 kB
Private_Dirty:      1024 kB
Anonymous:          1024 kB
55d0c4100000-55d0c4200000 rw-p 04100000 08:01 1234 /opt/deno
Size:               1024 kB
Rss:                 900 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
55d0c4200000-55d0c4300000 r-xp 00000000 08:01 99 /usr/lib/libc.so.6
Size:               1024 kB
Rss:                 500 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
7f0000000000-7f0000100000 r--p 00000000 00:00 0 
Size:               1024 kB
Rss:                   0 kB
Private_Dirty:         0 kB
Anonymous:             0 kB
`;

Deno.test("parseSmaps() reads ranges, permissions, paths and the deciding fields", () => {
  const mappings = parseSmaps(SMAPS);
  assert.equal(mappings.length, 6);
  assert.deepEqual(mappings[1], {
    start: 0x55d0c1000000n,
    end: 0x55d0c4000000n,
    permissions: "r-xp",
    path: "/opt/deno",
    rss: 20000,
    anonymous: 0,
  });
  assert.equal(mappings[5].path, "");
});

Deno.test("droppableMappings() takes only clean read-only mappings of the file", () => {
  const dropped = droppableMappings(parseSmaps(SMAPS), "/opt/deno");
  // The one whose file pages are dirty (a fresh install, not yet written
  // back) is the file all the same; not the relocated one (anonymous
  // pages), the writable one, or libc's.
  assert.deepEqual(dropped.map((mapping) => mapping.permissions), [
    "r--p",
    "r-xp",
  ]);
});

/**
 * Runs `drop` (an export of memory.ts) in a fresh Deno, then work that
 * needs the dropped code back; its RssFile before and after, in kB.
 */
async function dropInFreshDeno(drop: string) {
  const script = `
    import { ${drop} } from ${
    JSON.stringify(new URL("./memory.ts", import.meta.url).href)
  };
    const rssFile = () => Number(Deno.readTextFileSync("/proc/self/status").match(/RssFile:\\s+(\\d+)/)[1]);
    const before = rssFile();
    const dropped = ${drop}();
    const after = rssFile();
    // Code that has to come back from the file runs as before.
    const data = JSON.parse(JSON.stringify({ list: Array.from({ length: 1000 }, (_, i) => i * 2) }));
    console.log(JSON.stringify({ before, dropped, after, sum: data.list.reduce((a, b) => a + b, 0) }));
  `;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["eval", script],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(output.success, new TextDecoder().decode(output.stderr));
  const result = JSON.parse(new TextDecoder().decode(output.stdout));
  assert.equal(result.sum, 999_000);
  return result as { before: number; dropped: number; after: number };
}

Deno.test("dropStartupPages() shrinks a running Deno's resident set and it runs on", async () => {
  const result = await dropInFreshDeno("dropStartupPages");
  assert.ok(result.dropped > 5_000, `dropped ${result.dropped} kB`);
  assert.ok(
    result.after < result.before - result.dropped / 2,
    `RssFile ${result.before} kB -> ${result.after} kB (dropped ${result.dropped} kB)`,
  );
});

Deno.test("dropStartupCode() drops the executable's code from a running Deno, which runs on", async () => {
  const result = await dropInFreshDeno("dropStartupCode");
  assert.ok(result.dropped >= 1, `${result.dropped} code mappings dropped`);
  assert.ok(
    result.after < result.before - 5_000,
    `RssFile ${result.before} kB -> ${result.after} kB`,
  );
});

Deno.test("parseSmaps() reads /proc/self/maps too, with the fields at 0", () => {
  const maps = SMAPS.split("\n").filter((line) => !/^\w+:/.test(line))
    .join("\n");
  const mappings = parseSmaps(maps);
  assert.deepEqual(
    mappings.map((mapping) => [mapping.permissions, mapping.rss]),
    [["r--p", 0], ["r-xp", 0], ["r--p", 0], ["rw-p", 0], ["r-xp", 0], [
      "r--p",
      0,
    ]],
  );
});
