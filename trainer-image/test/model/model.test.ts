// The model's ops run forward and backward on every backend (native, WebAssembly, pure JS) with the same numbers, and packing
// examples into one row changes nothing about each example's logits.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { type BackendName, selectBackend } from '../../src/backend/select.ts';
import { logits, type Parameters } from '../../src/model/llama.ts';
import { disposeParameters, initParameters } from '../../src/model/parameters.ts';
import { shiftLabels, summedNll } from '../../src/train/loss.ts';
import { testBackends, useBackend } from '../helpers/backends.ts';
import { tinyConfig } from '../helpers/tiny.ts';

const config = tinyConfig({ tie_word_embeddings: false, attention_bias: true });
const ids = Int32Array.from({ length: 2 * 6 }, (_, i) => (i * 37 + 5) % 256);
const batch = { inputIds: ids, batch: 2, seqLen: 6 };

function lossAndGrads(params: Parameters): { loss: number; grads: Map<string, Float32Array> } {
  const names = [...params.keys()];
  const vars = names.map((n) => params.get(n) as tf.Variable);
  const targets = shiftLabels(ids, 2, 6);
  const { value, grads } = tf.variableGrads(() => summedNll(logits(params, config, batch), targets), vars);
  const out = new Map(names.map((n, i) => [n, grads[(vars[i] as tf.Variable).name]?.dataSync() as Float32Array]));
  const loss = value.dataSync()[0] as number;
  value.dispose();
  for (const g of Object.values(grads)) g.dispose();
  return { loss, grads: out };
}

async function onBackend(backend: BackendName): Promise<ReturnType<typeof lossAndGrads>> {
  await useBackend(backend);
  const params = initParameters(config, 11);
  const result = lossAndGrads(params);
  disposeParameters(params);
  return result;
}

// The pure-JS backend is the reference: plain loops, no fused or reordered kernels.
describe.each(testBackends().filter((b) => b !== 'cpu'))('%s against the pure-JS cpu backend', (backend) => {
  it('gives the same loss (1e-4) and every parameter a nonzero gradient equal within 1e-3 relative', async () => {
    const cpu = await onBackend('cpu');
    const other = await onBackend(backend);
    expect(Math.abs(cpu.loss - other.loss)).toBeLessThan(1e-4);
    expect(cpu.grads.size).toBe(config.numHiddenLayers * 13 + 3);
    for (const [name, g] of cpu.grads) {
      const w = other.grads.get(name) as Float32Array;
      let norm = 0;
      let diff = 0;
      g.forEach((x, i) => {
        norm = Math.max(norm, Math.abs(x));
        diff = Math.max(diff, Math.abs(x - (w[i] as number)));
      });
      expect(norm, name).toBeGreaterThan(0);
      expect(diff / norm, name).toBeLessThan(1e-3);
    }
  });
});

describe('packing', () => {
  it('two examples packed in one row have the logits they have alone', async () => {
    await selectBackend('cpu', () => {});
    const params = initParameters(config, 5);
    const a = [3, 14, 15, 92];
    const b = [65, 35, 89];
    const alone = (x: number[]) =>
      tf.tidy(() => logits(params, config, { inputIds: Int32Array.from(x), batch: 1, seqLen: x.length }).dataSync());
    const packed = tf.tidy(() =>
      logits(params, config, {
        inputIds: Int32Array.from([...a, ...b, 0]),
        segmentIds: Int32Array.from([1, 1, 1, 1, 2, 2, 2, 0]),
        batch: 1,
        seqLen: 8,
      }).dataSync(),
    );
    const expected = [...alone(a), ...alone(b)];
    const got = [...packed.slice(0, 7 * config.vocabSize)];
    expect(Math.max(...got.map((x, i) => Math.abs(x - (expected[i] as number))))).toBeLessThan(1e-5);
    disposeParameters(params);
  });
});
