import assert from "node:assert/strict";
import type { FileFinding } from "../agent/file_findings.ts";
import { findingLine, unvouchedHeadline } from "./protected_files.ts";
import { formatSummary } from "./summary.ts";
import { tamperLines } from "./tamper_lines.ts";

const LINKED: FileFinding = {
  time: "2026-11-25T06:00:02.819Z",
  path: "/etc/hosts",
  kind: "hard_linked",
  other_path: "/tmp/hosts",
  repaired: true,
  detail: "the new name removed by the agent",
  pid: 200,
  exe: "/usr/bin/ln",
  step: "build",
};
const MOUNTED: FileFinding = {
  time: "2026-11-25T06:00:02.829Z",
  path: "/srv/keys/**",
  kind: "bind_mounted",
  other_path: "/tmp/alias",
  repaired: false,
  detail: "cannot unmount /tmp/alias: Device or resource busy",
};

Deno.test("protected files: the headline counts unrepaired paths once", () => {
  assert.equal(unvouchedHeadline([LINKED]), undefined);
  assert.equal(
    unvouchedHeadline([LINKED, MOUNTED, { ...MOUNTED, kind: "mounted_over" }]),
    "integrity of 1 protected file can no longer be vouched for",
  );
  assert.equal(
    unvouchedHeadline([{ ...LINKED, repaired: false }, MOUNTED]),
    "integrity of 2 protected files can no longer be vouched for",
  );
});

Deno.test("protected files: stop's lines and the summary", () => {
  assert.equal(
    findingLine(LINKED),
    'ringfence: protected /etc/hosts hard-linked (/tmp/hosts) by pid 200 /usr/bin/ln in step "build", repaired: the new name removed by the agent',
  );
  assert.deepEqual(
    tamperLines({
      files: [],
      otherChanges: 0,
      protected: [],
      findings: [LINKED, MOUNTED],
    }),
    [
      "ringfence: integrity of 1 protected file can no longer be vouched for",
      findingLine(LINKED),
      "ringfence: protected /srv/keys/** mounted elsewhere (/tmp/alias), NOT repaired: cannot unmount /tmp/alias: Device or resource busy",
    ],
  );
  assert.equal(
    formatSummary({
      processes: 2,
      events: 5,
      dropped: 0,
      blocked: 0,
      wouldBlock: 0,
      scopeFull: 0,
      unvouched: 1,
    }, "exit 0"),
    "ringfence: 2 processes, 5 events, 0 dropped, 1 protected file no longer vouched for, exit 0",
  );
});
