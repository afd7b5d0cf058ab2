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
  /** The set entries of `claimed` in ascending order, when the source has them at hand (one per value). */
  indices?: Uint32Array;
}

export interface SparseMergeResult {
  /** Entries some input claims, and (with `packed`) the merged δ there in ascending order, as a ticket stores them. */
  mask: PackedMask;
  delta: Float32Array | undefined;
  interference: TensorInterference;
}

/**
 * Scratch reused from tensor to tensor: the float32 sums and one bit per entry for "some weighted δ here was
 * positive" and "… negative" (32 entries a word, like the masks), all zero between calls, and a word array for "two
 * inputs claim this entry".
 */
export class SparseScratch {
  private sums = new Float32Array(0);
  private positive = new Uint32Array(0);
  private negative = new Uint32Array(0);
  private twice = new Uint32Array(0);

  take(n: number): { sums: Float32Array; positive: Uint32Array; negative: Uint32Array; twice: Uint32Array } {
    if (this.sums.length < n) {
      this.sums = new Float32Array(n);
      this.positive = new Uint32Array(wordCount(n));
      this.negative = new Uint32Array(wordCount(n));
      this.twice = new Uint32Array(wordCount(n));
    }
    return { sums: this.sums, positive: this.positive, negative: this.negative, twice: this.twice };
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

/** scatterAdd over the entries' indices instead of the mask's words: no bit scan, no mispredicted loop exits. */
function scatterAddAt(
  indices: Uint32Array,
  values: Float32Array,
  w: number,
  signWeight: number,
  sums: Float32Array,
  positive: Uint32Array,
  negative: Uint32Array,
): number {
  let l1 = 0;
  for (let k = 0; k < indices.length; k++) {
    const j = indices[k] as number;
    const v = values[k] as number;
    l1 += Math.abs(v);
    sums[j] = (sums[j] as number) + Math.fround(v * w);
    const x = v * signWeight;
    const bit = 1 << (j & 31);
    const word = j >>> 5;
    positive[word] = (positive[word] as number) | (bit & -(x > 0));
    negative[word] = (negative[word] as number) | (bit & -(x < 0));
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
  twice: Uint32Array,
  positive: Uint32Array,
  negative: Uint32Array,
): { claimed: number; overlapping: number; signConflicts: number } {
  // one tight pass per input, then one over the words (a loop over the inputs inside the loop over words is slower)
  union.fill(0);
  twice.fill(0);
  for (const words of inputs) {
    for (let word = 0; word < union.length; word++) {
      const m = words[word] as number;
      const once = union[word] as number;
      twice[word] = (twice[word] as number) | (once & m);
      union[word] = once | m;
    }
  }
  let claimed = 0;
  let overlapping = 0;
  let signConflicts = 0;
  for (let word = 0; word < union.length; word++) {
    claimed += popcount32(union[word] as number);
    overlapping += popcount32(twice[word] as number);
    signConflicts += popcount32((positive[word] as number) & (negative[word] as number));
  }
  positive.fill(0, 0, union.length);
  negative.fill(0, 0, union.length);
  return { claimed, overlapping, signConflicts };
}

// The merged δ at each entry of the union is the sum, ÷ divisor and · lambda when given (scaleSums); it is then
// packed (packDelta) or added to the base (addToBase). Each loop clears the sums behind it when it is the last. The
// packing and the two additions are functions of their own without branches on options inside (those cost as much
// as the work); scaleSums, which runs only for normalize or lambda ≠ 1, keeps its two.

function scaleSums(union: Uint32Array, sums: Float32Array, divisor: number | undefined, lambda: number | undefined) {
  for (let word = 0; word < union.length; word++) {
    let rest = union[word] as number;
    const first = word << 5;
    while (rest !== 0) {
      const j = first + 31 - Math.clz32(rest & -rest);
      rest &= rest - 1;
      let m = sums[j] as number;
      if (divisor !== undefined) m = Math.fround(m / divisor);
      if (lambda !== undefined) m = Math.fround(m * lambda);
      sums[j] = m;
    }
  }
}

function packDelta(union: Uint32Array, sums: Float32Array, delta: Float32Array): void {
  let k = 0;
  for (let word = 0; word < union.length; word++) {
    let rest = union[word] as number;
    const first = word << 5;
    while (rest !== 0) {
      const j = first + 31 - Math.clz32(rest & -rest);
      rest &= rest - 1;
      delta[k++] = sums[j] as number;
      sums[j] = 0;
    }
  }
}

/**
 * θ = fl32(θ_base + δ) at each entry of the union, in `base`; counts the entries whose value changes and, of those,
 * the ones whose written value (`stored`: the written dtype's rounding; undefined: float32, written as is) still
 * differs from the base's, as SurvivalCounter.add counts them. Counted branch-free: whether an entry changes is as
 * good as random to the branch predictor. (float32 has a loop of its own: the call and Object.is cost as much as the
 * rest; a changed float32 entry's written value differs unless both are NaN.)
 */
function addToBase(
  union: Uint32Array,
  sums: Float32Array,
  base: Float32Array,
  stored: ((x: number) => number) | undefined,
): { changed: number; surviving: number } {
  if (stored !== undefined) return addToBaseRounded(union, sums, base, stored);
  let changed = 0;
  let surviving = 0;
  for (let word = 0; word < union.length; word++) {
    let rest = union[word] as number;
    const first = word << 5;
    while (rest !== 0) {
      const j = first + 31 - Math.clz32(rest & -rest);
      rest &= rest - 1;
      const before = base[j] as number;
      const after = Math.fround(before + (sums[j] as number));
      sums[j] = 0;
      base[j] = after;
      const differs = +(after !== before);
      changed += differs;
      surviving += differs & +!(Number.isNaN(after) && Number.isNaN(before));
    }
  }
  return { changed, surviving };
}

function addToBaseRounded(
  union: Uint32Array,
  sums: Float32Array,
  base: Float32Array,
  stored: (x: number) => number,
): { changed: number; surviving: number } {
  let changed = 0;
  let surviving = 0;
  for (let word = 0; word < union.length; word++) {
    let rest = union[word] as number;
    const first = word << 5;
    while (rest !== 0) {
      const j = first + 31 - Math.clz32(rest & -rest);
      rest &= rest - 1;
      const before = base[j] as number;
      const after = Math.fround(before + (sums[j] as number));
      sums[j] = 0;
      base[j] = after;
      const differs = +(after !== before);
      changed += differs;
      surviving += differs & +!Object.is(stored(after), stored(before));
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
 * match its mask's count, as the source checked). Into a `base`, θ = fl32(θ_base + δ) is written in place
 * (and `changes` is given the counts of what changed); with `packed`, the merged δ is returned packed.
 */
export function mergeSparseTensor(
  name: string,
  entries: number,
  inputs: readonly (SparseDelta | undefined)[],
  rawWeights: readonly number[],
  params: ResolvedParameters,
  scratch: SparseScratch,
  output: { base: Float32Array; changes?: ChangeCounter } | { packed: true },
): SparseMergeResult {
  const { sums, positive, negative, twice } = scratch.take(entries);
  const weights = rawWeights.map((w) => Math.fround(w));
  const claims = inputs.map((input) => input?.claimed);
  const words = inputs.map((input) => (input ? wordsOf(input.claimed) : undefined));
  // (the interference report's sign test takes the weight as given)
  const l1 = inputs.map((input, i) => {
    if (!input) return 0;
    const w = weights[i] as number;
    const signWeight = rawWeights[i] as number;
    return input.indices && input.indices.length === input.values.length
      ? scatterAddAt(input.indices, input.values, w, signWeight, sums, positive, negative)
      : scatterAdd(words[i] as Uint32Array, input.values, w, signWeight, sums, positive, negative);
  });

  // the union as a mask of `entries` bits, over a buffer padded to whole words
  const unionWords = new Uint32Array(wordCount(entries));
  const union: PackedMask = { size: entries, bits: new Uint8Array(unionWords.buffer, 0, Math.ceil(entries / 8)) };
  const { claimed, overlapping, signConflicts } = combineWords(
    words.filter((w) => w !== undefined),
    unionWords,
    twice,
    positive,
    negative,
  );
  let total = 0;
  for (const w of weights) total = Math.fround(total + w);
  const divisor = Math.abs(total) < 1e-8 ? 1 : total;
  const divide = params.normalize ? divisor : undefined;
  const lambda = params.lambda === 1 ? undefined : Math.fround(params.lambda);
  if (divide !== undefined || lambda !== undefined) scaleSums(unionWords, sums, divide, lambda);
  let delta: Float32Array | undefined;
  if ('packed' in output) {
    delta = new Float32Array(claimed);
    packDelta(unionWords, sums, delta);
  } else {
    const counted = addToBase(unionWords, sums, output.base, output.changes?.stored);
    output.changes?.addCounts(counted.changed, counted.surviving);
  }

  const claimedBy = inputs.map((input) => input?.values.length ?? 0);
  // symmetric: each pair is counted once
  const intersections = claims.map((_, i) => claims.map((_, j) => (i === j ? (claimedBy[i] as number) : 0)));
  for (const [i, a] of claims.entries()) {
    for (let j = i + 1; j < claims.length; j++) {
      const b = claims[j];
      const n = a && b ? overlapCount(a, b) : 0;
      (intersections[i] as number[])[j] = n;
      (intersections[j] as number[])[i] = n;
    }
  }
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
