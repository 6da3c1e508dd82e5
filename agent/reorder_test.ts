import assert from "node:assert/strict";
import type { RingfenceEvent } from "../sensors/events.ts";
import { TimeOrder } from "./reorder.ts";

function at(nanos: number, kind: string): RingfenceEvent {
  return {
    type: "process_event",
    kind,
    time: `2026-01-01T00:00:00.${String(nanos).padStart(9, "0")}Z`,
  } as unknown as RingfenceEvent;
}

Deno.test("time order: the rings of one read go out merged by time, nothing held after", () => {
  const out: string[] = [];
  const order = new TimeOrder((event) => out.push(event.kind));
  // the process ring, then the network ring, as the pump reads them
  for (const event of [at(1, "fork"), at(2, "exec"), at(5, "exit")]) {
    order.push(event);
  }
  for (const event of [at(3, "connect"), at(4, "dns")]) order.push(event);
  assert.equal(order.release(), 5);
  assert.deepEqual(out, ["fork", "exec", "connect", "dns", "exit"]);
  assert.equal(order.release(), 0, "nothing is held past a release");
  assert.equal(order.late, 0);
});

Deno.test("time order: equal times keep the order they came in; a late event still goes out, counted", () => {
  const out: string[] = [];
  const order = new TimeOrder((event) => out.push(event.kind));
  order.push(at(7, "first"));
  order.push(at(7, "second"));
  order.release();
  order.push(at(6, "late"));
  order.push(at(8, "next"));
  order.release();
  assert.deepEqual(out, ["first", "second", "late", "next"]);
  assert.equal(order.late, 1);
});
