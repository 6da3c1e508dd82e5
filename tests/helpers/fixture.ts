/**
 * What the tests of BPF fixtures (bpf/fixtures/) share: the fixtures run at
 * each getppid() of the thread whose id the test wrote to their map, and
 * the tests draw their cases from a seeded generator, so that a failure
 * reproduces.
 *
 * @module
 */

const libc = Deno.dlopen(
  "libc.so.6",
  {
    getppid: { parameters: [], result: "i32" },
    gettid: { parameters: [], result: "i32" },
  } as const,
);

/** The calling thread's id, for a fixture's target map. */
export function thisThread(): number {
  return libc.symbols.gettid();
}

/** Runs a fixture attached for {@linkcode thisThread}: one getppid(). */
export function trigger(): void {
  libc.symbols.getppid();
}

/** A xorshift32 generator of integers below `below`. */
export function random(seed: number): (below: number) => number {
  let state = seed >>> 0 || 1;
  return (below) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % below;
  };
}
