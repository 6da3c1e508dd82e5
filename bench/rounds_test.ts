/**
 * The bench's rounds: the order they run in, and a measured run compared
 * with the work alone at its own place, so that a drift cancels out.
 *
 * @module
 */

import assert from "node:assert/strict";
import { aloneAt, bracketed, medianInterval, roundRatios } from "./rounds.ts";

Deno.test("rounds: every round of measured runs is between two runs alone", async () => {
  const order: string[] = [];
  const run = (name: string) => () => Promise.resolve(order.push(name));
  await bracketed(3, run("alone"), [run("agent"), run("peer")]);
  assert.deepEqual(order, [
    "alone",
    ...["agent", "peer", "alone"],
    ...["agent", "peer", "alone"],
    ...["agent", "peer", "alone"],
  ]);
});

Deno.test("rounds: a linear drift leaves the ratio of unchanged work at 1", () => {
  // Each run takes 2 % longer than the run before it, whatever it is: the
  // file storm's loops on an ext4 without a journal drift so.
  const time = (step: number) => 1 + 0.02 * step;
  // alone, agent, alone, agent, alone: the agent's runs are steps 1 and 3
  const alone = [time(0), time(2), time(4)];
  assert.deepEqual(
    roundRatios(alone, [time(1), time(3)]).map((r) => r.toFixed(12)),
    ["1.000000000000", "1.000000000000"],
  );
  // The pair before it (alone, then agent) saw the drift as overhead.
  assert.ok(time(1) / time(0) > 1.019);
  // Two measured runs a round: the peer's is steps 2 and 5.
  const three = [time(0), time(3), time(6)];
  assert.equal(aloneAt(three, 0, { index: 1, of: 2 }), time(2));
  assert.equal(aloneAt(three, 1, { index: 0, of: 2 }), time(4));
});

Deno.test("rounds: a missing last run alone counts as the one before it", () => {
  assert.equal(aloneAt([2, 4], 1), 4);
  assert.deepEqual(roundRatios([2, 4], [3, 4]), [1, 1]);
});

Deno.test("rounds: the median's interval is the order statistics a binomial tail gives", () => {
  const values = (n: number) => Array.from({ length: n }, (_, i) => n - i);
  // n = 9: the 2nd and 8th values, 96.1 %
  const nine = medianInterval(values(9));
  assert.deepEqual([nine.low, nine.high], [2, 8]);
  assert.equal(nine.coverage.toFixed(3), "0.961");
  // n = 25: the 8th and 18th values, 95.7 %
  const many = medianInterval(values(25));
  assert.deepEqual([many.low, many.high], [8, 18]);
  assert.equal(many.coverage.toFixed(3), "0.957");
  // n = 5: too few for 95 %: the extremes, 93.8 %
  const five = medianInterval(values(5));
  assert.deepEqual([five.low, five.high], [1, 5]);
  assert.equal(five.coverage.toFixed(3), "0.938");
});
