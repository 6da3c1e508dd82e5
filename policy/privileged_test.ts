import assert from "node:assert/strict";
import { parsePolicy, PolicyError } from "./parse.ts";

const FILE = "ci/policy.yaml";

function rejects(text: string, message: string): void {
  assert.throws(
    () => parsePolicy(text, FILE),
    (error: unknown) =>
      error instanceof PolicyError && error.message === `${FILE}:${message}`,
  );
}

Deno.test("network.privileged: every primitive denied unless allowed", () => {
  const bare = parsePolicy("version: 1\n", FILE);
  assert.deepEqual(bare.network.privileged, {
    raw: "deny",
    packet: "deny",
    tun: "deny",
    netfilter: "deny",
  });
  const some = parsePolicy(
    "version: 1\nnetwork:\n  privileged:\n    raw: allow\n    packet: deny\n",
    FILE,
  );
  assert.deepEqual(some.network.privileged, {
    raw: "allow",
    packet: "deny",
    tun: "deny",
    netfilter: "deny",
  });
});

Deno.test("network.privileged: errors point at the entry", () => {
  rejects(
    "version: 1\nnetwork:\n  privileged:\n    raw: yes\n",
    '4:10: "network.privileged.raw" must be one of deny, allow (got "yes")',
  );
  rejects(
    "version: 1\nnetwork:\n  privileged:\n    icmp: allow\n",
    '4:5: unknown key "icmp" in "network.privileged" (expected one of: raw, packet, tun, netfilter)',
  );
  rejects(
    "version: 1\nnetwork:\n  privileged: [raw]\n",
    '3:15: "network.privileged" must be a mapping (got a list)',
  );
});
