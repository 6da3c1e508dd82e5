import assert from "node:assert/strict";
import { parsePolicy } from "../policy/parse.ts";
import { compilePolicy, marksPending, needsFileSensor } from "./compile.ts";

/** Compiled as the agent does: sensor.file-system loaded when needed. */
function compiled(yaml: string) {
  const policy = parsePolicy(`version: 1\n${yaml}`, "policy.yaml");
  return compilePolicy(policy, needsFileSensor(policy));
}

Deno.test("marksPending(): for a rule for install scripts, and for the bulk summary", () => {
  assert.equal(marksPending(compiled("")), false);
  assert.equal(marksPending(compiled("files:\n  watch: [/w/**]\n")), true);
  assert.equal(
    marksPending(compiled("files:\n  watch: [/w/**]\n  detail: full\n")),
    false,
  );
  assert.equal(
    marksPending(compiled("dependencies:\n  install_scripts: {}\n")),
    true,
  );
  assert.equal(
    marksPending(
      compiled(
        "files:\n  watch: [/w/**]\n  detail: full\ndependencies:\n  install_scripts: {}\n",
      ),
    ),
    true,
  );
});
