import assert from "node:assert/strict";
import { Btf, CoreBtfError, essentialLength } from "../sensors/btf.ts";
import { minimalCoreBtf, minimizeBtf } from "../sensors/core_btf.ts";
import { cachedMinimalCoreBtf } from "../sensors/core_btf_cache.ts";
import { coreRoots } from "../sensors/core_relocations.ts";
import { readKernelBtf } from "../sensors/kernel_btf.ts";
import { BpfObject } from "../sensors/bpf_object.ts";
import { kernelTest, ROOT } from "./helpers/kernel.ts";

const SENSORS = ["process", "network", "file-system"];

function sensorBytes(name: string): Uint8Array {
  return Deno.readFileSync(`${ROOT}bpf/build/sensor.${name}.bpf.o`);
}

/** A BTF blob with the given type records (u32 words) and strings. */
function btfBlob(types: number[], strings: string): Uint8Array {
  const typeBytes = new Uint8Array(new Uint32Array(types).buffer);
  const stringBytes = new TextEncoder().encode(strings);
  const header = new Uint32Array([
    0xeb9f | (1 << 16),
    24,
    0,
    typeBytes.length,
    typeBytes.length,
    stringBytes.length,
  ]);
  const blob = new Uint8Array(24 + typeBytes.length + stringBytes.length);
  blob.set(new Uint8Array(header.buffer));
  blob.set(typeBytes, 24);
  blob.set(stringBytes, 24 + typeBytes.length);
  return blob;
}

// "\0int\0task_struct\0pid\0parent\0"
const STRINGS = "\0int\0task_struct\0pid\0parent\0";
const INT = [1, 0x01000000, 4, 32]; // [1] int, 32 bits
// [2] struct task_struct { int pid; struct task_struct *parent; }
const TASK = [5, 0x04000002, 16, 17, 1, 0, 21, 3, 64];
const PTR = [0, 0x02000000, 2]; // [3] struct task_struct *

Deno.test("essentialLength() cuts ___flavour suffixes as libbpf does", () => {
  const length = (name: string) =>
    essentialLength(new TextEncoder().encode(name));
  assert.equal(length("task_struct"), 11);
  assert.equal(length("task_struct___old"), 11);
  assert.equal(length("a___b___c"), 5);
  assert.equal(length("__sk_buff"), 9);
  assert.equal(length("x____y"), 6);
});

Deno.test("minimizeBtf() keeps named roots and what they contain, not pointees", () => {
  const kernel = new Btf(btfBlob([...INT, ...TASK, ...PTR], STRINGS));
  assert.equal(kernel.count, 4);
  const minimal = new Btf(
    minimizeBtf(kernel, [{ name: "task_struct", pointees: false }]),
  );
  assert.equal(minimal.count, 4, "int, task_struct and the pointer");
  assert.equal(
    new TextDecoder().decode(minimal.stringBytes(minimal.nameOffset(2))),
    "task_struct",
  );
});

Deno.test("minimizeBtf() refuses a root the kernel does not have", () => {
  const kernel = new Btf(btfBlob([...INT, ...TASK, ...PTR], STRINGS));
  assert.throws(
    () => minimizeBtf(kernel, [{ name: "mm_struct", pointees: false }]),
    (error: unknown) =>
      error instanceof CoreBtfError && /no kernel type named mm_struct/
        .test(error.message),
  );
});

Deno.test("minimalCoreBtf() falls back to the kernel's BTF when it cannot cut it", () => {
  const objects = SENSORS.map(sensorBytes);
  // A BTF kind this code does not know (31) could hold anything.
  const unknownKind = btfBlob([0, 31 << 24, 0], "\0");
  const cases: [string, () => Uint8Array, RegExp][] = [
    ["unknown kind", () => unknownKind, /unknown BTF kind 31/],
    ["missing root", () => btfBlob(INT, STRINGS), /no kernel type named/],
    ["not BTF", () => new Uint8Array(64), /not little-endian BTF/],
    ["unreadable", () => {
      throw new Error("EACCES");
    }, /EACCES/],
  ];
  for (const [what, bytes, reason] of cases) {
    const result = minimalCoreBtf(
      objects,
      () => ({ bytes: bytes(), release: () => {} }),
    );
    assert.equal(result.btf, undefined, what);
    assert.match(result.reason!, reason, what);
  }
});

kernelTest(
  "cachedMinimalCoreBtf() cuts the BTF once per boot and objects",
  async () => {
    const directory = await Deno.makeTempDir();
    try {
      const objects = SENSORS.map(sensorBytes);
      let reads = 0;
      const counted = () => {
        reads++;
        return readKernelBtf();
      };
      const first = await cachedMinimalCoreBtf(objects, counted, directory);
      assert.ok(first.btf, first.reason);
      assert.equal(first.cached, undefined);
      const [file] = [...Deno.readDirSync(directory)];
      assert.match(file.name, /^core-btf-[0-9a-f-]+-[0-9a-f]{16}\.btf$/);
      assert.equal(
        (await Deno.stat(`${directory}/${file.name}`)).mode! & 0o777,
        0o600,
      );
      const second = await cachedMinimalCoreBtf(objects, counted, directory);
      assert.equal(second.cached, true);
      assert.deepEqual(second.btf, first.btf);
      assert.equal(reads, 1, "the kernel's BTF was read once");
      // Other objects (another version, other sensors) have a file of
      // their own; an earlier boot's file goes.
      await Deno.writeTextFile(`${directory}/core-btf-earlier-0.btf`, "x");
      const fewer = objects.slice(0, 2);
      assert.equal(
        (await cachedMinimalCoreBtf(fewer, counted, directory)).cached,
        undefined,
      );
      assert.equal(
        (await cachedMinimalCoreBtf(fewer, counted, directory)).cached,
        true,
      );
      assert.equal(
        (await cachedMinimalCoreBtf(objects, counted, directory)).cached,
        true,
      );
      assert.equal(reads, 2);
      const names = [...Deno.readDirSync(directory)].map((entry) => entry.name);
      assert.equal(names.length, 2, names.join());
      assert.ok(names.includes(file.name));
    } finally {
      await Deno.remove(directory, { recursive: true });
    }
  },
);

Deno.test("coreRoots() names the kernel types the sensors relocate against", () => {
  const names = coreRoots(sensorBytes("process")).map((root) => root.name);
  assert.ok(names.includes("task_struct"), names.join(" "));
  assert.throws(
    () => coreRoots(new TextEncoder().encode("not an elf")),
    CoreBtfError,
  );
});

kernelTest(
  "the cut-down BTF gives libbpf the same CO-RE relocations as the kernel's",
  async () => {
    // libbpf logs every patched instruction at debug level: the same lines
    // with either BTF mean the same relocated programs.
    const script = `
    import { BpfObject } from "${ROOT}sensors/bpf_object.ts";
    import { takeLog } from "${ROOT}sensors/libbpf.ts";
    const [name, btf] = Deno.args;
    const bytes = Deno.readFileSync("${ROOT}bpf/build/sensor." + name + ".bpf.o");
    using object = BpfObject.open(bytes, name, btf ? { btfCustomPath: btf } : {});
    for (const program of object.programs()) {
      if (program.section.startsWith("lsm")) program.setAutoload(false);
    }
    takeLog();
    try { object.load(); } catch { /* the relocations are logged before */ }
    for (const line of takeLog()) {
      const patched = line.match(/relo #\\d+: (patched insn .*|.*poison.*)/);
      if (patched) console.log(line.match(/prog '[^']+'/)?.[0], patched[1]);
    }`;
    const relocations = async (name: string, btf?: string) => {
      const output = await new Deno.Command(Deno.execPath(), {
        args: ["eval", "--ext=ts", script, name, ...(btf ? [btf] : [])],
        env: { RINGFENCE_DEBUG: "1", RINGFENCE_CORE_BTF: "kernel" },
      }).output();
      const text = new TextDecoder().decode(output.stdout);
      assert.ok(output.success, new TextDecoder().decode(output.stderr));
      return text;
    };
    const result = minimalCoreBtf(SENSORS.map(sensorBytes));
    assert.ok(result.btf, `not cut down: ${result.reason}`);
    const file = await Deno.makeTempFile({ suffix: ".btf" });
    try {
      await Deno.writeFile(file, result.btf);
      for (const name of SENSORS) {
        const full = await relocations(name);
        assert.match(full, /patched insn/, `${name}: no relocations logged`);
        assert.equal(await relocations(name, file), full, name);
      }
    } finally {
      await Deno.remove(file);
    }
  },
);

kernelTest("readKernelBtf() reads the same bytes as a plain read", () => {
  const kernel = readKernelBtf();
  try {
    assert.deepEqual(
      kernel.bytes,
      Deno.readFileSync("/sys/kernel/btf/vmlinux"),
    );
  } finally {
    kernel.release();
  }
});

kernelTest(
  "loadAll() falls back to the kernel's BTF when the cut-down one fails",
  async () => {
    const open = () => BpfObject.open(sensorBytes("process"), "sensor.process");
    {
      // No types at all: every relocation fails and the verifier refuses the
      // poisoned instructions.
      const object = open();
      try {
        const result = await BpfObject.loadAll([object], {
          coreBtf: btfBlob([], "\0"),
        });
        assert.equal(result.coreBtf, "fallback");
        assert.ok(object.program("handle_exec").fd > 0, "loaded");
      } finally {
        object.close();
      }
    }
    {
      const object = open();
      try {
        const result = await BpfObject.loadAll([object]);
        assert.equal(result.coreBtf, "minimal", result.reason);
        assert.ok(object.program("handle_exec").fd > 0, "loaded");
      } finally {
        object.close();
      }
    }
  },
);
