// LoTA calibrate + train on a ~100M-parameter Llama through the trainer contract (`lota-trainer <phase>` with the
// LOTA_* environment, as the operator runs it), on the native `tensorflow` backend. Prints the backend and device,
// tokens/s of each phase and the peak GPU memory of the trainer process (nvidia-smi, sampled every 200 ms); then the
// same training as full fine-tuning (method full), so the sparse phase's peak GPU memory is printed as a ratio to
// FFT's; then greedy generation on the GPU with and without the KV cache (bench/generate.ts, no PyTorch reference).
// bench/gpu/run.sh prepares the binding first; this file only needs the repository and node_modules.
//   node bench/gpu/lota-gpu.ts [--size 100m|tiny] [--seq 512] [--batch 8] [--calibration-steps 20] [--steps 50] [--work DIR]
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as tf from '@tensorflow/tfjs';
import { generateCorpus } from '../../trainer-image/scripts/base-model/corpus.ts';
import { loadNativeBackend, nativeTensorFlowVersion } from '../../trainer-image/src/backend/native.ts';
import { parameterCount, parseConfig } from '../../trainer-image/src/model/config.ts';
import { disposeParameters, initParameters } from '../../trainer-image/src/model/parameters.ts';
import { savePretrained } from '../../trainer-image/src/model/pretrained.ts';
import { writeByteLevelTokenizer } from '../../trainer-image/src/tokenizer/byte-level.ts';

const TRAINER = fileURLToPath(new URL('../../trainer-image/src/cli/lota-trainer.ts', import.meta.url));

// Llama shapes; vocabulary = the project's byte-level tokenizer (256 bytes + specials).
const SIZES = {
  '100m': {
    hidden_size: 768,
    intermediate_size: 3072,
    num_hidden_layers: 12,
    num_attention_heads: 12,
    num_key_value_heads: 4,
  },
  tiny: {
    hidden_size: 64,
    intermediate_size: 176,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
  },
} as const;

const { values: opts } = parseArgs({
  options: {
    size: { type: 'string', default: '100m' },
    seq: { type: 'string', default: '512' },
    batch: { type: 'string', default: '8' },
    'calibration-steps': { type: 'string', default: '20' },
    steps: { type: 'string', default: '50' },
    work: { type: 'string' },
  },
});
function positive(name: 'seq' | 'batch' | 'calibration-steps' | 'steps'): number {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${opts[name]}"`);
  return n;
}
const size = opts.size as keyof typeof SIZES;
if (!(size in SIZES)) throw new Error(`--size must be one of ${Object.keys(SIZES).join(', ')}, got "${opts.size}"`);
const seq = positive('seq');
const batch = positive('batch');
const calibrationSteps = positive('calibration-steps');
const steps = positive('steps');

// 1. The native backend must load here, and say whether TensorFlow sees a GPU (the binding lists TFE devices).
process.env.LOTA_BACKEND = 'tensorflow';
if (!(await loadNativeBackend())) {
  throw new Error('the native TensorFlow binding is not built: run bench/gpu/run.sh (or scripts/setup-native.sh)');
}
const onGpu = (tf.backend() as unknown as { isUsingGpuDevice?: boolean }).isUsingGpuDevice === true;
console.log(`backend: tensorflow (TensorFlow ${nativeTensorFlowVersion()} C API), GPU device: ${onGpu ? 'yes' : 'NO'}`);
const smi = spawnSync('nvidia-smi', ['--query-gpu=name,memory.total,driver_version', '--format=csv,noheader'], {
  encoding: 'utf8',
});
console.log(`nvidia-smi: ${smi.status === 0 ? smi.stdout.trim() : 'not available'}`);

// 2. A random-initialised base model of the chosen size (throughput does not depend on the weights) and a dataset
// of text lines about seq bytes long, from the base-model recipe's seeded corpus generator.
const work = opts.work ?? (await mkdtemp(join(tmpdir(), 'lota-gpu-')));
const raw = {
  architectures: ['LlamaForCausalLM'],
  model_type: 'llama',
  vocab_size: 264,
  ...SIZES[size],
  max_position_embeddings: Math.max(seq, 512),
  rms_norm_eps: 1e-5,
  rope_theta: 10000,
  tie_word_embeddings: true,
  initializer_range: 0.02,
  bos_token_id: 256,
  eos_token_id: 257,
  pad_token_id: 258,
};
const config = parseConfig(raw, 'bench config');
const base = join(work, 'base');
await tf.setBackend('cpu'); // the weights are written from here, not trained: keep the GPU free for the trainer
const params = initParameters(config, 1);
await writeByteLevelTokenizer(join(work, 'tokenizer'));
await savePretrained(base, config, params, { tokenizerFrom: join(work, 'tokenizer') });
disposeParameters(params);
const lines: string[] = [];
let text = '';
for (const doc of generateCorpus(7, 40 * batch * (calibrationSteps + steps))) {
  if (doc.kind !== 'text') continue;
  text += `${doc.text}\n`;
  if (text.length >= seq) {
    lines.push(JSON.stringify({ text: text.slice(0, seq) }));
    text = '';
  }
  if (lines.length >= batch * Math.max(calibrationSteps, steps)) break;
}
await writeFile(join(work, 'train.jsonl'), `${lines.join('\n')}\n`);
console.log(
  `model: ${(parameterCount(config) / 1e6).toFixed(1)}M parameters (${size}), batch ${batch} × ${seq} tokens, ` +
    `${lines.length} examples; work dir ${work}`,
);

// 3. calibrate, then train, each as the operator's Job would run it.
const spec = {
  baseModel: { uri: `file://${base}` },
  dataset: { uri: `file://${join(work, 'train.jsonl')}`, format: 'text', maxSeqLength: seq, maxPromptLength: 8 },
  method: 'lota',
  lota: { sparsity: 0.9, calibration: { steps: calibrationSteps } },
  training: { maxSteps: steps, batchSize: batch, gradientAccumulationSteps: 1, optimizer: 'rmsprop' },
  output: { uri: `file://${join(work, 'out')}` },
};
await mkdir(join(work, 'scratch'), { recursive: true });

interface PhaseReport {
  seconds: number;
  tokensPerSecond: number[];
  backendLine: string;
  peakMiB: number;
  exitCode: number | null;
  termination: string;
}

/** Peak GPU memory (MiB) nvidia-smi attributes to `pid`, sampled until stopped. */
function samplePeakMemory(pid: number): { stop: () => number } {
  let peak = 0;
  const timer = setInterval(() => {
    const q = spawnSync('nvidia-smi', ['--query-compute-apps=pid,used_memory', '--format=csv,noheader,nounits'], {
      encoding: 'utf8',
    });
    if (q.status !== 0) return;
    for (const row of q.stdout.trim().split('\n')) {
      const [p, mib] = row.split(',').map((s) => Number(s.trim()));
      if (p === pid && mib !== undefined && mib > peak) peak = mib;
    }
  }, 200);
  return {
    stop: () => {
      clearInterval(timer);
      return peak;
    },
  };
}

async function runPhase(
  phase: 'calibrate' | 'train',
  runSpec: object = spec,
  label: string = phase,
): Promise<PhaseReport> {
  const terminationLog = join(work, `${label}.termination.json`);
  const started = performance.now();
  const child: ChildProcess = spawn(process.execPath, [TRAINER, phase], {
    env: {
      ...process.env,
      LOTA_SPEC: JSON.stringify(runSpec),
      LOTA_KIND: 'LotaAdaptation',
      LOTA_NAME: 'gpu-bench',
      LOTA_PHASE: phase,
      LOTA_TERMINATION_LOG: terminationLog,
      LOTA_PROGRESS_PORT: '0',
      LOTA_SCRATCH_DIR: join(work, 'scratch'),
      LOTA_BACKEND: 'tensorflow',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const memory = samplePeakMemory(child.pid as number);
  const report: PhaseReport = {
    seconds: 0,
    tokensPerSecond: [],
    backendLine: '',
    peakMiB: 0,
    exitCode: null,
    termination: '',
  };
  const tail: string[] = [];
  for await (const line of createInterface({ input: child.stderr as NodeJS.ReadableStream })) {
    tail.push(line);
    if (tail.length > 20) tail.shift();
    try {
      const record = JSON.parse(line) as { msg?: unknown; tokensPerSecond?: unknown };
      if (typeof record.tokensPerSecond === 'number') report.tokensPerSecond.push(record.tokensPerSecond);
      if (typeof record.msg === 'string' && record.msg.startsWith('tfjs backend')) report.backendLine = record.msg;
    } catch {
      // TensorFlow's own log lines are not JSON
    }
  }
  report.exitCode = await new Promise((resolve) => {
    if (child.exitCode !== null) resolve(child.exitCode);
    else child.on('close', (code) => resolve(code));
  });
  report.seconds = (performance.now() - started) / 1000;
  report.peakMiB = memory.stop();
  report.termination = await readFile(terminationLog, 'utf8').catch(() => '');
  if (report.exitCode !== 0) {
    throw new Error(`lota-trainer ${phase} exited ${report.exitCode}:\n${tail.join('\n')}\n${report.termination}`);
  }
  return report;
}

const peaks = new Map<string, number>();
const fullSpec = { ...spec, method: 'full', lota: undefined, output: { uri: `file://${join(work, 'out-full')}` } };
for (const [phase, runSpec, label] of [
  ['calibrate', spec, 'calibrate'],
  ['train', spec, 'train (lota, sparse)'],
  ['train', fullSpec, 'train (full fine-tuning)'],
] as const) {
  const r = await runPhase(phase, runSpec, label.split(' ')[0] === 'train' ? label.replace(/\W+/g, '-') : phase);
  peaks.set(label, r.peakMiB);
  // The steady-state rate: the median of the trainer's own reports after the first few (graph warm-up) steps.
  const rates = r.tokensPerSecond.slice(Math.min(3, Math.floor(r.tokensPerSecond.length / 2))).sort((a, b) => a - b);
  const median = rates[Math.floor(rates.length / 2)];
  console.log(
    `${label}: ${r.backendLine || 'backend line not seen'}; ${median === undefined ? 'no progress reports' : `${median.toFixed(0)} tokens/s`}` +
      `; peak GPU memory ${r.peakMiB > 0 ? `${r.peakMiB} MiB` : 'not measured (no nvidia-smi or no GPU process)'}; ${r.seconds.toFixed(1)} s in all`,
  );
  console.log(`${label} termination message: ${r.termination.trim()}`);
}
const sparsePeak = peaks.get('train (lota, sparse)') ?? 0;
const fullPeak = peaks.get('train (full fine-tuning)') ?? 0;
console.log(
  `peak GPU memory, LoTA sparse phase / full fine-tuning: ${fullPeak > 0 ? (sparsePeak / fullPeak).toFixed(3) : 'not measured'}`,
);

// 4. Greedy generation on the GPU: the KV cache against recomputing the prefix (the trainer's two decoders).
const generate = spawnSync(
  process.execPath,
  [
    fileURLToPath(new URL('../generate.ts', import.meta.url)),
    ...['--model', base, '--backend', 'tensorflow', '--prompts', '8', '--new-tokens', '128', '--reference', 'none'],
  ],
  { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] },
);
process.stdout.write(generate.stdout);
if (generate.status !== 0) throw new Error(`bench/generate.ts exited ${generate.status}`);
