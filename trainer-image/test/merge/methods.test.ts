import { describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/lota/random.ts';
import {
  type MergeMethodName,
  type MergeParameters,
  mergeTensor,
  parametersFromSpec,
  resolveParameters,
} from '../../src/merge/methods.ts';
import { magnitudeMask, sparsify } from '../../src/merge/sparsify.ts';

function merge(
  method: MergeMethodName,
  deltas: number[][],
  weights: number[],
  parameters: MergeParameters = {},
  density = 1,
) {
  const params = resolveParameters(method, parameters);
  return mergeTensor(method, params, {
    tensor: 't',
    deltas: deltas.map((d) => Float32Array.from(d)),
    weights,
    densities: deltas.map(() => density),
    randoms: deltas.map((_, i) => seededRandom(i + 1)),
  });
}

describe('merge methods (MergeKit generalized task arithmetic)', () => {
  it('sum adds weighted deltas with no normalisation', () => {
    expect(
      Array.from(
        merge(
          'sum',
          [
            [1, -2],
            [0.5, 0.25],
          ],
          [1, 2],
        ).delta,
      ),
    ).toEqual([2, -1.5]);
  });

  it('task-arithmetic scales by lambda and normalises by the summed weights only when asked', () => {
    expect(
      Array.from(
        merge(
          'task-arithmetic',
          [
            [1, -2],
            [3, 2],
          ],
          [1, 1],
          { lambda: 0.5 },
        ).delta,
      ),
    ).toEqual([2, 0]);
    expect(
      Array.from(
        merge(
          'task-arithmetic',
          [
            [1, -2],
            [3, 2],
          ],
          [1, 3],
          { normalize: true },
        ).delta,
      ),
    ).toEqual([2.5, 1]);
    // weights summing to ~0 divide by 1 instead (MergeKit's guard)
    expect(Array.from(merge('task-arithmetic', [[1], [3]], [1, -1], { normalize: true }).delta)).toEqual([-2]);
  });

  it('ties trims by magnitude, elects signs by weighted sum, and averages the agreeing inputs', () => {
    const deltas = [
      [1, -2, 0.5, 3],
      [-1.5, -1, 2, -4],
    ];
    // trimmed to 2 entries each: [0, -2, 0, 3] and [0, 0, 2, -4]
    expect(Array.from(merge('ties', deltas, [1, 1], {}, 0.5).delta)).toEqual([0, -2, 2, -4]);
    // weight 2 on the first flips the election at entry 3: (2·3 − 4) > 0, mean over agreeing = 6 / 2
    expect(Array.from(merge('ties', deltas, [2, 1], {}, 0.5).delta)).toEqual([0, -2, 2, 3]);
    const { contributed } = merge('ties', deltas, [1, 1], {}, 0.5);
    expect(contributed.map((c) => Array.from(c as Uint8Array))).toEqual([
      [0, 1, 0, 0],
      [0, 0, 1, 1],
    ]);
    // without normalisation the agreeing weighted deltas are summed
    expect(Array.from(merge('ties', deltas, [2, 1], { normalize: false }, 0.5).delta)).toEqual([0, -4, 2, 6]);
  });

  it('ties with count consensus votes by sign, not magnitude', () => {
    const deltas = [[5], [-1], [-1]];
    expect(Array.from(merge('ties', deltas, [1, 1, 1], {}, 1).delta)).toEqual([5]);
    expect(Array.from(merge('ties', deltas, [1, 1, 1], { consensus: 'count' }, 1).delta)).toEqual([-1]);
  });

  it('a zero sign sum elects +1, and zero entries never agree', () => {
    expect(Array.from(merge('ties', [[2], [-2]], [1, 1], {}, 1).delta)).toEqual([2]);
    expect(Array.from(merge('ties', [[0], [0]], [1, 1], {}, 1).delta)).toEqual([0]);
  });

  it('refuses parameters a method does not use, and bad values', () => {
    expect(() => resolveParameters('sum', { lambda: 2 })).toThrow(/'lambda' does not apply to method sum/);
    expect(() => resolveParameters('task-arithmetic', { density: 0.5 })).toThrow(/'density' does not apply/);
    expect(() => resolveParameters('ties', { rescale: 'l3' as never })).toThrow(/rescale must be/);
    expect(() => resolveParameters('dare-ties', { seed: -1 })).toThrow(/seed must be/);
    expect(resolveParameters('dare-linear', { rescale: true }).rescale).toBe('l1');
    expect(resolveParameters('dare-linear', {}).rescale).toBe('l1');
    expect(resolveParameters('ties', {}).normalize).toBe(true);
    expect(resolveParameters('dare-ties', {}).normalize).toBe(false);
  });
});

describe('sparsification', () => {
  it('magnitude keeps int(density·n) entries; ties at the cut go to the lowest indices', () => {
    const delta = Float32Array.from([0.5, -1, 0.5, 0.25, 1, 0.5]);
    expect(Array.from(magnitudeMask(delta, 0.5, 't'))).toEqual([1, 1, 0, 0, 1, 0]);
    expect(Array.from(magnitudeMask(delta, 0.34, 't'))).toEqual([0, 1, 0, 0, 1, 0]);
    expect(() => magnitudeMask(delta, 0.1, 'w')).toThrow(/w: density 0.1 keeps int\(0.1 × 6\) = 0 entries/);
  });

  it('DARE keeps about density of the entries, seeded, and rescales by 1/density or to the same L1 norm', () => {
    const n = 100_000;
    const delta = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.01);
    const a = sparsify(delta, 'random', 0.3, 'inverse-density', seededRandom(42), 't');
    const b = sparsify(delta, 'random', 0.3, 'l1', seededRandom(42), 't');
    expect(a.kept).toEqual(b.kept);
    const kept = (a.kept as Uint8Array).reduce((s, x) => s + x, 0);
    expect(kept / n).toBeGreaterThan(0.29);
    expect(kept / n).toBeLessThan(0.31);
    let wrong = 0;
    for (let i = 0; i < n; i++) {
      const expected = (a.kept as Uint8Array)[i] ? Math.fround((delta[i] as number) / 0.3) : 0;
      if (a.values[i] !== expected) wrong++;
    }
    expect(wrong).toBe(0);
    const l1 = (v: Float32Array) => v.reduce((s, x) => s + Math.abs(x), 0);
    expect(l1(b.values) / l1(delta)).toBeCloseTo(1, 5);
    const none = sparsify(delta, 'random', 0.3, 'none', seededRandom(42), 't');
    expect(none.values.filter((x, i) => x !== 0 && x !== delta[i]).length).toBe(0);
  });

  it('density 1 leaves the task vector untouched and density <= 0 is refused', () => {
    const delta = Float32Array.from([1, 2]);
    expect(sparsify(delta, 'random', 1, 'l1', seededRandom(1), 't')).toEqual({ values: delta, kept: undefined });
    expect(() => sparsify(delta, 'magnitude', 0, 'none', seededRandom(1), 't')).toThrow(/density must be in/);
  });
});

describe('parameters from a stored TicketMerge spec', () => {
  const stored = { lambda: 1, consensus: 'sum', normalize: true, rescale: true, seed: 0, density: 0.4 };
  it('keeps only what the API documents for the method, so defaults never change MergeKit semantics', () => {
    expect(parametersFromSpec('sum', stored)).toEqual({});
    expect(parametersFromSpec('task-arithmetic', stored)).toEqual({ lambda: 1 });
    expect(parametersFromSpec('ties', stored)).toEqual({ lambda: 1, consensus: 'sum', normalize: true, density: 0.4 });
    expect(parametersFromSpec('dare-linear', stored)).toEqual({ lambda: 1, rescale: true, seed: 0, density: 0.4 });
    for (const method of ['sum', 'task-arithmetic', 'ties', 'dare-linear', 'dare-ties'] as const) {
      expect(() => resolveParameters(method, parametersFromSpec(method, stored))).not.toThrow();
    }
    expect(resolveParameters('task-arithmetic', parametersFromSpec('task-arithmetic', stored)).normalize).toBe(false);
    expect(resolveParameters('ties', parametersFromSpec('ties', stored)).rescale).toBe('none');
  });
});
