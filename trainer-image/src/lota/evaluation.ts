// Held-out evaluation of a parameter set: mean token loss, perplexity and (for records with a reference answer)
// greedy exact match.
import { makeBatches } from '../data/batches.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { Parameters } from '../model/llama.ts';
import { evaluate } from '../train/evaluate.ts';
import { exactMatch, promptAndAnswer } from '../train/exact-match.ts';
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
  const longest = Math.max(
    ...records.map((r) => {
      const pa = promptAndAnswer(task.tokenizer, r);
      return pa === null ? 0 : task.tokenizer.encode(pa.answer).length;
    }),
  );
  const em = exactMatch(params, config, task.tokenizer, records, longest + 2);
  return { evalLoss: loss, perplexity, exactMatch: em.exactMatch };
}
