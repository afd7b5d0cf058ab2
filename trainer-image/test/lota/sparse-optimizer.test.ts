import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { randomMasks } from '../../src/lota/extract.ts';
import { getBit, type MaskSet } from '../../src/lota/mask.ts';
import { seededRandom } from '../../src/lota/random.ts';
import { SparseOptimizer } from '../../src/lota/sparse-optimizer.ts';
import { disposeParameters } from '../../src/model/parameters.ts';
import { DenseOptimizer } from '../../src/train/dense-optimizer.ts';
import { train } from '../../src/train/loop.ts';
import { type OptimizerSpec, updateRule } from '../../src/train/update-rules.ts';
import { testBackends, useBackend } from '../helpers/backends.ts';
import { isTarget, snapshot, tinyConfig, tinyExamples, tinyModel } from './tiny-model.ts';

beforeAll(async () => {
  await tf.setBackend('cpu');
});

const examples = tinyExamples(8, 3);

function masksFor(params: Map<string, tf.Variable>, seed: number): MaskSet {
  const sizes = new Map([...params].filter(([n]) => isTarget(n)).map(([n, v]) => [n, v.size]));
  return randomMasks(sizes, 0.9, seededRandom(seed)).masks;
}

async function trainSparse(spec: OptimizerSpec, masks: MaskSet, clip: 'per-tensor' | 'global') {
  const params = tinyModel(1);
  const optimizer = new SparseOptimizer(updateRule(spec), params, masks);
  await train({
    params,
    config: tinyConfig,
    examples,
    optimizer,
    trainable: optimizer.trainable,
    batchSize: 4,
    maxSeqLength: 12,
    padId: 0,
    schedule: { lr: 1e-2 },
    epochs: 2,
    clip: clip === 'global' ? { globalNorm: 1 } : { perTensorNorm: 1 },
  });
  optimizer.dispose();
  const after = snapshot(params);
  disposeParameters(params);
  return after;
}

const OPTIMIZERS: OptimizerSpec[] = [
  { name: 'rmsprop' },
  { name: 'rmsprop', weightDecay: 0.1, momentum: 0.9, centered: true },
  { name: 'adam' },
  { name: 'adam', weightDecay: 0.1 },
  { name: 'adamw', weightDecay: 0.1 },
  { name: 'sgd' },
  { name: 'sgd', momentum: 0.9, nesterov: true, weightDecay: 0.1 },
];

// The snapshots below are taken while the tests are collected; importing the backend list registers wasm as the
// preferred backend, so name cpu first (randomNormal is seeded in JS: the same values on every backend).
await tf.setBackend('cpu');

describe('sparse adaptation', () => {
  const base = (() => {
    const p = tinyModel(1);
    const s = snapshot(p);
    disposeParameters(p);
    return s;
  })();
  const masks = (() => {
    const p = tinyModel(1);
    const m = masksFor(p, 5);
    disposeParameters(p);
    return m;
  })();

  // Zero drift is an invariant of every backend: native, wasm and pure JS (the other tests here run on cpu).
  for (const backend of testBackends()) {
    for (const spec of OPTIMIZERS) {
      it(`${backend}: moves no entry outside the mask (bit-exact) with ${JSON.stringify(spec)}`, async () => {
        await useBackend(backend);
        const after = await trainSparse(spec, masks, spec.name === 'adam' ? 'global' : 'per-tensor').finally(() =>
          useBackend('cpu'),
        );
        let moved = 0;
        for (const [name, before] of base) {
          const now = after.get(name) as Float32Array;
          const mask = masks.get(name);
          for (let i = 0; i < before.length; i++) {
            if (mask && getBit(mask, i)) {
              if (now[i] !== before[i]) moved++;
            } else if (!Object.is(now[i], before[i])) {
              throw new Error(`${name}[${i}] moved outside the mask: ${before[i]} → ${now[i]}`);
            }
          }
        }
        expect(moved).toBeGreaterThan(0);
      });
    }
  }

  it('matches the dense optimizer with zeroed frozen gradients (RMSprop, the reference setting)', async () => {
    const sparse = await trainSparse({ name: 'rmsprop' }, masks, 'per-tensor');
    const params = tinyModel(1);
    const names = [...masks.keys()];
    const maskTensors = new Map(
      names.map((n) => {
        const m = masks.get(n) as NonNullable<ReturnType<typeof masks.get>>;
        const dense = Float32Array.from({ length: m.size }, (_, i) => (getBit(m, i) ? 1 : 0));
        return [n, tf.tensor(dense, (params.get(n) as tf.Variable).shape)];
      }),
    );
    const optimizer = new DenseOptimizer(updateRule({ name: 'rmsprop' }), params, names);
    await train({
      params,
      config: tinyConfig,
      examples,
      optimizer,
      trainable: names,
      batchSize: 4,
      maxSeqLength: 12,
      padId: 0,
      schedule: { lr: 1e-2 },
      epochs: 2,
      clip: { perTensorNorm: 1 },
      transformGrads: (grads) => new Map([...grads].map(([n, g]) => [n, tf.mul(g, maskTensors.get(n) as tf.Tensor)])),
    });
    const dense = snapshot(params);
    optimizer.dispose();
    disposeParameters(params);
    for (const t of maskTensors.values()) t.dispose();
    for (const [name, d] of dense) {
      const s = sparse.get(name) as Float32Array;
      for (let i = 0; i < d.length; i++) expect(Math.abs((s[i] as number) - (d[i] as number))).toBeLessThan(1e-6);
    }
  });

  it('keeps optimizer state only for trainable entries and skips tensors with none', () => {
    const params = tinyModel(1);
    const optimizer = new SparseOptimizer(updateRule({ name: 'adam' }), params, masks);
    let k = 0;
    for (const m of masks.values()) for (let i = 0; i < m.size; i++) if (getBit(m, i)) k++;
    expect(optimizer.stateEntries).toBe(2 * k);
    expect(optimizer.trainable.every(isTarget)).toBe(true);
    optimizer.dispose();
    disposeParameters(params);
  });
});
