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
  const records = task.evalRecords ?? [];
  const cases = records
    .map((r) => promptAndAnswer(task.tokenizer, r, task.maxPromptLength))
    .filter((pa) => pa !== null);
  if (cases.length === 0) return { evalLoss: loss, perplexity };
  const longest = Math.max(...cases.map((c) => task.tokenizer.encode(c.answer).length));
  const { exactMatch: score } = exactMatch(params, config, task.tokenizer, records, longest + 2, task.maxPromptLength);
  return { evalLoss: loss, perplexity, exactMatch: score };
}

/** The results of a train phase: its training loss and the held-out scores after (and, as base*, before) it. */
export function taskResults(
  trainLoss: number,
  before: ReturnType<typeof scoreTask>,
  after: ReturnType<typeof scoreTask>,
  skipped: number,
) {
  return {
    trainLoss,
    ...(after ? { evalLoss: after.evalLoss } : {}),
    metrics: {
      ...(after ? { perplexity: after.perplexity } : {}),
      ...(after?.exactMatch !== undefined ? { exactMatch: after.exactMatch } : {}),
      ...(before ? { baseEvalLoss: before.evalLoss } : {}),
      ...(before?.exactMatch !== undefined ? { baseExactMatch: before.exactMatch } : {}),
    },
    ...(skipped > 0 ? { skippedLines: skipped } : {}),
  };
}
