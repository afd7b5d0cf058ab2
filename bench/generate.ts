// Greedy generation speed: the trainer's decoder with its key/value cache, without it (recomputing the whole sequence
// for every new token, the path exact-match evaluation used before), and transformers' `generate` (PyTorch CPU, its
// own KV cache) on the same model, prompts and threads, all in this one run. Every row generates exactly
// --new-tokens tokens (no stop token), so tokens/s compare like for like; the outputs of all three are compared too.
//   node bench/generate.ts [--model DIR] [--prompts 4] [--prompt-length 32] [--new-tokens 128] [--backend NAME]
//     [--threads N] [--reference transformers|none]
// Default model: the project's base model (what `lota-trainer eval` and exact-match evaluation decode with).
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { tool } from '../scripts/toolchain.ts';
import { selectBackend } from '../trainer-image/src/backend/select.ts';
import { parameterCount } from '../trainer-image/src/model/config.ts';
import { disposeParameters } from '../trainer-image/src/model/parameters.ts';
import { loadPretrained } from '../trainer-image/src/model/pretrained.ts';
import { greedyGenerateBatch } from '../trainer-image/src/train/generate.ts';

const { values: opts } = parseArgs({
  options: {
    model: { type: 'string', default: fileURLToPath(new URL('../trainer-image/assets/base-model', import.meta.url)) },
    prompts: { type: 'string', default: '4' },
    'prompt-length': { type: 'string', default: '32' },
    'new-tokens': { type: 'string', default: '128' },
    backend: { type: 'string' },
    threads: { type: 'string', default: String(availableParallelism()) },
    reference: { type: 'string', default: 'transformers' },
  },
});
function positive(name: keyof typeof opts): number {
  const n = Number(opts[name]);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got "${opts[name]}"`);
  return n;
}
if (opts.reference !== 'transformers' && opts.reference !== 'none')
  throw new Error(`--reference must be transformers or none, got "${opts.reference}"`);
const withTransformers = opts.reference === 'transformers';
const rows = positive('prompts');
const promptLength = positive('prompt-length');
const newTokens = positive('new-tokens');
const threads = positive('threads');
process.env.TF_NUM_INTRAOP_THREADS = String(threads);
process.env.TF_NUM_INTEROP_THREADS = '1';
process.env.OMP_NUM_THREADS = String(threads);

const backend = await selectBackend(opts.backend, () => {});
const modelDir = opts.model as string;
const { params, config } = await loadPretrained(modelDir);

// Prompts of different lengths (left padding in the batch), deterministic ids below the special tokens.
let state = 12345;
const prompts = Array.from({ length: rows }, (_, r) =>
  Array.from({ length: promptLength - 3 * r }, () => {
    state = (state * 1103515245 + 12345) % 2 ** 31;
    return 3 + (state % Math.min(253, config.vocabSize - 3));
  }),
);
if (prompts.some((p) => p.length === 0)) throw new Error('--prompt-length is too short for that many prompts');
const generatedTokens = rows * newTokens;

function ours(cache: boolean): { tokensPerSecond: number; output: number[][] } {
  const start = performance.now();
  const output = greedyGenerateBatch(params, config, prompts, { maxNewTokens: newTokens, cache });
  return { tokensPerSecond: generatedTokens / ((performance.now() - start) / 1000), output };
}

const torchScript = `
import json, sys, time, torch
from transformers import AutoModelForCausalLM
directory, new_tokens, threads = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
prompts = json.loads(sys.stdin.read())
torch.set_num_threads(threads)
model = AutoModelForCausalLM.from_pretrained(directory, dtype=torch.float32).eval()
model.generation_config.eos_token_id = None  # every row generates exactly new_tokens, like the trainer's run
width = max(len(p) for p in prompts)
pad = model.config.pad_token_id if model.config.pad_token_id is not None else 0
ids = torch.tensor([[pad] * (width - len(p)) + p for p in prompts])
mask = torch.tensor([[0] * (width - len(p)) + [1] * len(p) for p in prompts])
def run():
    with torch.no_grad():
        return model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=new_tokens, do_sample=False,
                              pad_token_id=pad)
run()  # warm-up
t = time.perf_counter()
out = run()
seconds = time.perf_counter() - t
print(json.dumps({"seconds": seconds, "output": out[:, width:].tolist(), "torch": torch.__version__}))
`;

function transformers(): { tokensPerSecond: number; output: number[][]; torch: string } {
  const run = spawnSync(tool('LOTA_PYTHON'), ['-c', torchScript, modelDir, String(newTokens), String(threads)], {
    input: JSON.stringify(prompts),
    encoding: 'utf8',
    maxBuffer: 1 << 26,
    env: { ...process.env, HF_HUB_OFFLINE: '1', TOKENIZERS_PARALLELISM: 'false' },
  });
  if (run.status !== 0) throw new Error(`transformers reference failed (exit ${run.status}): ${run.stderr}`);
  const r = JSON.parse(run.stdout.trim().split('\n').at(-1) as string);
  return { tokensPerSecond: generatedTokens / r.seconds, output: r.output, torch: r.torch };
}

console.log(
  `model: ${modelDir} (${(parameterCount(config) / 1e6).toFixed(2)}M parameters); ${rows} prompts of ` +
    `${prompts.map((p) => p.length).join('/')} tokens, ${newTokens} new tokens each (greedy); tfjs backend ${backend}; ${threads} threads`,
);
// Interleaved, so drifting load on a shared machine hits every variant alike: each rate is the mean of two runs.
ours(true); // warm-up (kernels, JIT)
const hf1 = withTransformers ? transformers() : undefined;
const cached1 = ours(true);
const uncached = ours(false);
const cached2 = ours(true);
const hf2 = withTransformers ? transformers() : undefined;
const mean = (a: number, b: number) => (a + b) / 2;
const cachedRate = mean(cached1.tokensPerSecond, cached2.tokensPerSecond);
const same = (a: number[][], b: number[][]) =>
  a.filter((row, i) => JSON.stringify(row) === JSON.stringify(b[i])).length;
console.log(`trainer, KV cache:        ${cachedRate.toFixed(1)} tokens/s`);
console.log(
  `trainer, no cache:        ${uncached.tokensPerSecond.toFixed(1)} tokens/s  → cache speed-up ${(cachedRate / uncached.tokensPerSecond).toFixed(2)}×; ` +
    `identical outputs: ${same(cached1.output, uncached.output)}/${rows} rows`,
);
if (hf1 !== undefined && hf2 !== undefined) {
  const hfRate = mean(hf1.tokensPerSecond, hf2.tokensPerSecond);
  console.log(
    `transformers generate:    ${hfRate.toFixed(1)} tokens/s (torch ${hf1.torch})  → trainer with cache at ${(cachedRate / hfRate).toFixed(2)}× its rate; ` +
      `identical outputs: ${same(cached1.output, hf1.output)}/${rows} rows`,
  );
}
disposeParameters(params);
