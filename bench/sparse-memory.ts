// Peak memory of LoTA's sparse phase vs full fine-tuning (FFT) on the same model, each measured in its own fresh
// process: tfjs's peak tensor bytes over a few training steps (tf.profile), the optimizer state held, and the
// process's peak RSS. Sparsity 0.9, Adam (two state slots, so the state is a large share of what training holds).
//   node bench/sparse-memory.ts [--model DIR | --hidden N --layers N] [--steps 3] [--sparsity 0.9] [--backend cpu]
// Default model: the project's base model; --hidden/--layers build a larger random Llama of the same shape family
// (--hidden 768 --layers 4: 26.2M parameters, the size the targets LoTA/FFT ≤ 0.6 at sparsity 0.9 and ≤ 0.5 at 0.99
// are stated for). tfjs counts bytes per tensor handle, so two handles of one buffer count twice.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { DEFAULT_TARGETS, targetMatcher } from '../api/src/targets.ts';
import { selectBackend } from '../trainer-image/src/backend/select.ts';
import type { TokenizedExample } from '../trainer-image/src/data/examples.ts';
import { IGNORE_INDEX } from '../trainer-image/src/data/examples.ts';
import { randomMasks } from '../trainer-image/src/lota/extract.ts';
import { seededRandom } from '../trainer-image/src/lota/random.ts';
import { SparseOptimizer } from '../trainer-image/src/lota/sparse-optimizer.ts';
import { type LlamaConfig, parameterCount, parseConfig } from '../trainer-image/src/model/config.ts';
import type { Parameters } from '../trainer-image/src/model/llama.ts';
import { initParameters } from '../trainer-image/src/model/parameters.ts';
import { loadPretrained } from '../trainer-image/src/model/pretrained.ts';
import { DenseOptimizer, type Optimizer } from '../trainer-image/src/train/dense-optimizer.ts';
import { train } from '../trainer-image/src/train/loop.ts';
import { adam } from '../trainer-image/src/train/update-rules.ts';

const { values } = parseArgs({
  options: {
    mode: { type: 'string' },
    model: { type: 'string', default: fileURLToPath(new URL('../trainer-image/assets/base-model', import.meta.url)) },
    hidden: { type: 'string' },
    layers: { type: 'string', default: '4' },
    steps: { type: 'string', default: '3' },
    sparsity: { type: 'string', default: '0.9' },
    backend: { type: 'string', default: 'cpu' },
  },
});

interface Measure {
  mode: string;
  parameters: number;
  trainableEntries: number;
  stateBytes: number;
  peakTensorBytes: number;
  maxRssBytes: number;
}

async function model(): Promise<{ params: Parameters; config: LlamaConfig }> {
  if (values.hidden === undefined) return loadPretrained(values.model as string);
  const hidden = Number(values.hidden);
  const config = parseConfig({
    architectures: ['LlamaForCausalLM'],
    vocab_size: 264,
    hidden_size: hidden,
    intermediate_size: Math.round((hidden * 8) / 3 / 32) * 32,
    num_hidden_layers: Number(values.layers),
    num_attention_heads: hidden / 32,
    num_key_value_heads: hidden / 64,
    max_position_embeddings: 512,
    tie_word_embeddings: true,
  });
  return { params: initParameters(config, 1), config };
}

async function measure(mode: 'fft' | 'lota'): Promise<Measure> {
  await selectBackend(values.backend, () => {});
  const { params, config } = await model();
  const random = seededRandom(3);
  const examples: TokenizedExample[] = Array.from({ length: 8 }, (_, line) => {
    const ids = Array.from({ length: 64 }, () => Math.floor(random() * 256));
    return { inputIds: ids, labels: ids.map((id, i) => (i < 16 ? IGNORE_INDEX : id)), line };
  });
  const isTarget = targetMatcher(DEFAULT_TARGETS);
  let optimizer: Optimizer;
  let trainable: string[];
  let trainableEntries: number;
  let stateBytes: number;
  let untrackedBytes = 0;
  if (mode === 'fft') {
    trainable = [...params.keys()];
    const dense = new DenseOptimizer(adam(), params, trainable);
    optimizer = dense;
    untrackedBytes = dense.untrackedStateBytes;
    trainableEntries = trainable.reduce((s, n) => s + (params.get(n) as tf.Variable).size, 0);
    stateBytes = trainableEntries * 2 * 4;
  } else {
    const sizes = new Map([...params].filter(([n]) => isTarget(n)).map(([n, v]) => [n, v.size]));
    const { masks, trainable: k } = randomMasks(sizes, Number(values.sparsity), seededRandom(1));
    const sparse = new SparseOptimizer(adam(), params, masks);
    optimizer = sparse;
    trainable = sparse.trainable;
    trainableEntries = k;
    stateBytes = sparse.stateEntries * 4 + k * 4; // state slots + the int32 flat indices
  }
  const info = await tf.profile(async () => {
    await train({
      params,
      config,
      examples,
      optimizer,
      trainable,
      batchSize: 8,
      maxSeqLength: 64,
      padId: 0,
      schedule: { lr: 1e-4 },
      epochs: Number(values.steps),
      clip: { perTensorNorm: 1 },
    });
    return tf.scalar(0);
  });
  return {
    mode,
    parameters: parameterCount(config),
    trainableEntries,
    stateBytes,
    // On native, FFT's Adam moments live in TensorFlow variables that tfjs does not count: added back here.
    peakTensorBytes: info.peakBytes + untrackedBytes,
    maxRssBytes: process.resourceUsage().maxRSS * 1024,
  };
}

if (values.mode === 'fft' || values.mode === 'lota') {
  process.stdout.write(`${JSON.stringify(await measure(values.mode))}\n`);
} else {
  const args = process.argv.slice(2);
  const run = (mode: string): Measure => {
    const r = spawnSync(process.execPath, [fileURLToPath(import.meta.url), '--mode', mode, ...args], {
      encoding: 'utf8',
    });
    if (r.status !== 0) throw new Error(`${mode} run failed: ${r.stderr}`);
    return JSON.parse(r.stdout.trim().split('\n').at(-1) as string) as Measure;
  };
  const fft = run('fft');
  const lota = run('lota');
  const mib = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  console.log(
    `model: ${fft.parameters.toLocaleString()} parameters; LoTA sparsity ${values.sparsity}; Adam; ${values.steps} steps`,
  );
  console.log(`                    FFT            LoTA sparse    LoTA/FFT`);
  for (const [label, key] of [
    ['trainable entries', 'trainableEntries'],
    ['optimizer state', 'stateBytes'],
    ['peak tensor bytes', 'peakTensorBytes'],
    ['peak process RSS', 'maxRssBytes'],
  ] as const) {
    const a = fft[key];
    const b = lota[key];
    const show = key === 'trainableEntries' ? (x: number) => x.toLocaleString() : mib;
    console.log(`${label.padEnd(20)}${show(a).padEnd(15)}${show(b).padEnd(15)}${(b / a).toFixed(3)}`);
  }
}
