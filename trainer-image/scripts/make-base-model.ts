// Recipe for the project's base model (trainer-image/assets/base-model): a 0.77M-parameter Llama with a byte-level
// tokenizer, pretrained from scratch on text generated from a seed (scripts/base-model/corpus.ts). Nothing is
// downloaded. Usage:
//   node trainer-image/scripts/make-base-model.ts [--out DIR] [--steps N] [--seed N] [--backend tensorflow|wasm|cpu]
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { selectBackend } from '../src/backend/select.ts';
import { makeBatches } from '../src/data/batches.ts';
import { type TokenizedExample, tokenizeRecord } from '../src/data/examples.ts';
import { parameterCount, parseConfig } from '../src/model/config.ts';
import { initParameters } from '../src/model/parameters.ts';
import { savePretrained } from '../src/model/pretrained.ts';
import { writeByteLevelTokenizer } from '../src/tokenizer/byte-level.ts';
import { TextTokenizer } from '../src/tokenizer/tokenizer.ts';
import { DenseOptimizer } from '../src/train/dense-optimizer.ts';
import { evaluate } from '../src/train/evaluate.ts';
import { train } from '../src/train/loop.ts';
import { adamw } from '../src/train/update-rules.ts';
import { BASE_CONFIG } from './base-model/config.ts';
import { type Document, generateCorpus } from './base-model/corpus.ts';

const SEQ_LEN = 128;
const BATCH = 16;

function tokenize(tokenizer: TextTokenizer, docs: readonly Document[]): TokenizedExample[] {
  return docs.map((doc, i) => {
    // Pretraining learns every token, conversations included (their template markers too).
    const record =
      doc.kind === 'text'
        ? ({ kind: 'text', text: doc.text, line: i + 1 } as const)
        : ({ kind: 'text', text: tokenizer.applyChatTemplate(doc.messages), line: i + 1 } as const);
    const ex = tokenizeRecord(tokenizer, record, { maxSeqLength: SEQ_LEN, file: 'corpus' }) as TokenizedExample;
    if (doc.kind === 'chat') {
      // Conversations start without BOS and end at <|im_end|>\n, exactly as fine-tuning data will present them.
      const ids = tokenizer.encode(record.text);
      return { inputIds: ids, labels: [...ids], line: ex.line };
    }
    return ex;
  });
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'trainer-image/assets/base-model' },
      steps: { type: 'string', default: '1000' },
      seed: { type: 'string', default: '20240624' },
      backend: { type: 'string' },
    },
  });
  const steps = Number(values.steps);
  const seed = Number(values.seed);
  const backend = await selectBackend(values.backend);
  const tokDir = await mkdtemp(join(tmpdir(), 'lota-base-tok-'));
  await writeByteLevelTokenizer(tokDir);
  const tokenizer = await TextTokenizer.load(tokDir);
  const config = parseConfig(BASE_CONFIG, 'base model config');

  const trainDocs = generateCorpus(seed, steps * 40);
  const evalDocs = generateCorpus(seed + 1, 400);
  const examples = tokenize(tokenizer, trainDocs);
  const evalBatches = makeBatches(tokenize(tokenizer, evalDocs), {
    batchSize: BATCH,
    maxSeqLength: SEQ_LEN,
    padId: 258,
    packing: true,
  });
  const params = initParameters(config, seed);
  const trainable = [...params.keys()];
  const optimizer = new DenseOptimizer(adamw({ weightDecay: 0.01, beta2: 0.99 }), params, trainable);
  const started = performance.now();
  const initialEval = evaluate(params, config, evalBatches).loss;
  process.stderr.write(
    `base model: ${parameterCount(config)} parameters, ${examples.length} documents, backend ${backend}\n`,
  );
  const result = await train({
    params,
    config,
    examples,
    optimizer,
    trainable,
    batchSize: BATCH,
    maxSeqLength: SEQ_LEN,
    padId: 258,
    packing: true,
    epochs: 2,
    maxSteps: steps,
    schedule: { lr: 3e-3, warmupSteps: 30, kind: 'cosine', minLr: 3e-4 },
    clip: { globalNorm: 1 },
    seed,
    onStep: (s) => {
      if (s.step % 20 === 0 || s.step === s.totalSteps) {
        const secs = (performance.now() - started) / 1000;
        process.stderr.write(
          `step ${s.step}/${s.totalSteps} loss ${s.loss.toFixed(4)} lr ${s.lr.toExponential(2)} ${secs.toFixed(0)}s\n`,
        );
      }
    },
  });
  const finalEval = evaluate(params, config, evalBatches);
  const seconds = (performance.now() - started) / 1000;
  await savePretrained(values.out, config, params, { dtype: 'f16', tokenizerFrom: tokDir });
  const recipe = {
    script: 'trainer-image/scripts/make-base-model.ts',
    command: `node trainer-image/scripts/make-base-model.ts --steps ${steps} --seed ${seed} --out ${values.out}`,
    seed,
    parameters: parameterCount(config),
    corpus: {
      generator: 'trainer-image/scripts/base-model/corpus.ts',
      documents: trainDocs.length,
      evalDocuments: evalDocs.length,
    },
    training: {
      steps: result.steps,
      batchSize: BATCH,
      seqLen: SEQ_LEN,
      packing: true,
      optimizer: 'adamw (beta2 0.99, weight decay 0.01)',
      schedule: 'lr 3e-3, 30 warmup steps, cosine to 3e-4',
      clipGlobalNorm: 1,
    },
    results: {
      initialEvalLoss: initialEval,
      finalTrainLoss: result.history.at(-1)?.loss,
      evalLoss: finalEval.loss,
      evalPerplexity: finalEval.perplexity,
    },
    backend,
    seconds: Math.round(seconds),
    dtype: 'float16',
  };
  await writeFile(join(values.out, 'recipe.json'), `${JSON.stringify(recipe, null, 2)}\n`);
  await rm(tokDir, { recursive: true, force: true });
  process.stderr.write(
    `saved ${values.out}: eval loss ${initialEval.toFixed(3)} → ${finalEval.loss.toFixed(3)} in ${seconds.toFixed(0)}s\n`,
  );
}

await main();
