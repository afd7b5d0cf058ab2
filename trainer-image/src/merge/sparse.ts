// The streaming path of `sum` and `task-arithmetic` over tickets: each ticket's entries are scatter-added into one
// float32 scratch, and only the entries some ticket claims are touched again to finish the merged δ (and add it to
// the base). The arithmetic is mergeTensor's (methods.ts) in its order — mixed = Σ_i fl32(w_i·δ_i) from 0, then
// ÷ Σw when normalizing, then ·λ — so the two paths agree bit for bit; no ticket is ever made dense. The
// interference figures come out of the same passes.
import { overlapCount, type PackedMask, popcount32 } from '../lota/mask.ts';
import type { TensorInterference } from './interference.ts';
import type { ResolvedParameters } from './methods.ts';

/** One ticket's entries of one tensor: the claimed mask and δ at its set entries, in ascending index order. */
export interface SparseDelta {
  claimed: PackedMask;
  values: Float32Array;
}

export interface SparseMergeResult {
  /** Entries some input claims, and (with `packed`) the merged δ there in ascending order, as a ticket stores them. */
  mask: PackedMask;
  delta: Float32Array | undefined;
  interference: TensorInterference;
}

/**
 * Scratch reused from tensor to tensor, all zero between calls: the float32 sums, and one bit per entry for "some
 * weighted δ here was positive" and "… negative" (32 entries a word, like the masks).
 */
export class SparseScratch {
  private sums = new Float32Array(0);
  private positive = new Uint32Array(0);
  private negative = new Uint32Array(0);

  take(n: number): { sums: Float32Array; positive: Uint32Array; negative: Uint32Array } {
    if (this.sums.length < n) {
      this.sums = new Float32Array(n);
      this.positive = new Uint32Array(wordCount(n));
      this.negative = new Uint32Array(wordCount(n));
    }
    return { sums: this.sums, positive: this.positive, negative: this.negative };
  }
}

const wordCount = (entries: number) => Math.ceil(entries / 32);

/**
 * The mask as 32-bit words (bit t of word w is entry 32w + t), so the loops below skip 32 unclaimed entries at a time;
 * bytes that are unaligned or end in a partial word are copied once into a zero-padded buffer.
 */
function wordsOf(mask: PackedMask): Uint32Array {
  const { bits } = mask;
  if ((bits.byteOffset & 3) === 0 && (bits.length & 3) === 0) {
    return new Uint32Array(bits.buffer, bits.byteOffset, bits.length >> 2);
  }
  const padded = new Uint8Array((bits.length + 3) & ~3);
  padded.set(bits);
  return new Uint32Array(padded.buffer);
}

/**
 * sums[j] += fl32(δ·w) at each set entry j of one input (its values in order), and the entry's sign bit; returns the
 * input's L1 norm. The loops are plain functions over typed arrays, without closures, so V8 keeps the running state
 * in registers; the sign bits of a word are gathered in registers and stored once.
 */
function scatterAdd(
  words: Uint32Array,
  values: Float32Array,
  w: number,
  signWeight: number,
  sums: Float32Array,
  positive: Uint32Array,
  negative: Uint32Array,
): number {
  let k = 0;
  let l1 = 0;
  for (let word = 0; word < words.length; word++) {
    let rest = words[word] as number;
    if (rest === 0) continue;
    const first = word << 5;
    let up = 0;
    let down = 0;
    while (rest !== 0) {
      const low = rest & -rest;
      const j = first + 31 - Math.clz32(low);
      rest ^= low;
      const v = values[k++] as number;
      l1 += Math.abs(v);
      sums[j] = (sums[j] as number) + Math.fround(v * w);
      const x = v * signWeight;
      // branch-free: signs are random, so branches on them would mostly mispredict
      up |= low & -(x > 0);
      down |= low & -(x < 0);
    }
    positive[word] = (positive[word] as number) | up;
    negative[word] = (negative[word] as number) | down;
  }
  return l1;
}

/**
 * Word by word over the inputs' masks: their union (into `union`), and how many entries two or more inputs claim,
 * how many have weighted δs of both signs, and how many any input claims. Clears the sign bits behind it.
 */
function combineWords(
  inputs: readonly Uint32Array[],
  union: Uint32Array,
  positive: Uint32Array,
  negative: Uint32Array,
): { claimed: number; overlapping: number; signConflicts: number } {
  let claimed = 0;
  let overlapping = 0;
  let signConflicts = 0;
  for (let word = 0; word < union.length; word++) {
    let once = 0;
    let twice = 0;
    for (const words of inputs) {
      const m = words[word] as number;
      twice |= once & m;
      once |= m;
    }
    union[word] = once;
    if (once === 0) continue;
    claimed += popcount32(once);
    overlapping += popcount32(twice);
    signConflicts += popcount32((positive[word] as number) & (negative[word] as number));
    positive[word] = 0;
    negative[word] = 0;
  }
  return { claimed, overlapping, signConflicts };
}

/**
 * The merged δ at each entry of the union: the sum, ÷ divisor and · lambda when given; packed into `delta` and added
 * to `base` when given, counting there the entries whose value changes and, of those, the ones whose written value
 * (`stored`, undefined: float32, as is) still differs. Clears the sums behind it. The counting is inline, not a call
 * per entry: this loop visits every entry the tickets claim.
 */
function finish(
  union: Uint32Array,
  sums: Float32Array,
  divisor: number | undefined,
  lambda: number | undefined,
  delta: Float32Array | undefined,
  base: Float32Array | undefined,
  stored: ((x: number) => number) | undefined,
): { changed: number; surviving: number } {
  let k = 0;
  let changed = 0;
  let surviving = 0;
  for (let word = 0; word < union.length; word++) {
    let rest = union[word] as number;
    const first = word << 5;
    while (rest !== 0) {
      const low = rest & -rest;
      const j = first + 31 - Math.clz32(low);
      rest ^= low;
      let m = sums[j] as number;
      sums[j] = 0;
      if (divisor !== undefined) m = Math.fround(m / divisor);
      if (lambda !== undefined) m = Math.fround(m * lambda);
      if (delta) delta[k++] = m;
      if (base) {
        const before = base[j] as number;
        const after = Math.fround(before + m);
        base[j] = after;
        // branch-free where it can be: whether an entry changes is as good as random to the branch predictor
        const differs = +(after !== before);
        changed += differs;
        surviving +=
          differs & +!(stored === undefined ? Object.is(after, before) : Object.is(stored(after), stored(before)));
      }
    }
  }
  return { changed, surviving };
}

/** What SurvivalCounter needs from a loop that visits only the entries something changes. */
export interface ChangeCounter {
  /** The written value of a float32 value; undefined when float32 values are written as they are. */
  readonly stored: ((x: number) => number) | undefined;
  /** Entries whose value changed, and of those the ones whose written value differs from the base's. */
  addCounts(changed: number, surviving: number): void;
}

/**
 * The merged δ of one tensor from sparse inputs (undefined: the input leaves the tensor alone; each input's values
 * match its mask's count, as the source checked). With `base`, θ = fl32(θ_base + δ) is written into it in place
 * (and `changes` is given the counts of what changed); with `packed`, the merged δ is returned packed.
 */
export function mergeSparseTensor(
  name: string,
  entries: number,
  inputs: readonly (SparseDelta | undefined)[],
  rawWeights: readonly number[],
  params: ResolvedParameters,
  scratch: SparseScratch,
  options: { base?: Float32Array; packed?: boolean; changes?: ChangeCounter } = {},
): SparseMergeResult {
  const { base, changes } = options;
  const { sums, positive, negative } = scratch.take(entries);
  const weights = rawWeights.map((w) => Math.fround(w));
  const claims = inputs.map((input) => input?.claimed);
  const words = inputs.map((input) => (input ? wordsOf(input.claimed) : undefined));
  const l1 = inputs.map((input, i) =>
    input
      ? // the interference report's sign test takes the weight as given
        scatterAdd(
          words[i] as Uint32Array,
          input.values,
          weights[i] as number,
          rawWeights[i] as number,
          sums,
          positive,
          negative,
        )
      : 0,
  );

  // the union as a mask of `entries` bits, over a buffer padded to whole words
  const unionWords = new Uint32Array(wordCount(entries));
  const union: PackedMask = { size: entries, bits: new Uint8Array(unionWords.buffer, 0, Math.ceil(entries / 8)) };
  const { claimed, overlapping, signConflicts } = combineWords(
    words.filter((w) => w !== undefined),
    unionWords,
    positive,
    negative,
  );
  let total = 0;
  for (const w of weights) total = Math.fround(total + w);
  const divisor = Math.abs(total) < 1e-8 ? 1 : total;
  const delta = options.packed ? new Float32Array(claimed) : undefined;
  const counted = finish(
    unionWords,
    sums,
    params.normalize ? divisor : undefined,
    params.lambda === 1 ? undefined : Math.fround(params.lambda),
    delta,
    base,
    changes?.stored,
  );
  changes?.addCounts(counted.changed, counted.surviving);

  const claimedBy = inputs.map((input) => input?.values.length ?? 0);
  const intersections = claims.map((a, i) =>
    claims.map((b, j) => (i === j ? (claimedBy[i] as number) : a && b ? overlapCount(a, b) : 0)),
  );
  return {
    mask: union,
    delta,
    interference: {
      name,
      entries,
      claimed,
      overlapping,
      signConflicts,
      claimedBy,
      intersections,
      l1,
      survivingL1: [...l1],
    },
  };
}
