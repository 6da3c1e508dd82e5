import assert from "node:assert/strict";
import { MAX_PORTS_PER_PREFIX } from "../policy/lpm.ts";
import { parsePolicy } from "../policy/parse.ts";
import {
  ALLOW_MAX_PORTS,
  encodeAllowKey,
  encodeAllowPorts,
} from "../sensors/network_maps.ts";
import { networkPolicyMaps, systemResolvers } from "./network_policy.ts";

Deno.test("systemResolvers() reads nameservers, v4 and v6, and skips the rest", () => {
  const text = [
    "# generated",
    "search example.internal",
    "nameserver 127.0.0.53",
    "nameserver fe80::1%eth0",
    "nameserver not-an-address",
    "options edns0",
  ].join("\n");
  assert.deepEqual(systemResolvers(text), [
    { family: 4, address: new Uint8Array([127, 0, 0, 53]), port: 53 },
    {
      family: 6,
      address: new Uint8Array([0xfe, 0x80, ...Array(13).fill(0), 1]),
      port: 53,
    },
  ]);
});

Deno.test("networkPolicyMaps() expands system resolvers and keeps domains", async () => {
  const resolvConf = await Deno.makeTempFile();
  await Deno.writeTextFile(
    resolvConf,
    "nameserver 10.0.0.2\nnameserver 10.0.0.2\n",
  );
  try {
    const policy = parsePolicy(
      [
        "version: 1",
        "network:",
        "  allow: [github.com:443, 10.1.0.0/16]",
        "  dns: { resolvers: [system, '[::1]:5353'] }",
        "",
      ].join("\n"),
      "inline.yaml",
    );
    const maps = networkPolicyMaps(policy.network, resolvConf);
    assert.deepEqual(maps.resolvers, [
      { family: 4, address: new Uint8Array([10, 0, 0, 2]), port: 53 },
      {
        family: 6,
        address: new Uint8Array([...Array(15).fill(0), 1]),
        port: 5353,
      },
    ]);
    assert.deepEqual(maps.domains.map((rule) => [rule.name, rule.port]), [[
      "github.com",
      443,
    ]]);
    // 10.1.0.0/16 and loopback 127.0.0.0/8: keys are u32 prefix + address
    assert.deepEqual(
      maps.v4.map((prefix) => [...encodeAllowKey(prefix, 4)]).sort(),
      [[16, 0, 0, 0, 10, 1, 0, 0], [8, 0, 0, 0, 127, 0, 0, 0]].sort(),
    );
  } finally {
    await Deno.remove(resolvConf);
  }
});

Deno.test("the policy allows as many ports per range as one sensor entry holds", () => {
  assert.equal(MAX_PORTS_PER_PREFIX, ALLOW_MAX_PORTS);
});

Deno.test("compiled entries encode into the kernel's key and value layout", () => {
  const { v4 } = networkPolicyMaps(
    parsePolicy(
      "version: 1\nnetwork:\n  allow: [140.82.112.0/20:443, 140.82.112.0/20:22]\n",
      "inline.yaml",
    ).network,
  );
  const entry = v4.find((e) => e.prefixLength === 20)!;
  assert.deepEqual(
    encodeAllowKey(entry, 4),
    new Uint8Array([20, 0, 0, 0, 140, 82, 112, 0]),
  );
  assert.deepEqual(
    [...encodeAllowPorts(entry.ports).subarray(0, 6)],
    [2, 0, 22, 0, 0xbb, 0x01],
  );
});
