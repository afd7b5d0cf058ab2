// Held-out evaluation of a parameter set: mean token loss, perplexity and (for records with a reference answer)
// greedy exact match.
import { makeBatches } from '../data/batches.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { Parameters } from '../model/llama.ts';
import { evaluate } from '../train/evaluate.ts';
import { promptAndAnswer } from '../train/exact-match.ts';
import { greedyGenerate } from '../train/generate.ts';
import type { TaskData } from './task.ts';

export interface TaskScores {
  evalLoss: number;
  perplexity: number;
  exactMatch?: number;
}

export function scoreTask(
  params: Parameters,
  config: LlamaConfig,
  task: TaskData,
  batchSize: number,
  maxSeqLength: number,
): TaskScores | undefined {
  if (task.eval === undefined) return undefined;
  const batches = makeBatches(task.eval.examples, { batchSize, maxSeqLength, padId: task.padId });
  const { loss, perplexity } = evaluate(params, config, batches);
  const records = (task.evalRecords ?? []).filter((r) => promptAndAnswer(task.tokenizer, r) !== null);
  if (records.length === 0) return { evalLoss: loss, perplexity };
  const pairs = records.map((r) => promptAndAnswer(task.tokenizer, r) as { prompt: number[]; answer: string });
  const longest = Math.max(...pairs.map((p) => task.tokenizer.encode(p.answer).length));
  const stopIds = [task.tokenizer.eosId, task.tokenizer.tokenId('<|im_end|>')].filter(
    (id): id is number => typeof id === 'number',
  );
  let correct = 0;
  for (const { prompt, answer } of pairs) {
    const ids = greedyGenerate(params, config, prompt, { maxNewTokens: longest + 2, stopIds });
    // decode([]) throws in @huggingface/tokenizers; an immediate stop is the empty answer.
    const got = ids.length === 0 ? '' : task.tokenizer.decode(ids);
    if (got.trim() === answer.trim()) correct++;
  }
  return { evalLoss: loss, perplexity, exactMatch: correct / pairs.length };
}
