import assert from "node:assert/strict";
import {
  denyDropInName,
  grantsUser,
  includedByDir,
  privilegeTool,
  sudoersLines,
  type SudoIdentity,
  userAliases,
} from "./sudoers.ts";

const RUNNER: SudoIdentity = {
  name: "runner",
  uid: 1001,
  groups: ["runner", "adm", "docker"],
  gids: [1001, 4, 118],
};

Deno.test("sudoers lines: comments go, #uid and #include stay, continuations join", () => {
  assert.deepEqual(
    sudoersLines(
      "# a comment\n#1001 ALL=(ALL) ALL # trailing\n#includedir /x\nrunner ALL=\\\n  (ALL) NOPASSWD: ALL\n\n",
    ),
    [
      "#1001 ALL=(ALL) ALL",
      "#includedir /x",
      "runner ALL= (ALL) NOPASSWD: ALL",
    ],
  );
});

Deno.test("grantsUser: by name, uid, group, gid, ALL and User_Alias", () => {
  for (
    const text of [
      "runner ALL=(ALL) NOPASSWD:ALL",
      "#1001 ALL=(ALL) ALL",
      "%adm ALL=(ALL) NOPASSWD: ALL",
      "%#118 ALL=(ALL) ALL",
      "ALL ALL=(ALL) NOPASSWD: /usr/bin/apt",
      "alice, runner ALL=(ALL) ALL",
      "User_Alias CI = alice, %docker\nCI ALL=(ALL) ALL",
    ]
  ) {
    assert.equal(grantsUser(text, RUNNER), true, text);
  }
});

Deno.test("grantsUser: other users, groups, exclusions and directives grant nothing", () => {
  for (
    const text of [
      "alice ALL=(ALL) ALL",
      "%sudo ALL=(ALL:ALL) ALL",
      "!runner ALL=(ALL) ALL",
      "Defaults:runner !requiretty",
      "User_Alias CI = runner",
      "# runner ALL=(ALL) ALL",
      "Cmnd_Alias X = /bin/ls",
    ]
  ) {
    assert.equal(grantsUser(text, RUNNER), false, text);
  }
  // an alias defined in another file
  assert.equal(
    grantsUser("CI ALL=(ALL) ALL", RUNNER, userAliases("User_Alias CI=runner")),
    true,
  );
});

Deno.test("drop-in names: sudo reads the deny rule's file whatever the user name", () => {
  assert.equal(includedByDir("runner"), true);
  assert.equal(includedByDir("runner~"), false);
  assert.equal(includedByDir("a.b"), false);
  assert.equal(denyDropInName("first.last"), "zz-ringfence-deny-first_last");
  assert.equal(includedByDir(denyDropInName("first.last")), true);
});

Deno.test("privilegeTool: sudo, su, pkexec, doas by file name", () => {
  assert.equal(privilegeTool({ path: "/usr/bin/sudo" }), "sudo");
  assert.equal(privilegeTool({ path: "su" }), "su");
  assert.equal(privilegeTool({ argv: ["/usr/bin/pkexec", "id"] }), "pkexec");
  assert.equal(privilegeTool({ path: "/usr/bin/doas" }), "doas");
  assert.equal(privilegeTool({ path: "/usr/bin/sudoku" }), undefined);
  assert.equal(privilegeTool({}), undefined);
});
