// Training and eval throughput (tokens/s) of the trainer on every tfjs backend that starts here, and of PyTorch on
// the CPU, for the same model config (the project's base model) and batch. Not a test: prints a table with ratios
// to PyTorch. Each backend runs in its own process (tfjs keeps one active backend per process).
//   node bench/train-throughput.ts [--batch 8] [--seq 128] [--steps 3]
import { execFile } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { tool } from '../scripts/toolchain.ts';
import { BASE_CONFIG } from '../trainer-image/scripts/base-model/config.ts';
import { selectBackend } from '../trainer-image/src/backend/select.ts';
import type { Batch } from '../trainer-image/src/data/batches.ts';
import { parseConfig } from '../trainer-image/src/model/config.ts';
import { initParameters } from '../trainer-image/src/model/parameters.ts';
import { DenseOptimizer } from '../trainer-image/src/train/dense-optimizer.ts';
import { evaluate } from '../trainer-image/src/train/evaluate.ts';
import { disposeGrads, stepGradients } from '../trainer-image/src/train/gradients.ts';
import { adamw } from '../trainer-image/src/train/update-rules.ts';

const run = promisify(execFile);
const { values } = parseArgs({
  options: {
    batch: { type: 'string', default: '8' },
    seq: { type: 'string', default: '128' },
    steps: { type: 'string', default: '3' },
    worker: { type: 'string' },
  },
});
const batch = Number(values.batch);
const seq = Number(values.seq);
const steps = Number(values.steps);

interface Rates {
  train_tokens_per_s: number;
  eval_tokens_per_s: number;
}

/** In a worker process: time `steps` training steps and eval passes on one backend (after one warm-up each). */
async function measure(backend: string): Promise<Rates> {
  await selectBackend(backend, () => {});
  const config = parseConfig(BASE_CONFIG);
  const params = initParameters(config, 0);
  const names = [...params.keys()];
  const optimizer = new DenseOptimizer(adamw(), params, names);
  const ids = Int32Array.from({ length: batch * seq }, (_, i) => (i * 31) % 256);
  const data: Batch = {
    batch,
    seqLen: seq,
    inputIds: ids,
    labels: ids,
    segmentIds: new Int32Array(batch * seq).fill(1),
    positionIds: Int32Array.from({ length: batch * seq }, (_, i) => i % seq),
    examples: batch,
  };
  const trainStep = () => {
    const { grads } = stepGradients(params, config, [data], names);
    optimizer.apply(grads, 1e-3);
    disposeGrads(grads);
  };
  const evalStep = () => evaluate(params, config, [data]);
  const rate = async (step: () => unknown) => {
    step();
    await tf.nextFrame();
    const start = performance.now();
    for (let i = 0; i < steps; i++) step();
    return (batch * seq * steps) / ((performance.now() - start) / 1000);
  };
  return { train_tokens_per_s: await rate(trainStep), eval_tokens_per_s: await rate(evalStep) };
}

async function main(): Promise<void> {
  if (values.worker !== undefined) {
    process.stdout.write(`${JSON.stringify(await measure(values.worker))}\n`);
    return;
  }
  const self = fileURLToPath(import.meta.url);
  const results: [string, Rates | string][] = [];
  for (const backend of ['tensorflow', 'wasm', 'cpu']) {
    try {
      const { stdout } = await run(
        process.execPath,
        [self, '--worker', backend, '--batch', `${batch}`, '--seq', `${seq}`, '--steps', `${steps}`],
        {
          maxBuffer: 16 << 20,
        },
      );
      results.push([`tfjs ${backend}`, JSON.parse(stdout.trim().split('\n').at(-1) as string) as Rates]);
    } catch (err) {
      results.push([
        `tfjs ${backend}`,
        `unavailable (${((err as { stderr?: string }).stderr ?? String(err)).trim().split('\n').at(-1)})`,
      ]);
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'lota-bench-'));
  await writeFile(join(dir, 'config.json'), JSON.stringify(BASE_CONFIG));
  const script = fileURLToPath(new URL('./train_throughput_torch.py', import.meta.url));
  const { stdout } = await run(tool('LOTA_PYTHON'), [
    script,
    join(dir, 'config.json'),
    `${batch}`,
    `${seq}`,
    `${steps}`,
  ]);
  const torch = JSON.parse(stdout.trim().split('\n').at(-1) as string) as Rates;
  results.push(['pytorch cpu', torch]);

  console.log(`train/eval tokens per second — base-model config, batch ${batch} × ${seq} tokens, ${steps} timed steps`);
  console.log(
    'runtime'.padEnd(16),
    'train tok/s'.padStart(12),
    'vs torch'.padStart(9),
    'eval tok/s'.padStart(12),
    'vs torch'.padStart(9),
  );
  for (const [name, r] of results) {
    if (typeof r === 'string') {
      console.log(name.padEnd(16), r);
      continue;
    }
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`.padStart(9);
    console.log(
      name.padEnd(16),
      r.train_tokens_per_s.toFixed(0).padStart(12),
      ratio(r.train_tokens_per_s, torch.train_tokens_per_s),
      r.eval_tokens_per_s.toFixed(0).padStart(12),
      ratio(r.eval_tokens_per_s, torch.eval_tokens_per_s),
    );
  }
}

await main();
