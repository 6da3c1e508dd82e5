/**
 * Rounds of measured runs, each between two runs of the work alone: alone,
 * then `measured…`, alone, `measured…`, alone (one more run alone than
 * rounds). A measured run is compared with the work alone at its own place
 * in the sequence, the two runs alone around it weighed by how near each
 * is, so that a drift of the machine or of the work itself over the run
 * favours neither side. Pairs in a fixed order (alone, then measured) put
 * every measured run after its baseline: a workload whose loops leave cost
 * behind them, as the file storm's deleted inodes on an ext4 without a
 * journal, then weighs on the measured side only. Pairs in alternating
 * order do not fix that for a median: half the pairs lean one way, half the
 * other, and the median is one of them.
 *
 * @module
 */

/** Runs `alone`, then `rounds` rounds of every `measured` followed by `alone`. */
export async function bracketed(
  rounds: number,
  alone: () => Promise<unknown>,
  measured: (() => Promise<unknown>)[],
): Promise<void> {
  await alone();
  for (let round = 0; round < rounds; round++) {
    for (const run of measured) await run();
    await alone();
  }
}

/** Where a measured run is among a round's: `index` of `of`. */
export interface Place {
  index: number;
  of: number;
}

const FIRST: Place = { index: 0, of: 1 };

/**
 * The work alone's figure at the place of round `round`'s measured run: the
 * runs alone before and after the round, weighed by distance. `alone` holds
 * one more entry than there are rounds; a missing last one counts as the
 * one before it.
 */
export function aloneAt(
  alone: readonly number[],
  round: number,
  place: Place = FIRST,
): number {
  const before = alone[round], after = alone[round + 1] ?? before;
  return before + (after - before) * (place.index + 1) / (place.of + 1);
}

/** Each round's measured figure over the work alone's at its place. */
export function roundRatios(
  alone: readonly number[],
  measured: readonly number[],
  place: Place = FIRST,
): number[] {
  return measured.map((value, round) => value / aloneAt(alone, round, place));
}
