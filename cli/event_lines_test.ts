import assert from "node:assert/strict";
import { forEachLine, LINE_MAX, openRegular } from "./event_lines.ts";

Deno.test("event lines: numbered across chunks, a last line without newline, long lines cut", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const long = "x".repeat(LINE_MAX + 10);
    // more than one read's chunk, a multi-byte character split by chunks
    const lines = Array.from({ length: 20000 }, (_, i) => `{"n":${i},"s":"é"}`);
    const path = `${dir}/events.jsonl`;
    await Deno.writeTextFile(
      path,
      [...lines, long, "", "last"].join("\n"),
    );
    const seen: [string, number][] = [];
    await forEachLine((await openRegular(path))!, (line, n) => {
      seen.push([line.length > 100 ? "long" : line, n]);
    });
    assert.deepEqual(seen.slice(0, 2), [[lines[0], 1], [lines[1], 2]]);
    assert.equal(seen[19999][0], lines[19999]);
    assert.ok(seen.every(([line]) => !line.includes("\uFFFD")));
    assert.deepEqual(seen.slice(-2), [["", seen.length - 1], [
      "last",
      seen.length,
    ]]);
    assert.ok(seen.filter(([line]) => line === "long").length >= 1);
    await Deno.symlink(path, `${dir}/link`);
    let said = "";
    assert.equal(await openRegular(`${dir}/link`, (p) => said = p), undefined);
    assert.equal(said, `${dir}/link`);
    assert.equal(await openRegular(`${dir}/absent`), undefined);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
