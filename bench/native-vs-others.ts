// Training-step time of the trainer on each tfjs backend — native TensorFlow (C API), WebAssembly, pure JS — and of
// PyTorch (transformers' LlamaForCausalLM, the reference venv) on CPU: the same Llama config, the same batch of
// token ids, one step = forward + backward + AdamW update of every parameter. All measured in this one run, on the
// same cores; prints each median step time (wall and process CPU) and its ratio to PyTorch.
// Without config options it runs two configs: 3.95M (hidden 256, 4 layers, vocab 2048, seq 128; every backend) and
// 38.5M (hidden 768, 4 layers, vocab 8192, seq 256; native only — the portable backends would take hours).
//   node bench/native-vs-others.ts [--hidden 256] [--layers 4] [--vocab 2048] [--seq 128] [--batch 4] [--steps 5]
//     [--slow-steps 1] [--backends tensorflow,wasm,cpu] [--threads <CPUs>]
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import type * as tf from '@tensorflow/tfjs';
import { tool } from '../scripts/toolchain.ts';
import { nativeTensorFlowVersion } from '../trainer-image/src/backend/native.ts';
import { type BackendName, parseBackendName, selectBackend } from '../trainer-image/src/backend/select.ts';
import type { Batch } from '../trainer-image/src/data/batches.ts';
import { parameterCount, parseConfig } from '../trainer-image/src/model/config.ts';
import { disposeParameters, initParameters } from '../trainer-image/src/model/parameters.ts';
import { DenseOptimizer } from '../trainer-image/src/train/dense-optimizer.ts';
import { disposeGrads, stepGradients } from '../trainer-image/src/train/gradients.ts';
import { adamw } from '../trainer-image/src/train/update-rules.ts';
import { median } from './stats.ts';

const { values: opts } = parseArgs({
  options: {
    hidden: { type: 'string' },
    layers: { type: 'string' },
    vocab: { type: 'string' },
    seq: { type: 'string' },
    batch: { type: 'string', default: '4' },
    steps: { type: 'string', default: '5' },
    'slow-steps': { type: 'string', default: '1' },
    backends: { type: 'string', default: 'tensorflow,wasm,cpu' },
    threads: { type: 'string', default: String(availableParallelism()) },
  },
});
function positive(name: keyof typeof opts, fallback?: number): number {
  if (opts[name] === undefined && fallback !== undefined) return fallback;
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${opts[name]}"`);
  return n;
}
const steps = positive('steps');
const slowSteps = positive('slow-steps');
const batchSize = positive('batch');
// Both TensorFlow and PyTorch get the same thread count (TensorFlow reads these before its first op).
const threads = positive('threads');
process.env.TF_NUM_INTRAOP_THREADS = String(threads);
process.env.TF_NUM_INTEROP_THREADS = '1';
process.env.OMP_NUM_THREADS = String(threads);
const requestedBackends = String(opts.backends)
  .split(',')
  .map((b) => parseBackendName(b.trim(), '--backends'));

interface BenchConfig {
  hidden: number;
  layers: number;
  vocab: number;
  seq: number;
  backends: BackendName[];
}
const custom = [opts.hidden, opts.layers, opts.vocab, opts.seq].some((o) => o !== undefined);
const configs: BenchConfig[] = custom
  ? [
      {
        hidden: positive('hidden', 256),
        layers: positive('layers', 4),
        vocab: positive('vocab', 2048),
        seq: positive('seq', 128),
        backends: requestedBackends,
      },
    ]
  : [
      { hidden: 256, layers: 4, vocab: 2048, seq: 128, backends: requestedBackends },
      { hidden: 768, layers: 4, vocab: 8192, seq: 256, backends: requestedBackends.filter((b) => b === 'tensorflow') },
    ];

for (const c of configs) await runConfig(c);

async function runConfig({ hidden, layers, vocab, seq, backends }: BenchConfig): Promise<void> {
  const heads = Math.max(1, hidden / 64);
  const rawConfig = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: vocab,
    hidden_size: hidden,
    intermediate_size: Math.round((hidden * 8) / 3 / 16) * 16,
    num_hidden_layers: layers,
    num_attention_heads: heads,
    num_key_value_heads: Math.max(1, heads / 2),
    max_position_embeddings: Math.max(seq, 128),
    rms_norm_eps: 1e-5,
    rope_theta: 10000,
    tie_word_embeddings: false,
    bos_token_id: 1,
    eos_token_id: 2,
  };
  const config = parseConfig(rawConfig, 'bench config');

  // One fixed batch of token ids (a deterministic LCG), used by every backend and by PyTorch.
  const ids = new Int32Array(batchSize * seq);
  let state = 12345;
  for (let i = 0; i < ids.length; i++) {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    ids[i] = 3 + (state % (config.vocabSize - 3));
  }
  const batch: Batch = {
    batch: batchSize,
    seqLen: seq,
    inputIds: ids,
    labels: ids,
    segmentIds: new Int32Array(ids.length).fill(1),
    positionIds: Int32Array.from(ids, (_, i) => i % seq),
    examples: batchSize,
  };

  /** Median step time (wall and process CPU) over the timed steps, and the loss of the first step (same weights and batch everywhere). */
  async function tfjsStepMs(backend: string): Promise<{ ms: number; cpuMs: number; loss: number }> {
    await selectBackend(backend, () => {});
    const params = initParameters(config, 1);
    const names = [...params.keys()];
    const optimizer = new DenseOptimizer(adamw(), params, names);
    const times: number[] = [];
    const cpuTimes: number[] = [];
    let loss = Number.NaN;
    // One untimed warm-up step everywhere (kernel set-up, JIT); the portable backends, 10-100× slower, get fewer steps.
    const timed = backend === 'tensorflow' ? steps : slowSteps;
    for (let i = 0; i <= timed; i++) {
      const start = performance.now();
      const cpuStart = process.cpuUsage();
      const { loss: l, grads } = stepGradients(params, config, [batch], names);
      optimizer.apply(grads, 1e-3);
      disposeGrads(grads);
      (params.get(names[0] as string) as tf.Variable).dataSync(); // wait for the update
      if (i > 0) {
        times.push(performance.now() - start);
        const cpu = process.cpuUsage(cpuStart);
        cpuTimes.push((cpu.user + cpu.system) / 1000);
      } else loss = l;
    }
    optimizer.dispose();
    disposeParameters(params);
    return { ms: median(times), cpuMs: median(cpuTimes), loss };
  }

  const torchScript = `
import json, sys, time, torch
from transformers import LlamaConfig, LlamaForCausalLM
cfg = json.loads(sys.argv[1]); seq, batch, steps = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
ids = torch.tensor(json.loads(sys.stdin.read()), dtype=torch.long).view(batch, seq)
torch.manual_seed(1); torch.set_num_threads(int(sys.argv[5]))
model = LlamaForCausalLM(LlamaConfig(**cfg)).train()
opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
times, cpu, first = [], [], None
for i in range(steps + 1):
    t, c = time.perf_counter(), time.process_time()
    loss = model(input_ids=ids, labels=ids).loss
    loss.backward(); opt.step(); opt.zero_grad(set_to_none=True)
    if i > 0: times.append((time.perf_counter() - t) * 1000); cpu.append((time.process_time() - c) * 1000)
    else: first = loss.item()
times.sort(); cpu.sort()
print(json.dumps({"ms": times[len(times) // 2], "cpuMs": cpu[len(cpu) // 2], "loss": first, "threads": torch.get_num_threads(),
                  "torch": torch.__version__, "attn": model.config._attn_implementation}))
`;

  function torchStepMs(): { ms: number; cpuMs: number; loss: number; threads: number; torch: string; attn: string } {
    const run = spawnSync(
      tool('LOTA_PYTHON'),
      ['-c', torchScript, JSON.stringify(rawConfig), String(seq), String(batchSize), String(steps), String(threads)],
      { input: JSON.stringify([...ids]), encoding: 'utf8', maxBuffer: 1 << 24 },
    );
    if (run.status !== 0) throw new Error(`PyTorch reference failed (exit ${run.status}): ${run.stderr}`);
    return JSON.parse(run.stdout.trim().split('\n').at(-1) as string);
  }

  console.log(
    `config: hidden ${hidden}, layers ${config.numHiddenLayers}, heads ${heads}/${rawConfig.num_key_value_heads}, ` +
      `intermediate ${rawConfig.intermediate_size}, vocab ${config.vocabSize}, ${(parameterCount(config) / 1e6).toFixed(2)}M parameters; ` +
      `batch ${batchSize}×${seq} tokens; ${threads} threads of ${availableParallelism()} CPUs`,
  );
  // On shared machines the load drifts: PyTorch is timed right before and right after native, and native's ratio is
  // to their mean; the portable backends (minutes) are timed last, against the same mean.
  const torchBefore = torchStepMs();
  console.log(
    `pytorch ${torchBefore.torch} (${torchBefore.threads} threads, attention ${torchBefore.attn}): ${torchBefore.ms.toFixed(1)} ms/step, ${torchBefore.cpuMs.toFixed(1)} ms CPU (first-step loss ${torchBefore.loss.toFixed(3)}, its own init)`,
  );
  const results = new Map<string, { ms: number; cpuMs: number; loss: number }>();
  if (backends.includes('tensorflow')) results.set('tensorflow', await tfjsStepMs('tensorflow'));
  const torchAfter = torchStepMs();
  console.log(`pytorch again: ${torchAfter.ms.toFixed(1)} ms/step, ${torchAfter.cpuMs.toFixed(1)} ms CPU`);
  const torchMs = (torchBefore.ms + torchAfter.ms) / 2;
  const torchCpuMs = (torchBefore.cpuMs + torchAfter.cpuMs) / 2;
  for (const backend of backends) {
    const { ms, cpuMs, loss } = results.get(backend) ?? (await tfjsStepMs(backend));
    const label = backend === 'tensorflow' ? `tensorflow (TF ${nativeTensorFlowVersion()} C API)` : backend;
    console.log(
      `tfjs ${label}: ${ms.toFixed(1)} ms/step, ${cpuMs.toFixed(1)} ms CPU (first-step loss ${loss.toFixed(3)}): ` +
        `${(ms / torchMs).toFixed(2)}× PyTorch wall, ${(cpuMs / torchCpuMs).toFixed(2)}× PyTorch CPU`,
    );
  }
}
