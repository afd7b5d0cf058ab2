// A small seeded generator (mulberry32) for reproducible ablations: random masks and LoRA initialisation.
// Not cryptographic; 32 bits of state is plenty for choosing parameter subsets.

export type Random = () => number;

/** Uniform doubles in [0, 1), the same sequence for the same 32-bit seed on every platform. */
export function seededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
