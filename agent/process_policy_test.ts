import assert from "node:assert/strict";
import { kernelDev } from "../sensors/device.ts";
import { execDenyRules } from "./process_policy.ts";

Deno.test("kernelDev: stat's st_dev to the kernel's s_dev", () => {
  // 254:0 and 8:300, in new_encode_dev's layout
  assert.equal(kernelDev(0xfe00), 254 << 20);
  assert.equal(kernelDev(44 | (8 << 8) | (256 << 12)), (8 << 20) | 300);
});

Deno.test("execDenyRules: a path rule's file, its resolved paths and names", async () => {
  const dir = await Deno.realPath(await Deno.makeTempDir());
  try {
    await Deno.writeTextFile(`${dir}/tool`, "");
    await Deno.symlink(dir, `${dir}/bin`);
    const { dev, ino } = await Deno.stat(`${dir}/tool`);
    const [exists, later, name] = execDenyRules({
      denyPaths: [`${dir}/bin/tool`, `${dir}/bin/later`],
      denyNames: ["xmrig"],
      action: "kill",
    });
    assert.deepEqual(exists, {
      rule: `${dir}/bin/tool`,
      files: [{ dev, ino }],
      paths: [`${dir}/bin/tool`, `${dir}/tool`],
      names: [],
    });
    assert.deepEqual(later, {
      rule: `${dir}/bin/later`,
      files: [],
      paths: [`${dir}/bin/later`, `${dir}/later`],
      names: [],
    });
    assert.deepEqual(name, {
      rule: "**/xmrig",
      files: [],
      paths: [],
      names: ["xmrig"],
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
