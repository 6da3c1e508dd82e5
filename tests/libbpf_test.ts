import assert from "node:assert/strict";
import { BpfObject } from "../sensors/bpf_object.ts";
import {
  BpfError,
  mapDelete,
  mapKeys,
  mapLookup,
  mapUpdate,
  verifierReason,
} from "../sensors/libbpf.ts";
import { kernelTest, ROOT } from "./helpers/kernel.ts";

kernelTest(
  "BpfObject.load() reports the verifier's reason for a refused program",
  async () => {
    const bytes = await Deno.readFile(
      `${ROOT}bpf/build/fixtures/verifier_reject.bpf.o`,
    );
    using object = BpfObject.open(bytes, "verifier_reject");
    const error = (() => {
      try {
        object.load();
      } catch (error) {
        return error;
      }
    })();
    assert.ok(error instanceof BpfError, `expected BpfError, got ${error}`);
    assert.match(
      error.message,
      /^load verifier_reject \(read_past_value\): kernel refused the program: /,
    );
    assert.match(error.message, /invalid access to map value/);
    assert.equal(error.message.includes("\n"), false, "one line");
    assert.equal(error.errno, 13); // EACCES from the verifier
    assert.ok(error.log.some((line) => line.includes("BEGIN PROG LOAD LOG")));
  },
);

kernelTest(
  "BpfObject.loadAll() loads side by side and still reports the verifier's reason",
  async () => {
    const good = BpfObject.open(
      await Deno.readFile(`${ROOT}bpf/build/sensor.process.bpf.o`),
      "sensor.process",
    );
    const bad = BpfObject.open(
      await Deno.readFile(`${ROOT}bpf/build/fixtures/verifier_reject.bpf.o`),
      "verifier_reject",
    );
    try {
      await assert.rejects(
        () => BpfObject.loadAll([good, bad]),
        (error: unknown) =>
          error instanceof BpfError &&
          /^load verifier_reject \(read_past_value\): kernel refused the program: invalid access to map value/
            .test(error.message),
      );
    } finally {
      good.close();
      bad.close();
    }
    const again = BpfObject.open(
      await Deno.readFile(`${ROOT}bpf/build/sensor.process.bpf.o`),
      "sensor.process",
    );
    try {
      await BpfObject.loadAll([again]);
      assert.ok(again.program("handle_exec").fd > 0, "loaded");
    } finally {
      again.close();
    }
  },
);

kernelTest("BpfObject.open() rejects bytes that are not an ELF object", () => {
  assert.throws(
    () => BpfObject.open(new TextEncoder().encode("not an elf"), "garbage"),
    (error: unknown) =>
      error instanceof BpfError && /^open garbage: /.test(error.message),
  );
});

kernelTest(
  "map update, lookup, iterate and delete round-trip through the kernel",
  async () => {
    const bytes = await Deno.readFile(`${ROOT}bpf/build/sensor.process.bpf.o`);
    using object = BpfObject.open(bytes, "sensor.process");
    object.load();
    const map = object.map("scope_pids");
    assert.equal(map.keySize, 4);
    assert.equal(map.valueSize, 8);
    const key = new Uint8Array(new Uint32Array([4242]).buffer);
    const value = new Uint8Array(new Uint32Array([1, 7]).buffer);
    mapUpdate(map.fd, key, value);
    const read = new Uint8Array(8);
    assert.equal(mapLookup(map.fd, key, read), true);
    assert.deepEqual([...new Uint32Array(read.buffer)], [1, 7]);
    assert.deepEqual(
      mapKeys(map.fd, 4).map((k) => new Uint32Array(k.buffer)[0]),
      [4242],
    );
    assert.equal(mapDelete(map.fd, key), true);
    assert.equal(mapLookup(map.fd, key, read), false);
    assert.equal(mapDelete(map.fd, key), false);
  },
);

Deno.test("verifierReason() picks the verifier's message out of libbpf's log", () => {
  const log = [
    "libbpf: prog 'x': BEGIN PROG LOAD LOG",
    "0: R1=ctx() R10=fp0",
    "; return *(__u64 *)(value + 1) != 0;",
    "4: (79) r1 = *(u64 *)(r0 +4)",
    "invalid access to map value, value_size=4 off=4 size=8",
    "R0 min value is outside of the allowed memory range",
    "processed 5 insns (limit 1000000) max_states_per_insn 0",
    "-- END PROG LOAD LOG --",
    "libbpf: prog 'x': failed to load: -13",
  ];
  assert.equal(
    verifierReason(log),
    "invalid access to map value, value_size=4 off=4 size=8: R0 min value is outside of the allowed memory range",
  );
  assert.equal(verifierReason(["libbpf: nothing here"]), undefined);
});
