import { describe, expect, it } from 'vitest';
import { globalTopK, perTensorTopK, randomMasks } from '../../src/lota/extract.ts';
import { countSet, disjoint, getBit } from '../../src/lota/mask.ts';
import { seededRandom } from '../../src/lota/random.ts';
import { keepCount, kthLargestAbs } from '../../src/lota/threshold.ts';

/** The obvious reference: sort every |x| descending and take the k-th. */
function sortedKth(arrays: Float32Array[], k: number): number {
  if (k === 0) return Number.POSITIVE_INFINITY;
  const all = Float32Array.from(arrays.flatMap((a) => Array.from(a, Math.abs)));
  all.sort();
  return all[all.length - k] as number;
}

function randomTensors(seed: number, sizes: number[], levels?: number): Float32Array[] {
  const random = seededRandom(seed);
  return sizes.map((n) =>
    Float32Array.from({ length: n }, () => {
      const u = random() * 2 - 1;
      // Few distinct levels make many exact ties; otherwise a wide dynamic range exercises both radix passes.
      return levels ? Math.round(u * levels) / levels : u * 10 ** Math.floor(random() * 12 - 8);
    }),
  );
}

const SPARSITIES = [0.5, 0.9, 0.99, 0.999];

describe('kthLargestAbs', () => {
  for (const sparsity of SPARSITIES) {
    it(`equals the sort-based k-th largest at sparsity ${sparsity}`, () => {
      for (const [seed, levels] of [
        [1, undefined],
        [2, 7],
        [3, 1000],
      ] as const) {
        const arrays = randomTensors(seed, [1000, 4099, 3, 20_000], levels);
        const n = arrays.reduce((s, a) => s + a.length, 0);
        const k = keepCount(sparsity, n);
        expect(kthLargestAbs(arrays, k)).toBe(sortedKth(arrays, k));
      }
    });
  }

  it('agrees with the reference for every k on a small tied input', () => {
    const arrays = [Float32Array.from([0.5, -0.5, 0, -0, 3, 1e-30, -3, 0.25]), Float32Array.from([0.5, 7])];
    for (let k = 0; k <= 10; k++) expect(kthLargestAbs(arrays, k)).toBe(sortedKth(arrays, k));
  });

  it('returns 0 for an all-zero Δ (including -0)', () => {
    expect(kthLargestAbs([new Float32Array(100), Float32Array.from([-0, 0])], 5)).toBe(0);
  });

  it('rejects NaN, Infinity and out-of-range k', () => {
    expect(() => kthLargestAbs([Float32Array.from([1, Number.NaN])], 1)).toThrow(/NaN or Infinity/);
    expect(() => kthLargestAbs([Float32Array.from([1, Number.NEGATIVE_INFINITY])], 0)).toThrow(/NaN or Infinity/);
    expect(() => kthLargestAbs([Float32Array.from([1])], 2)).toThrow(/k must be/);
  });
});

describe('keepCount', () => {
  it('is ⌊(1 − s)·n⌋ without floating-point loss', () => {
    expect(keepCount(0.9, 10)).toBe(1);
    expect(keepCount(0.99, 100)).toBe(1);
    expect(keepCount(0.5, 7)).toBe(3);
    expect(keepCount(0, 7)).toBe(7);
    expect(() => keepCount(1, 7)).toThrow(/sparsity/);
  });
});

describe('mask extraction', () => {
  it('global top-k keeps exactly the entries with |Δ| ≥ t, ties included', () => {
    const arrays = randomTensors(5, [300, 517], 5);
    const deltas = new Map(arrays.map((a, i) => [`t${i}`, a]));
    const sparsity = 0.9;
    const n = 817;
    const { masks, threshold, trainable, total } = globalTopK(deltas, sparsity);
    const t = sortedKth(arrays, keepCount(sparsity, n));
    expect(threshold).toBe(t);
    expect(total).toBe(n);
    const expected = arrays.reduce((s, a) => s + a.filter((x) => Math.abs(x) >= t).length, 0);
    expect(trainable).toBe(expected);
    expect(trainable).toBeGreaterThanOrEqual(keepCount(sparsity, n)); // ties at t survive
    for (const [name, mask] of masks) {
      const delta = deltas.get(name) as Float32Array;
      for (let i = 0; i < delta.length; i++) expect(getBit(mask, i)).toBe(Math.abs(delta[i] as number) >= t);
    }
  });

  it('freezes nothing when t = 0', () => {
    const delta = new Float32Array(64);
    delta[3] = 1;
    const { masks, threshold } = globalTopK(new Map([['w', delta]]), 0.5);
    expect(threshold).toBe(0);
    expect(countSet(masks.get('w') as never)).toBe(64);
  });

  it('excluded entries rank as zero and are forced frozen (disjoint from the exclusion)', () => {
    const [a, b] = randomTensors(9, [1000, 999]) as [Float32Array, Float32Array];
    const first = globalTopK(
      new Map([
        ['a', a.slice()],
        ['b', b.slice()],
      ]),
      0.9,
    );
    const second = globalTopK(
      new Map([
        ['a', a.slice()],
        ['b', b.slice()],
      ]),
      0.9,
      first.masks,
    );
    for (const name of ['a', 'b'])
      expect(disjoint(first.masks.get(name) as never, second.masks.get(name) as never)).toBe(true);
    // With |Δ| zeroed at the first mask the second takes the next-largest entries: the same k of them.
    expect(second.trainable).toBe(first.trainable);
    // Even when t = 0 freezes nothing else, excluded entries stay frozen.
    const all = globalTopK(
      new Map([
        ['a', a.slice()],
        ['b', b.slice()],
      ]),
      0,
      first.masks,
    );
    expect(all.trainable).toBe(1999 - first.trainable);
  });

  it('per-tensor top-k keeps the same fraction of every tensor', () => {
    const arrays = randomTensors(11, [1000, 2000]);
    const { masks } = perTensorTopK(new Map(arrays.map((a, i) => [`t${i}`, a])), 0.9);
    expect(countSet(masks.get('t0') as never)).toBe(100);
    expect(countSet(masks.get('t1') as never)).toBe(200);
  });

  it('random masks hold exactly k entries, avoid exclusions and repeat for a seed', () => {
    const sizes = new Map([
      ['a', 1001],
      ['b', 64],
    ]);
    const one = randomMasks(sizes, 0.9, seededRandom(42));
    const two = randomMasks(sizes, 0.9, seededRandom(42));
    expect(countSet(one.masks.get('a') as never)).toBe(100);
    expect(countSet(one.masks.get('b') as never)).toBe(6);
    expect(one.masks.get('a')?.bits).toEqual(two.masks.get('a')?.bits);
    const other = randomMasks(sizes, 0.9, seededRandom(43), one.masks);
    expect(disjoint(one.masks.get('a') as never, other.masks.get('a') as never)).toBe(true);
    expect(countSet(other.masks.get('a') as never)).toBe(100);
  });
});
