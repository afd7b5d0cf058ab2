// The streaming path of `sum` and `task-arithmetic` over tickets: each ticket's entries are scatter-added into one
// float32 scratch, and only the entries some ticket claims are touched again to finish the merged δ (and add it to
// the base). The arithmetic is mergeTensor's (methods.ts) in its order — mixed = Σ_i fl32(w_i·δ_i) from 0, then
// ÷ Σw when normalizing, then ·λ — so the two paths agree bit for bit; no ticket is ever made dense. The
// interference figures come out of the same passes.
import { countSet, overlapCount, type PackedMask } from '../lota/mask.ts';
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

// Per-entry flags in the scratch: the weighted δs seen were positive / negative; claimed by one / by two or more.
const POSITIVE = 1;
const CLAIMED = 4; // (NEGATIVE = 2, SHARED = 8 = CLAIMED << 1, written as shifts in the loops)
const SHARED = 8;

/** Scratch reused from tensor to tensor (float32 sums and flag bytes), all zero between calls. */
export class SparseScratch {
  private sums = new Float32Array(0);
  private flags = new Uint8Array(0);

  take(n: number): { sums: Float32Array; flags: Uint8Array } {
    if (this.sums.length < n) {
      this.sums = new Float32Array(n);
      this.flags = new Uint8Array(n);
    }
    return { sums: this.sums, flags: this.flags };
  }
}

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
 * sums[j] += fl32(δ·w) at each set entry j of one input (its values in order), with the sign and claim flags; returns
 * the input's L1 norm. The loops are plain functions over typed arrays, without closures, so V8 keeps the running
 * state in registers.
 */
function scatterAdd(
  words: Uint32Array,
  values: Float32Array,
  w: number,
  signWeight: number,
  sums: Float32Array,
  flags: Uint8Array,
): number {
  let k = 0;
  let l1 = 0;
  for (let word = 0; word < words.length; word++) {
    let rest = words[word] as number;
    const first = word << 5;
    while (rest !== 0) {
      const low = rest & -rest;
      const j = first + 31 - Math.clz32(low);
      rest ^= low;
      const v = values[k++] as number;
      l1 += Math.abs(v);
      sums[j] = (sums[j] as number) + Math.fround(v * w);
      const x = v * signWeight;
      const f = flags[j] as number;
      // branch-free: signs are random, so branches on them would mostly mispredict
      flags[j] = f | CLAIMED | ((f & CLAIMED) << 1) | +(x > 0) | (+(x < 0) << 1);
    }
  }
  return l1;
}

/**
 * The merged δ at each entry some input claims: the sum, ÷ divisor and · lambda when given; packed into `delta` and
 * added to `base` when given. Clears the scratch behind it and counts the shared entries and the sign conflicts.
 */
function finish(
  words: Uint32Array,
  sums: Float32Array,
  flags: Uint8Array,
  divisor: number | undefined,
  lambda: number | undefined,
  delta: Float32Array | undefined,
  base: Float32Array | undefined,
  changes: ChangeCounter | undefined,
): { overlapping: number; signConflicts: number } {
  let overlapping = 0;
  let signConflicts = 0;
  let k = 0;
  for (let word = 0; word < words.length; word++) {
    let rest = words[word] as number;
    const first = word << 5;
    while (rest !== 0) {
      const low = rest & -rest;
      const j = first + 31 - Math.clz32(low);
      rest ^= low;
      let m = sums[j] as number;
      if (divisor !== undefined) m = Math.fround(m / divisor);
      if (lambda !== undefined) m = Math.fround(m * lambda);
      if (delta) delta[k] = m;
      k++;
      if (base) {
        const before = base[j] as number;
        const after = Math.fround(before + m);
        base[j] = after;
        changes?.addEntry(before, after);
      }
      const f = flags[j] as number;
      overlapping += (f & SHARED) >> 3;
      signConflicts += f & (f >> 1) & POSITIVE;
      sums[j] = 0;
      flags[j] = 0;
    }
  }
  return { overlapping, signConflicts };
}

/** OR of the inputs' masks, a 32-bit word at a time where the bytes line up. */
function unionOf(entries: number, masks: readonly PackedMask[]): PackedMask {
  const bits = new Uint8Array(Math.ceil(entries / 8));
  const words = new Uint32Array(bits.buffer, 0, bits.length >> 2);
  for (const { bits: m } of masks) {
    if ((m.byteOffset & 3) === 0) {
      const w = new Uint32Array(m.buffer, m.byteOffset, words.length);
      for (let i = 0; i < words.length; i++) words[i] = (words[i] as number) | (w[i] as number);
      for (let i = words.length << 2; i < bits.length; i++) bits[i] = (bits[i] as number) | (m[i] as number);
    } else {
      for (let i = 0; i < bits.length; i++) bits[i] = (bits[i] as number) | (m[i] as number);
    }
  }
  return { size: entries, bits };
}

/** Told each entry the merge changes in `base`: its value before and after (SurvivalCounter.addEntry). */
export interface ChangeCounter {
  addEntry(before: number, after: number): void;
}

/**
 * The merged δ of one tensor from sparse inputs (undefined: the input leaves the tensor alone; each input's values
 * match its mask's count, as the source checked). With `base`, θ = fl32(θ_base + δ) is written into it in place
 * (and each entry some input claims is shown to `changes`); with `packed`, the merged δ is returned packed.
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
  const { sums, flags } = scratch.take(entries);
  const weights = rawWeights.map((w) => Math.fround(w));
  const l1 = inputs.map(() => 0);
  for (const [i, input] of inputs.entries()) {
    if (!input) continue;
    // the interference report's sign test takes the weight as given
    l1[i] = scatterAdd(
      wordsOf(input.claimed),
      input.values,
      weights[i] as number,
      rawWeights[i] as number,
      sums,
      flags,
    );
  }

  const claims = inputs.map((input) => input?.claimed);
  const union = unionOf(
    entries,
    claims.filter((c) => c !== undefined),
  );
  let total = 0;
  for (const w of weights) total = Math.fround(total + w);
  const divisor = params.normalize ? (Math.abs(total) < 1e-8 ? 1 : total) : 1;
  const claimed = countSet(union);
  const delta = options.packed ? new Float32Array(claimed) : undefined;
  const { overlapping, signConflicts } = finish(
    wordsOf(union),
    sums,
    flags,
    params.normalize ? divisor : undefined,
    params.lambda === 1 ? undefined : Math.fround(params.lambda),
    delta,
    base,
    changes,
  );

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
