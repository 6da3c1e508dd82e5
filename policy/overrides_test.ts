import assert from "node:assert/strict";
import {
  applyOverrides,
  OverrideError,
  parseAllowedEndpoints,
  parseOverrides,
} from "./overrides.ts";
import { parsePolicy } from "./parse.ts";

const FILE = parsePolicy(
  "version: 1\nmode: block\nnetwork:\n  allow: [github.com:443]\nfiles:\n  protect: [/etc/hosts]\n",
  "p.yaml",
);

Deno.test("allowed-endpoints: harden-runner's syntax, spaces, commas and newlines", () => {
  const rules = parseAllowedEndpoints(
    " github.com:443\n*.docker.io:443  registry.npmjs.org:443,10.0.0.0/8\n\ngithub.com:443",
  );
  assert.deepEqual(rules.map((rule) => rule.text), [
    "github.com:443",
    "*.docker.io:443",
    "registry.npmjs.org:443",
    "10.0.0.0/8",
  ]);
  assert.deepEqual(parseAllowedEndpoints(" \n"), []);
});

Deno.test("allowed-endpoints: a bad entry is one line naming the flag and the entry", () => {
  assert.throws(
    () => parseAllowedEndpoints("github.com:443 bad:99999"),
    (error: Error) =>
      error instanceof OverrideError &&
      /^--allowed-endpoints: "bad:99999": .*port/.test(error.message) &&
      !error.message.includes("\n"),
  );
  assert.throws(
    () => parseOverrides({ egressPolicy: "enforce" }),
    /--egress-policy: "enforce" is neither audit nor block$/,
  );
});

Deno.test("overrides: mode, allow list added to a file's, replacing the built-in's, files dropped", () => {
  const overrides = parseOverrides({
    egressPolicy: "audit",
    allowedEndpoints: "api.example.com:443 github.com:443",
    disableFileMonitoring: true,
  });
  const fromFile = applyOverrides(FILE, overrides, false);
  assert.equal(fromFile.mode, "audit");
  assert.deepEqual(fromFile.network.allow.map((rule) => rule.text), [
    "github.com:443",
    "api.example.com:443",
  ]);
  assert.equal(fromFile.files, undefined);
  const builtIn = applyOverrides(FILE, overrides, true);
  assert.deepEqual(builtIn.network.allow.map((rule) => rule.text), [
    "api.example.com:443",
    "github.com:443",
  ]);
  // Nothing given: the policy as it was.
  assert.equal(applyOverrides(FILE, parseOverrides({}), true), FILE);
  assert.equal(FILE.mode, "block");
  assert.ok(FILE.files);
});
