import assert from "node:assert/strict";
import { bpffsMounted } from "../sensors/pin.ts";
import { runInstanceName, sensorLayout, startInstanceName } from "./pins.ts";

Deno.test("bpffs counts as mounted only when the last mount there is bpf", () => {
  const sysfs = "sysfs /sys/fs/bpf sysfs rw 0 0";
  const bpf = "bpf /sys/fs/bpf bpf rw,mode=700 0 0";
  assert.equal(bpffsMounted("/sys/fs/bpf", `${sysfs}\n${bpf}\n`), true);
  assert.equal(bpffsMounted("/sys/fs/bpf", `${sysfs}\n`), false);
  assert.equal(bpffsMounted("/sys/fs/bpf", ""), false);
});

Deno.test("an instance name is stable per state directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const name = await startInstanceName(dir);
    assert.match(name, /^start-[0-9a-f]{12}$/);
    assert.equal(await startInstanceName(`${dir}/`), name, "resolved");
    assert.notEqual(await startInstanceName(`${dir}/other`), name);
    assert.equal(runInstanceName(42), "run-42");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a sensor's layout changes with its bytes and its ring size", () => {
  const bytes = new Uint8Array(4096).map((_, index) => index * 7);
  const layout = sensorLayout(bytes, 0);
  assert.match(layout, /^[0-9a-f]{16}$/);
  assert.equal(sensorLayout(new Uint8Array(bytes), 0), layout);
  const changed = new Uint8Array(bytes);
  changed[100] ^= 1;
  assert.notEqual(sensorLayout(changed, 0), layout);
  assert.notEqual(sensorLayout(bytes, 1 << 20), layout);
});
