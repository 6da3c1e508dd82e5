import assert from "node:assert/strict";
import { parsePolicy, PolicyError } from "./parse.ts";
import { parseException } from "./dependencies.ts";

const FILE = "ci/policy.yaml";

function rejects(text: string, message: string): void {
  assert.throws(
    () => parsePolicy(text, FILE),
    (error) =>
      error instanceof PolicyError && error.message === `${FILE}:${message}`,
  );
}

Deno.test("dependencies.install_scripts: every key as written", () => {
  const policy = parsePolicy(
    `version: 1
dependencies:
  install_scripts:
    network: allow-list
    files: allow
    action: kill
    except: [esbuild, "@scope/pkg@1.2.3", esbuild]
`,
    FILE,
  );
  assert.deepEqual(policy.dependencies, {
    installScripts: {
      network: "allow-list",
      files: "allow",
      action: "kill",
      except: [
        { name: "esbuild", text: "esbuild" },
        { name: "@scope/pkg", version: "1.2.3", text: "@scope/pkg@1.2.3" },
      ],
    },
  });
});

Deno.test("dependencies.install_scripts: present and empty, it protects", () => {
  const policy = parsePolicy(
    "version: 1\ndependencies:\n  install_scripts: {}\n",
    FILE,
  );
  assert.deepEqual(policy.dependencies?.installScripts, {
    network: "deny",
    files: "protect-secrets",
    action: "deny",
    except: [],
  });
  assert.equal(parsePolicy("version: 1\n", FILE).dependencies, undefined);
  assert.deepEqual(
    parsePolicy("version: 1\ndependencies: {}\n", FILE).dependencies,
    {},
  );
});

Deno.test("dependencies.install_scripts: bad values at their line and column", () => {
  rejects(
    "version: 1\ndependencies:\n  install_scripts:\n    network: block\n",
    '4:14: "dependencies.install_scripts.network" must be one of deny, allow-list (got "block")',
  );
  rejects(
    "version: 1\ndependencies:\n  install_scripts:\n    files: protect\n",
    '4:12: "dependencies.install_scripts.files" must be one of protect-secrets, allow (got "protect")',
  );
  rejects(
    "version: 1\ndependencies:\n  install_scripts:\n    action: audit\n",
    '4:13: "dependencies.install_scripts.action" must be one of deny, kill (got "audit")',
  );
  rejects(
    'version: 1\ndependencies:\n  install_scripts:\n    except: [ok, "a b"]\n',
    '4:18: invalid "dependencies.install_scripts.except" entry "a b": a package name has no spaces, quotes, backslashes or wildcards',
  );
  rejects(
    "version: 1\ndependencies:\n  install_scripts:\n    except: esbuild\n",
    '4:13: "dependencies.install_scripts.except" must be a list of strings (got a string)',
  );
  rejects(
    "version: 1\ndependencies:\n  install_scripts:\n    mode: block\n",
    '4:5: unknown key "mode" in "dependencies.install_scripts" (expected one of: network, files, action, except)',
  );
  rejects(
    "version: 1\ndependencies:\n  scripts: {}\n",
    '3:3: unknown key "scripts" in "dependencies" (expected one of: install_scripts)',
  );
});

Deno.test("parseException() takes name and name@version, scoped or not", () => {
  assert.deepEqual(parseException("left-pad@1.3.0"), {
    name: "left-pad",
    version: "1.3.0",
    text: "left-pad@1.3.0",
  });
  assert.deepEqual(parseException("@scope/pkg"), {
    name: "@scope/pkg",
    text: "@scope/pkg",
  });
  for (const bad of ["", "@", "@scope", "a/b", "pkg@", "pkg@1@2", "pk*"]) {
    assert.equal(typeof parseException(bad), "string", bad);
  }
});
