import assert from "node:assert/strict";
import { BpfObject } from "../sensors/bpf_object.ts";
import { mapLookup, mapUpdate } from "../sensors/libbpf.ts";
import { random, thisThread, trigger } from "./helpers/fixture.ts";
import { kernelTest, ROOT } from "./helpers/kernel.ts";

// bpf/fixtures/path_scan.bpf.c: struct input { u32 tid, start, len, pad;
// char path[FS_PATH_MAX]; } and struct output { u32 odd, name_at, scans,
// pad; }, scanned by lib/path.h's path_scan() at each getppid() of tid.
const FS_PATH_MAX = 1024;
const INPUT_HEADER = 16;
const SLASH = 0x2f;
const DOT = 0x2e;

/** What the scan must find: a character at a time, as the kernel resolves. */
function expected(
  path: Uint8Array,
  start: number,
  len: number,
): { odd: boolean; nameAt: number } {
  let [p1, p2, p3] = [0, 0, 0];
  let odd = false;
  let lastSlash = 0;
  for (let index = start; index <= len; index++) {
    const c = index === len ? 0 : path[index];
    if (c === SLASH || c === 0) {
      if (
        (c === SLASH && p1 === SLASH) || (p1 === DOT && p2 === SLASH) ||
        (p1 === DOT && p2 === DOT && p3 === SLASH)
      ) odd = true;
      if (c === 0) break;
      lastSlash = index;
    }
    [p3, p2, p1] = [p2, p1, c];
  }
  return { odd, nameAt: lastSlash + 1 };
}

/** The fixture, loaded, scanning at this thread's getppid(). */
async function pathScan(): Promise<{
  object: BpfObject;
  scan: (path: Uint8Array, start: number, len: number) => {
    odd: boolean;
    nameAt: number;
  };
}> {
  const bytes = await Deno.readFile(
    `${ROOT}bpf/build/fixtures/path_scan.bpf.o`,
  );
  const object = BpfObject.open(bytes, "path_scan");
  object.load();
  const zero = new Uint8Array(4);
  const input = new Uint8Array(INPUT_HEADER + FS_PATH_MAX);
  const inputView = new DataView(input.buffer);
  const output = new Uint8Array(16);
  const outputView = new DataView(output.buffer);
  const inputFd = object.map("input").fd;
  const outputFd = object.map("output").fd;
  inputView.setUint32(0, thisThread(), true);
  let scans = 0;
  const scan = (path: Uint8Array, start: number, len: number) => {
    inputView.setUint32(4, start, true);
    inputView.setUint32(8, len, true);
    input.set(path, INPUT_HEADER);
    mapUpdate(inputFd, zero, input);
    trigger();
    assert.ok(mapLookup(outputFd, zero, output));
    assert.equal(outputView.getUint32(8, true), ++scans, "the scan ran");
    return {
      odd: outputView.getUint32(0, true) !== 0,
      nameAt: outputView.getUint32(4, true),
    };
  };
  return { object, scan };
}

/**
 * A path buffer: `dir` bytes of a directory, then `name` from `dir` on;
 * past the name, bytes that would make a pattern if the scan read them.
 */
function buffer(dir: number, name: string): Uint8Array {
  const path = new Uint8Array(FS_PATH_MAX);
  const past = "/../..//./";
  for (let index = 0; index < FS_PATH_MAX; index++) {
    path[index] = past.charCodeAt(index % past.length);
  }
  const directory = "/workspace/node_modules/pkg/lib".padEnd(dir, "x");
  for (let index = 0; index < dir; index++) {
    path[index] = directory.charCodeAt(index);
  }
  for (let index = 0; index < name.length; index++) {
    path[dir + index] = name.charCodeAt(index);
  }
  return path;
}

kernelTest(
  "path_scan finds every //, /./ and /../ a character scan finds, and the last component, at every alignment",
  async () => {
    const { object, scan } = await pathScan();
    using _object = object;
    using _link = object.program("scan").attach();
    const alphabet = ["/", ".", "a"];
    let names = [""];
    const all: string[] = [""];
    for (let length = 1; length <= 7; length++) {
      names = names.flatMap((name) => alphabet.map((c) => name + c));
      all.push(...names);
    }
    let odd = 0;
    // A name joins its directory at a '/' (relative) or is the whole path
    // (absolute, dir 0); the directory's length moves it across words.
    for (let dir = 0; dir <= 9; dir++) {
      for (const tail of all) {
        const name = dir === 0 ? tail : `/${tail}`;
        const path = buffer(dir, name);
        const len = dir + name.length;
        const want = expected(path, dir, len);
        const got = scan(path, dir, len);
        if (want.odd) odd++;
        assert.deepEqual(got, want, `dir ${dir}, name ${JSON.stringify(name)}`);
      }
    }
    // Both answers came up often: the test cannot pass on a constant.
    assert.ok(odd > 10_000 && odd < 25_000, `${odd} odd`);
  },
);

kernelTest(
  "path_scan agrees with a character scan on long paths, up to a cut one",
  async () => {
    const { object, scan } = await pathScan();
    using _object = object;
    using _link = object.program("scan").attach();
    const next = random(0x9a7b);
    // Normal names, some of them dots that are no "." or ".." component.
    const names = ["a", "node_modules", "b.c", ".hidden", "x..y", "...", "a."];
    const patterns = ["//", "/./", "/../", "/.", "/.."];
    let odd = 0;
    for (let round = 0; round < 3000; round++) {
      const parts = [""];
      const target = 1 + next(FS_PATH_MAX + 200);
      for (let length = 0; length < target;) {
        const part = names[next(names.length)];
        parts.push(part);
        length += part.length + 1;
      }
      let name = parts.join("/");
      // Half of them have one pattern, at a random '/'.
      if (next(2)) {
        const slashes = [...name.matchAll(/\//g)].map((match) => match.index);
        const at = slashes[next(slashes.length)];
        const pattern = patterns[next(patterns.length)];
        name = name.slice(0, at) + pattern + name.slice(at + 1);
      }
      const dir = next(300);
      // A path is cut at FS_PATH_MAX - 1 bytes, as name_join() cuts it.
      const len = Math.min(dir + name.length, FS_PATH_MAX - 1);
      const path = buffer(dir, name.slice(0, len - dir));
      const want = expected(path, dir, len);
      if (want.odd) odd++;
      assert.deepEqual(
        scan(path, dir, len),
        want,
        `round ${round}: dir ${dir}, len ${len}`,
      );
    }
    // The end of a cut path: a pattern in its last bytes, and none.
    for (const end of ["/..", "/.", "//", "/a", "a/", "/.a"]) {
      const len = FS_PATH_MAX - 1;
      const name = "/".padEnd(len - 40 - end.length, "b") + end;
      const path = buffer(40, name);
      assert.deepEqual(scan(path, 40, len), expected(path, 40, len), end);
    }
    assert.ok(odd > 600 && odd < 2000, `${odd} odd`);
  },
);
