// Parity with Hugging Face transformers: the same random checkpoint gives the same logits and loss, and a
// checkpoint we write loads back in transformers with the logits we compute.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { logits as forwardLogits, type ModelInputs } from '../../src/model/llama.ts';
import { disposeParameters } from '../../src/model/parameters.ts';
import { loadPretrained, savePretrained } from '../../src/model/pretrained.ts';
import { countTargets, shiftLabels, summedNll } from '../../src/train/loss.ts';
import { testBackends, useBackend } from '../helpers/backends.ts';
import { HF_REFERENCE, python } from '../helpers/python.ts';

interface Reference {
  input_ids: number[][];
  labels: number[][];
  attention_mask: number[][];
  logits: number[];
  loss: number;
  /** transformers' gradient of the mean loss for every parameter, flattened. */
  grads: Record<string, number[]>;
}

const base = { vocab_size: 96, max_position_embeddings: 64, rms_norm_eps: 1e-6 };
const CONFIGS: Record<string, Record<string, unknown>> = {
  'llama GQA tied': {
    model_type: 'llama',
    ...base,
    hidden_size: 64,
    intermediate_size: 112,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    tie_word_embeddings: true,
  },
  'llama MHA untied, llama3 rope, bias': {
    model_type: 'llama',
    ...base,
    rms_norm_eps: 1e-5,
    hidden_size: 48,
    intermediate_size: 80,
    num_hidden_layers: 2,
    num_attention_heads: 3,
    num_key_value_heads: 3,
    tie_word_embeddings: false,
    attention_bias: true,
    mlp_bias: true,
    rope_parameters: {
      rope_type: 'llama3',
      rope_theta: 500000,
      factor: 8,
      low_freq_factor: 1,
      high_freq_factor: 4,
      original_max_position_embeddings: 16,
    },
  },
  'qwen2 GQA untied (q/k/v bias)': {
    model_type: 'qwen2',
    ...base,
    hidden_size: 64,
    intermediate_size: 96,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 1,
    tie_word_embeddings: false,
    rope_theta: 1000000,
  },
  'mistral sliding window': {
    model_type: 'mistral',
    ...base,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 1,
    num_attention_heads: 2,
    num_key_value_heads: 1,
    head_dim: 24,
    tie_word_embeddings: false,
    sliding_window: 3,
  },
};

function inputsOf(ref: Reference): { inputs: ModelInputs; labels: Int32Array } {
  const batch = ref.input_ids.length;
  const seqLen = (ref.input_ids[0] as number[]).length;
  return {
    inputs: {
      inputIds: Int32Array.from(ref.input_ids.flat()),
      segmentIds: Int32Array.from(ref.attention_mask.flat()),
      batch,
      seqLen,
    },
    labels: Int32Array.from(ref.labels.flat()),
  };
}

/** max |ours − theirs| / max |theirs|. */
function relativeDiff(ours: Float32Array, theirs: number[]): number {
  let worst = 0;
  let scale = 0;
  theirs.forEach((x, i) => {
    scale = Math.max(scale, Math.abs(x));
    worst = Math.max(worst, Math.abs((ours[i] as number) - x));
  });
  return worst / scale;
}

/** Largest |ours − theirs| over positions the attention mask keeps. */
function maxAbsDiff(ours: Float32Array, theirs: number[], mask: number[], vocab: number): number {
  let worst = 0;
  for (let p = 0; p < mask.length; p++) {
    if (mask[p] !== 1) continue;
    for (let v = 0; v < vocab; v++) {
      worst = Math.max(worst, Math.abs((ours[p * vocab + v] as number) - (theirs[p * vocab + v] as number)));
    }
  }
  return worst;
}

const slug = (label: string) => label.replace(/[^a-z0-9]+/gi, '-');
const LABELS = Object.keys(CONFIGS);

let work: string;
let references: Reference[];
/** Per config: our logits after one SGD step, and the directory we saved them to. */
const ours = new Map<string, { logits: Float32Array; dir: string; ref: Reference }>();
let reloaded: { logits: number[] }[];

const BACKENDS = testBackends();

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'lota-parity-'));
  const makeFile = join(work, 'make.json');
  await writeFile(
    makeFile,
    JSON.stringify(LABELS.map((label) => ({ dir: join(work, slug(label)), config: CONFIGS[label], seed: 7 }))),
  );
  references = await python<Reference[]>(HF_REFERENCE, ['make', makeFile]);
}, 300_000);

afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

// Every backend meets the same tolerances; the checkpoint written and reloaded below comes from the first (fastest).
describe.each(BACKENDS)('parity with transformers on %s', (backend) => {
  beforeAll(async () => {
    await useBackend(backend);
  });

  it.each(LABELS.map((label, i) => [label, i] as const))(
    '%s: logits within 1e-4, loss within 1e-5',
    async (label, index) => {
      const ref = references[index] as Reference;
      const model = await loadPretrained(join(work, slug(label)));
      const { inputs, labels } = inputsOf(ref);
      const mask = ref.attention_mask.flat();
      const vocab = model.config.vocabSize;
      const targets = shiftLabels(labels, inputs.batch, inputs.seqLen);
      const [logitsNow, loss] = tf.tidy(() => {
        const out = forwardLogits(model.params, model.config, inputs);
        return [out.dataSync() as Float32Array, summedNll(out, targets).dataSync()[0] as number];
      });
      expect(maxAbsDiff(logitsNow, ref.logits, mask, vocab)).toBeLessThan(1e-4);
      expect(Math.abs(loss / countTargets(targets) - ref.loss)).toBeLessThan(1e-5);

      // The hand-written backward passes of the model's ops against torch's autograd, for every parameter.
      const names = [...model.params.keys()];
      expect(names.sort()).toEqual(Object.keys(ref.grads).sort());
      const vars = names.map((n) => model.params.get(n) as tf.Variable);
      const { value, grads } = tf.variableGrads(
        () => tf.div(summedNll(forwardLogits(model.params, model.config, inputs), targets), countTargets(targets)),
        vars,
      );
      value.dispose();
      names.forEach((name, i) => {
        const g = grads[(vars[i] as tf.Variable).name] as tf.Tensor;
        expect(relativeDiff(g.dataSync() as Float32Array, ref.grads[name] as number[]), name).toBeLessThan(1e-4);
      });
      for (const g of Object.values(grads)) g.dispose();

      if (backend !== BACKENDS[0]) {
        disposeParameters(model.params);
        return;
      }
      // Move the weights (one SGD step) so the checkpoint we write differs from the one transformers made.
      tf.tidy(() => {
        const { grads } = tf.variableGrads(() => summedNll(forwardLogits(model.params, model.config, inputs), targets));
        for (const v of model.params.values()) v.assign(tf.sub(v, tf.mul(grads[v.name] as tf.Tensor, 0.05)));
      });
      const moved = tf.tidy(() => forwardLogits(model.params, model.config, inputs).dataSync() as Float32Array);
      expect(maxAbsDiff(moved, ref.logits, mask, vocab)).toBeGreaterThan(1e-3);
      const dir = join(work, `${slug(label)}-ours`);
      await savePretrained(dir, model.config, model.params);
      ours.set(label, { logits: moved, dir, ref });
      disposeParameters(model.params);
    },
  );
});

describe('checkpoints we write', () => {
  beforeAll(async () => {
    const file = join(work, 'logits.json');
    await writeFile(
      file,
      JSON.stringify(LABELS.map((label) => ({ dir: ours.get(label)?.dir, batch: ours.get(label)?.ref }))),
    );
    reloaded = await python<{ logits: number[] }[]>(HF_REFERENCE, ['logits', file]);
  }, 300_000);

  it.each(LABELS.map((label, i) => [label, i] as const))(
    '%s: load in transformers with the logits we compute',
    (label, index) => {
      const mine = ours.get(label);
      expect(mine).toBeDefined();
      const { logits, ref } = mine as { logits: Float32Array; ref: Reference };
      const vocab = (CONFIGS[label] as { vocab_size: number }).vocab_size;
      expect(
        maxAbsDiff(logits, (reloaded[index] as { logits: number[] }).logits, ref.attention_mask.flat(), vocab),
      ).toBeLessThan(1e-4);
    },
  );
});
