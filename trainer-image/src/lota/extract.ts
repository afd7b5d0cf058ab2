// Mask extraction: which entries of the target tensors the sparse phase may train.
//
// Rule (as the reference): k = ⌊(1 − sparsity)·N⌋, t = the k-th largest |Δ| over the N candidate entries, and an
// entry is trainable iff |Δ| ≥ t. Ties at t all stay trainable, so a mask may hold more than k entries; t = 0 (more
// than N − k entries with Δ = 0) freezes nothing; k = 0 freezes everything.
// LoTTO exclusions: entries of earlier tickets count as |Δ| = 0 in the ranking (N still counts them) and are forced
// frozen afterwards, so the new mask is disjoint from every excluded one.

import { andNot, countSet, emptyMask, getBit, type MaskSet, maskWhere, type PackedMask, setBit } from './mask.ts';
import type { Random } from './random.ts';
import { keepCount, kthLargestAbs } from './threshold.ts';

export interface Extraction {
  masks: MaskSet;
  /** Global threshold t, or one per tensor for the per-tensor variant; absent for random masks. */
  threshold?: number;
  thresholds?: Map<string, number>;
  trainable: number;
  total: number;
}

/** Zeroes Δ in place wherever an excluded mask is set (LoTTO). */
function zeroExcluded(deltas: Map<string, Float32Array>, exclude: MaskSet | undefined): void {
  if (!exclude) return;
  for (const [name, mask] of exclude) {
    const delta = deltas.get(name);
    if (!delta) continue;
    if (mask.size !== delta.length) {
      throw new Error(`excluded mask for ${name} has ${mask.size} entries, the tensor has ${delta.length}`);
    }
    const bits = mask.bits;
    for (let byte = 0; byte < bits.length; byte++) {
      const b = bits[byte] as number;
      if (b === 0) continue;
      for (let j = 0; j < 8; j++) if ((b >> j) & 1) delta[(byte << 3) + j] = 0;
    }
  }
}

function finish(deltas: Map<string, Float32Array>, thresholdOf: (name: string) => number, exclude?: MaskSet) {
  const masks: MaskSet = new Map();
  let trainable = 0;
  let total = 0;
  for (const [name, delta] of deltas) {
    const t = thresholdOf(name);
    let mask = maskWhere(delta, (x) => Math.abs(x) >= t);
    const ex = exclude?.get(name);
    if (ex) mask = andNot(mask, ex);
    masks.set(name, mask);
    trainable += countSet(mask);
    total += delta.length;
  }
  return { masks, trainable, total };
}

/** Global top-k over all target tensors together (the LoTA default). Zeroes Δ at excluded entries in place. */
export function globalTopK(deltas: Map<string, Float32Array>, sparsity: number, exclude?: MaskSet): Extraction {
  zeroExcluded(deltas, exclude);
  const arrays = [...deltas.values()];
  const n = arrays.reduce((s, a) => s + a.length, 0);
  const threshold = kthLargestAbs(arrays, keepCount(sparsity, n));
  return { ...finish(deltas, () => threshold, exclude), threshold };
}

/** Top-k within each tensor separately (ablation): every tensor keeps the same fraction. */
export function perTensorTopK(deltas: Map<string, Float32Array>, sparsity: number, exclude?: MaskSet): Extraction {
  zeroExcluded(deltas, exclude);
  const thresholds = new Map<string, number>();
  for (const [name, delta] of deltas) thresholds.set(name, kthLargestAbs([delta], keepCount(sparsity, delta.length)));
  return { ...finish(deltas, (name) => thresholds.get(name) as number, exclude), thresholds };
}

/**
 * Random mask (ablation baseline): per tensor, exactly ⌊(1 − sparsity)·n⌋ entries (or all candidates if fewer
 * remain), uniformly among the entries not excluded — selection sampling (Knuth's Algorithm S), one pass, no index
 * arrays. Deterministic for a given generator state.
 */
export function randomMasks(
  sizes: Map<string, number>,
  sparsity: number,
  random: Random,
  exclude?: MaskSet,
): Extraction {
  const masks: MaskSet = new Map();
  let trainable = 0;
  let total = 0;
  for (const [name, size] of sizes) {
    const ex = exclude?.get(name);
    if (ex && ex.size !== size)
      throw new Error(`excluded mask for ${name} has ${ex.size} entries, the tensor has ${size}`);
    const mask = sampleMask(size, keepCount(sparsity, size), random, ex);
    masks.set(name, mask);
    trainable += countSet(mask);
    total += size;
  }
  return { masks, trainable, total };
}

function sampleMask(size: number, k: number, random: Random, exclude?: PackedMask): PackedMask {
  const mask = emptyMask(size);
  let candidates = exclude ? size - countSet(exclude) : size;
  let needed = Math.min(k, candidates);
  for (let i = 0; i < size && needed > 0; i++) {
    if (exclude && getBit(exclude, i)) continue;
    if (random() * candidates < needed) {
      setBit(mask, i);
      needed--;
    }
    candidates--;
  }
  return mask;
}
