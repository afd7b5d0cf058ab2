// Sparsification of one task vector (one tensor), as MergeKit's `sparsify.py` defines it:
//   magnitude: keep the k = int(density · n) largest |δ| (MergeKit refuses k = 0), zero the rest;
//   random:    keep each entry with probability `density` (a seeded Bernoulli draw; DARE), zero the rest;
// then optionally rescale what is kept:
//   'l1':              multiply by ‖δ‖₁ / ‖kept‖₁ (MergeKit since the "Generic Sparsification Rescaling" change,
//                      tagged from v0.0.6 and in every 0.1.x; skipped when either norm is below 1e-7);
//   'inverse-density': divide by density (the DARE paper, and MergeKit before that change).
// density >= 1 returns the task vector unchanged, as MergeKit does.
import { kthLargestAbs } from '../lota/threshold.ts';

export type Rescale = 'none' | 'l1' | 'inverse-density';
export type Sparsification = 'magnitude' | 'random';

/** MergeKit's tolerance below which a norm is treated as zero and no rescaling happens. */
const RESCALE_EPS = 1e-7;

export interface Sparsified {
  /** The sparsified (and rescaled) task vector; `delta` itself when nothing was dropped. */
  values: Float32Array;
  /** 1 where the entry was kept; undefined when everything was. */
  kept: Uint8Array | undefined;
}

export function sparsify(
  delta: Float32Array,
  method: Sparsification,
  density: number,
  rescale: Rescale,
  random: () => number,
  tensor: string,
): Sparsified {
  if (!(density > 0)) throw new RangeError(`${tensor}: density must be in (0, 1], got ${density}`);
  if (density >= 1) return { values: delta, kept: undefined };
  const kept =
    method === 'magnitude' ? magnitudeMask(delta, density, tensor) : bernoulliMask(delta.length, density, random);
  const values = new Float32Array(delta.length);
  for (let i = 0; i < delta.length; i++) if (kept[i]) values[i] = delta[i] as number;
  applyRescale(delta, values, density, rescale);
  return { values, kept };
}

/** The k = int(density · n) entries of largest |δ|; among equal magnitudes at the cut, the lowest indices. */
export function magnitudeMask(delta: Float32Array, density: number, tensor: string): Uint8Array {
  const k = Math.trunc(density * delta.length);
  if (k <= 0) {
    throw new RangeError(
      `${tensor}: density ${density} keeps int(${density} × ${delta.length}) = 0 entries (MergeKit refuses this too)`,
    );
  }
  const threshold = kthLargestAbs([delta], k);
  const kept = new Uint8Array(delta.length);
  let above = 0;
  for (let i = 0; i < delta.length; i++) {
    if (Math.abs(delta[i] as number) > threshold) {
      kept[i] = 1;
      above++;
    }
  }
  let atThreshold = k - above;
  for (let i = 0; i < delta.length && atThreshold > 0; i++) {
    if (Math.abs(delta[i] as number) === threshold) {
      kept[i] = 1;
      atThreshold--;
    }
  }
  return kept;
}

function bernoulliMask(n: number, density: number, random: () => number): Uint8Array {
  const kept = new Uint8Array(n);
  for (let i = 0; i < n; i++) kept[i] = random() < density ? 1 : 0;
  return kept;
}

function applyRescale(original: Float32Array, kept: Float32Array, density: number, rescale: Rescale): void {
  if (rescale === 'none') return;
  if (rescale === 'inverse-density') {
    for (let i = 0; i < kept.length; i++) kept[i] = (kept[i] as number) / density;
    return;
  }
  let before = 0;
  let after = 0;
  for (let i = 0; i < original.length; i++) {
    before += Math.abs(original[i] as number);
    after += Math.abs(kept[i] as number);
  }
  if (before < RESCALE_EPS || after < RESCALE_EPS) return;
  const scale = Math.fround(Math.fround(before) / Math.fround(after));
  for (let i = 0; i < kept.length; i++) kept[i] = (kept[i] as number) * scale;
}
