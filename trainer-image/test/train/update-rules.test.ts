// Each update rule takes the same steps as its torch.optim counterpart, on tensors of any shape, and so does the
// optimizer that applies it to parameters (on native, Adam and AdamW run as TensorFlow's fused kernel there).
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../src/data/random.ts';
import { DenseOptimizer } from '../../src/train/dense-optimizer.ts';
import {
  adam,
  adamw,
  type OptimizerSpec,
  rmsprop,
  sgd,
  type UpdateRule,
  updateRule,
} from '../../src/train/update-rules.ts';
import { testBackends, useBackend } from '../helpers/backends.ts';
import { python } from '../helpers/python.ts';

const SCRIPT = fileURLToPath(new URL('../python/optim_reference.py', import.meta.url));

const cases: [string, string, Record<string, unknown>, UpdateRule][] = [
  ['adam', 'adam', { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 }, adam()],
  [
    'adam with L2',
    'adam',
    { beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 },
    adam({ beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0.1 }),
  ],
  ['adamw', 'adamw', { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01 }, adamw()],
  ['rmsprop (LoTA)', 'rmsprop', { alpha: 0.99, eps: 1e-8, momentum: 0, weightDecay: 0, centered: false }, rmsprop()],
  [
    'rmsprop centered with momentum',
    'rmsprop',
    { alpha: 0.9, eps: 1e-3, momentum: 0.5, weightDecay: 0.01, centered: true },
    rmsprop({ alpha: 0.9, eps: 1e-3, momentum: 0.5, weightDecay: 0.01, centered: true }),
  ],
  ['sgd', 'sgd', { momentum: 0, nesterov: false, weightDecay: 0 }, sgd()],
  [
    'sgd nesterov',
    'sgd',
    { momentum: 0.9, nesterov: true, weightDecay: 0.05 },
    sgd({ momentum: 0.9, nesterov: true, weightDecay: 0.05 }),
  ],
];

const STEPS = 4;
const N = 12;
const LR = 0.05;

/** Start value and gradients of a case, from a seeded generator. */
function inputsOf(index: number): { value: number[]; grads: number[][] } {
  const random = seededRandom(index + 1);
  const value = Array.from({ length: N }, () => random() * 2 - 1);
  const grads = Array.from({ length: STEPS }, () => Array.from({ length: N }, () => (random() * 2 - 1) * 0.3));
  return { value, grads };
}

let expected: number[][][];
beforeAll(async () => {
  const work = await mkdtemp(join(tmpdir(), 'lota-optim-'));
  const file = join(work, 'cases.json');
  const all = cases.map(([, optimizer, options], i) => ({ optimizer, options, lr: LR, ...inputsOf(i) }));
  await writeFile(file, JSON.stringify(all));
  expected = await python<number[][][]>(SCRIPT, [file]);
}, 120_000);

describe.each(testBackends())('on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  describe.each(cases.map((c, i) => [...c, i] as const))(
    '%s matches torch.optim',
    (_label, _optimizer, _options, rule, index) => {
      it('over four steps on a 2-D tensor, and identically on its flattened 1-D view', () => {
        const { value, grads } = inputsOf(index);
        for (const shape of [[3, 4], [N]]) {
          let p = tf.tensor(value, shape);
          let state = rule.stateSlots.map(() => tf.zeros(shape));
          for (const [step, g] of grads.entries()) {
            const out = rule.update(p, tf.tensor(g, shape), state, step + 1, LR);
            p = out.value;
            state = out.state;
            const got = [...p.dataSync()];
            const want = expected[index]?.[step] as number[];
            expect(Math.max(...got.map((x, i) => Math.abs(x - (want[i] as number))))).toBeLessThan(2e-6);
          }
        }
      });

      it('through DenseOptimizer on parameters, leaking no tensors', () => {
        const { value, grads } = inputsOf(index);
        const before = tf.memory().numTensors;
        const start = tf.tensor(value, [3, 4]);
        const params = new Map([['w', tf.variable(start)]]);
        start.dispose();
        const optimizer = new DenseOptimizer(rule, params, ['w']);
        // The fused kernel's moments (two float32 slots of 12 entries) are the state tfjs does not count.
        expect(optimizer.untrackedStateBytes).toBe(backend === 'tensorflow' && rule.adam ? 2 * 4 * N : 0);
        for (const [step, g] of grads.entries()) {
          const grad = tf.tensor(g, [3, 4]);
          optimizer.apply(new Map([['w', grad]]), LR);
          grad.dispose();
          const got = [...(params.get('w') as tf.Variable).dataSync()];
          const want = expected[index]?.[step] as number[];
          // Tighter than the rules' bound: every path is within 1.2e-7 here, while the fused kernel without its
          // float32 (1 − β2) correction drifts to 1.3e-6.
          expect(Math.max(...got.map((x, i) => Math.abs(x - (want[i] as number))))).toBeLessThan(5e-7);
        }
        optimizer.dispose();
        (params.get('w') as tf.Variable).dispose();
        expect(tf.memory().numTensors).toBe(before);
      });
    },
  );
});

describe('updateRule', () => {
  it('builds each rule from its declarative spec', () => {
    expect(updateRule({ name: 'rmsprop', alpha: 0.99 }).stateSlots).toEqual(['square_avg']);
    expect(updateRule({ name: 'rmsprop', momentum: 0.9, centered: true }).stateSlots).toEqual([
      'square_avg',
      'grad_avg',
      'momentum_buffer',
    ]);
    expect(updateRule({ name: 'adamw', betas: [0.9, 0.95] }).stateSlots).toEqual(['exp_avg', 'exp_avg_sq']);
    expect(updateRule({ name: 'sgd' }).stateSlots).toEqual([]);
  });

  it('refuses an unknown optimizer and nesterov without momentum', () => {
    expect(() => updateRule({ name: 'lion' } as unknown as OptimizerSpec)).toThrow(
      'unknown optimizer "lion" (expected adam, adamw, rmsprop, sgd)',
    );
    expect(() => sgd({ nesterov: true })).toThrow('sgd: nesterov needs a positive momentum');
  });
});
