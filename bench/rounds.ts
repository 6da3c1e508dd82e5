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

/** Where the median of a sample lies, whatever the distribution. */
export interface MedianInterval {
  low: number;
  high: number;
  /** The chance that the interval holds the true median (0–1). */
  coverage: number;
}

/**
 * The distribution-free interval for the median of `values`: the k-th
 * smallest and k-th largest value, with k the largest rank for which
 * the chance of fewer than k values below the true median is at most
 * (1 - confidence) / 2 (a Binomial(n, ½) tail). With too few values for
 * that, the smallest and largest, with their lower coverage.
 */
export function medianInterval(
  values: readonly number[],
  confidence = 0.95,
): MedianInterval {
  const sorted = [...values].sort((a, b) => a - b);
  const n = sorted.length;
  if (n === 0) return { low: NaN, high: NaN, coverage: 0 };
  // P(X < k) for X ~ Binomial(n, ½), the count of values below the true
  // median: the chance that the k-th smallest is above it.
  let term = 0.5 ** n; // P(X = 0)
  let below = 0;
  let rank = 1;
  let tail = term; // P(X < rank)
  for (let k = 1; k <= Math.floor(n / 2); k++) {
    below += term; // P(X < k)
    term *= (n - k + 1) / k; // P(X = k)
    if (below > (1 - confidence) / 2) break;
    rank = k;
    tail = below;
  }
  return {
    low: sorted[rank - 1],
    high: sorted[n - rank],
    coverage: 1 - 2 * tail,
  };
}
