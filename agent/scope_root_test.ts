import assert from "node:assert/strict";
import { processEvent as event } from "../tests/helpers/events.ts";
import { ProcessTree } from "./process_tree.ts";
import { scopeRootOf } from "./scope_root.ts";

Deno.test("scopeRootOf() asks the scope map once per process", () => {
  const tree = new ProcessTree();
  tree.apply(event("fork", 30, 1));
  tree.apply(event("fork", 31, 30));
  const asked: number[] = [];
  const map = new Map([[30, 30], [31, 30]]);
  const sensor = {
    scopeOf: (pid: number) => {
      asked.push(pid);
      const rootPid = map.get(pid);
      return rootPid === undefined ? undefined : { flags: 1, rootPid };
    },
  };
  assert.equal(scopeRootOf(sensor, tree, 31), 30);
  assert.equal(scopeRootOf(sensor, tree, 31), 30);
  assert.equal(scopeRootOf(sensor, tree, 30), 30);
  assert.deepEqual(asked, [31, 30]);
  // out of scope, or gone: no root, asked again next time
  assert.equal(scopeRootOf(sensor, tree, 99), undefined);
});
