// The native `tensorflow` backend (built by scripts/setup-native.sh, which `npm test` runs first) loads, reports its
// TensorFlow version, and computes what the pure-JS `cpu` backend computes: single ops and their gradients, the tiny
// Llama's loss and every parameter's gradient, and one step of each optimizer's update rule; and it reproduces
// transformers' logits and loss on a transformers checkpoint, to the tolerances the cpu parity tests use.
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { tool } from '../../../scripts/toolchain.ts';
import { loadNativeBackend, nativeBindingPath, nativeTensorFlowVersion } from '../../src/backend/native.ts';
import { selectBackend } from '../../src/backend/select.ts';
import { logits, type Parameters } from '../../src/model/llama.ts';
import { disposeParameters, initParameters } from '../../src/model/parameters.ts';
import { loadPretrained } from '../../src/model/pretrained.ts';
import { countTargets, shiftLabels, summedNll } from '../../src/train/loss.ts';
import { adam, adamw, rmsprop, sgd } from '../../src/train/update-rules.ts';
import { HF_REFERENCE, python } from '../helpers/python.ts';
import { tinyConfig } from '../helpers/tiny.ts';

/** Runs `f` on each backend and returns its outputs as plain arrays. */
async function onBoth(f: () => tf.Tensor[]): Promise<{ cpu: Float32Array[]; native: Float32Array[] }> {
  const out: Record<string, Float32Array[]> = {};
  for (const backend of ['cpu', 'tensorflow']) {
    await tf.setBackend(backend);
    out[backend] = tf.tidy(f).map((t) => {
      const data = Float32Array.from(t.dataSync());
      t.dispose();
      return data;
    });
  }
  return { cpu: out.cpu as Float32Array[], native: out.tensorflow as Float32Array[] };
}

/** Largest |a − b| relative to the largest |a| (both backends compute in float32, in different orders). */
function relDiff(a: Float32Array, b: Float32Array): number {
  expect(b.length).toBe(a.length);
  let norm = 0;
  let diff = 0;
  a.forEach((x, i) => {
    norm = Math.max(norm, Math.abs(x));
    diff = Math.max(diff, Math.abs(x - (b[i] as number)));
  });
  return norm === 0 ? diff : diff / norm;
}

beforeAll(async () => {
  // setup-native.sh built the binding in this checkout; its absence is a set-up failure, not a skip.
  expect(existsSync(tool('LOTA_TFJS_NODE')), tool('LOTA_TFJS_NODE')).toBe(true);
  expect(await loadNativeBackend()).toBe(true);
});

describe('native tensorflow backend', () => {
  it('is the binding setup-native.sh installed, running TensorFlow 2.x through its C API', async () => {
    expect(nativeBindingPath()).toBe(tool('LOTA_TFJS_NODE'));
    expect(nativeTensorFlowVersion()).toMatch(/^2\.\d+\.\d+/);
    expect(await loadNativeBackend()).toBe(true);
    // With no LOTA_BACKEND the trainer's selection takes native first.
    const requested = process.env.LOTA_BACKEND;
    delete process.env.LOTA_BACKEND;
    try {
      expect(await selectBackend(undefined, () => {})).toBe('tensorflow');
    } finally {
      if (requested !== undefined) process.env.LOTA_BACKEND = requested;
    }
    expect(tf.getBackend()).toBe('tensorflow');
  });

  it('matmul (plain, transposed, batched) matches cpu within 1e-5', async () => {
    const { cpu, native } = await onBoth(() => {
      const a = tf.randomNormal([64, 96], 0, 1, 'float32', 1);
      const b = tf.randomNormal([96, 48], 0, 1, 'float32', 2);
      const x = tf.randomNormal([3, 8, 16], 0, 1, 'float32', 3);
      const y = tf.randomNormal([3, 8, 16], 0, 1, 'float32', 4);
      return [tf.matMul(a, b), tf.matMul(b, a, true, true), tf.matMul(x, y, false, true)];
    });
    for (let i = 0; i < cpu.length; i++)
      expect(relDiff(cpu[i] as Float32Array, native[i] as Float32Array)).toBeLessThan(1e-5);
  });

  it("the gradients of the model's building blocks match cpu within 1e-4", async () => {
    const { cpu, native } = await onBoth(() => {
      const x = tf.randomNormal([6, 16], 0, 1, 'float32', 5);
      const w = tf.randomNormal([16, 12], 0, 0.3, 'float32', 6);
      const table = tf.randomNormal([10, 16], 0, 1, 'float32', 7);
      const ids = tf.tensor1d([3, 1, 3, 9, 0, 3], 'int32');
      const labels = tf.oneHot(tf.tensor1d([1, 0, 11, 4, 7, 2], 'int32'), 12);
      const f = (xv: tf.Tensor, wv: tf.Tensor, tv: tf.Tensor) => {
        const rms = tf.rsqrt(tf.add(tf.mean(tf.square(xv), -1, true), 1e-6)); // RMSNorm
        const h = tf.mul(tf.add(tf.mul(xv, rms), tf.gather(tv, ids)), tf.sigmoid(xv)); // embedding lookup, SiLU-style gate
        const z = tf.matMul(tf.mul(h, tf.cos(xv)), wv);
        return tf.neg(tf.sum(tf.mul(labels, tf.logSoftmax(z)))); // cross-entropy
      };
      const [gx, gw, gt] = tf.grads(f)([x, w, table]) as [tf.Tensor, tf.Tensor, tf.Tensor];
      return [f(x, w, table), gx, gw, gt];
    });
    for (let i = 0; i < cpu.length; i++)
      expect(relDiff(cpu[i] as Float32Array, native[i] as Float32Array), `output ${i}`).toBeLessThan(1e-4);
  });

  it("the tiny Llama's loss and every parameter's gradient match cpu (loss 1e-4, gradients 1e-3 relative)", async () => {
    const config = tinyConfig({ tie_word_embeddings: false, attention_bias: true });
    const ids = Int32Array.from({ length: 2 * 6 }, (_, i) => (i * 37 + 5) % 256);
    const targets = shiftLabels(ids, 2, 6);
    const results: { loss: number; grads: Map<string, Float32Array> }[] = [];
    for (const backend of ['cpu', 'tensorflow']) {
      await tf.setBackend(backend);
      const params: Parameters = initParameters(config, 11);
      const names = [...params.keys()];
      const vars = names.map((n) => params.get(n) as tf.Variable);
      const { value, grads } = tf.variableGrads(
        () => summedNll(logits(params, config, { inputIds: ids, batch: 2, seqLen: 6 }), targets),
        vars,
      );
      results.push({
        loss: value.dataSync()[0] as number,
        grads: new Map(
          names.map((n, i) => [n, Float32Array.from(grads[(vars[i] as tf.Variable).name]?.dataSync() ?? [])]),
        ),
      });
      value.dispose();
      for (const g of Object.values(grads)) g.dispose();
      disposeParameters(params);
    }
    const [cpu, native] = results as [(typeof results)[0], (typeof results)[0]];
    expect(Math.abs(cpu.loss - native.loss) / Math.abs(cpu.loss)).toBeLessThan(1e-4);
    expect(native.grads.size).toBe(cpu.grads.size);
    for (const [name, g] of cpu.grads) {
      expect(
        g.some((x) => x !== 0),
        name,
      ).toBe(true);
      expect(relDiff(g, native.grads.get(name) as Float32Array), name).toBeLessThan(1e-3);
    }
  });

  it('one step of each update rule matches cpu within 1e-5', async () => {
    for (const rule of [adam({ weightDecay: 0.1 }), adamw(), rmsprop({ momentum: 0.9 }), sgd({ momentum: 0.9 })]) {
      const { cpu, native } = await onBoth(() => {
        const value = tf.randomNormal([5, 7], 0, 1, 'float32', 8);
        const grad = tf.randomNormal([5, 7], 0, 1, 'float32', 9);
        const state = rule.stateSlots.map((_, i) => tf.randomUniform([5, 7], 0, 0.5, 'float32', 10 + i));
        const out = rule.update(value, grad, state, 3, 1e-2);
        return [out.value, ...out.state];
      });
      for (let i = 0; i < cpu.length; i++)
        expect(relDiff(cpu[i] as Float32Array, native[i] as Float32Array), rule.name).toBeLessThan(1e-5);
    }
  });

  it("reproduces transformers' logits (1e-4) and loss (1e-5) on a GQA Llama checkpoint transformers wrote", async () => {
    const work = await mkdtemp(join(tmpdir(), 'lota-native-parity-'));
    try {
      const config = {
        model_type: 'llama',
        vocab_size: 96,
        max_position_embeddings: 64,
        rms_norm_eps: 1e-6,
        hidden_size: 64,
        intermediate_size: 112,
        num_hidden_layers: 2,
        num_attention_heads: 4,
        num_key_value_heads: 2,
        tie_word_embeddings: true,
      };
      const cases = join(work, 'cases.json');
      await writeFile(cases, JSON.stringify([{ dir: join(work, 'model'), config, seed: 7 }]));
      const [ref] = await python<
        { input_ids: number[][]; labels: number[][]; attention_mask: number[][]; logits: number[]; loss: number }[]
      >(HF_REFERENCE, ['make', cases]);
      if (ref === undefined) throw new Error('the reference script returned no case');
      await tf.setBackend('tensorflow');
      const model = await loadPretrained(join(work, 'model'));
      const batch = ref.input_ids.length;
      const seqLen = (ref.input_ids[0] as number[]).length;
      const mask = ref.attention_mask.flat();
      const targets = shiftLabels(Int32Array.from(ref.labels.flat()), batch, seqLen);
      const [ours, loss] = tf.tidy(() => {
        const out = logits(model.params, model.config, {
          inputIds: Int32Array.from(ref.input_ids.flat()),
          segmentIds: Int32Array.from(mask),
          batch,
          seqLen,
        });
        return [out.dataSync() as Float32Array, summedNll(out, targets).dataSync()[0] as number];
      });
      disposeParameters(model.params);
      let worst = 0;
      const vocab = config.vocab_size;
      mask.forEach((keep, p) => {
        if (keep !== 1) return;
        for (let v = 0; v < vocab; v++) {
          worst = Math.max(worst, Math.abs((ours[p * vocab + v] as number) - (ref.logits[p * vocab + v] as number)));
        }
      });
      expect(worst).toBeLessThan(1e-4);
      expect(Math.abs(loss / countTargets(targets) - ref.loss)).toBeLessThan(1e-5);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
