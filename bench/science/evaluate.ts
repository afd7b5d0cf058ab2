// Scoring a model directory on every task's held-out split by greedy exact match — the trainer's metric (its
// `promptAndAnswer` and trimmed comparison), decoded in batches: prompts of equal token length form one batch, so
// rows need no padding and each decoding step is one forward pass for the whole group instead of one per record
// (the trainer's `greedyGenerate` decodes one record at a time; the science run scores ~10⁴ answers).
import * as tf from '@tensorflow/tfjs';
import type { DatasetRecord } from '../../trainer-image/src/data/jsonl.ts';
import { readJsonl } from '../../trainer-image/src/data/jsonl.ts';
import type { LlamaConfig } from '../../trainer-image/src/model/config.ts';
import { hiddenStates, lmHeadWeight, type Parameters } from '../../trainer-image/src/model/llama.ts';
import { disposeParameters } from '../../trainer-image/src/model/parameters.ts';
import { loadPretrained } from '../../trainer-image/src/model/pretrained.ts';
import type { TextTokenizer } from '../../trainer-image/src/tokenizer/tokenizer.ts';
import { promptAndAnswer } from '../../trainer-image/src/train/exact-match.ts';
import { exactMatchRate } from './tasks.ts';

export interface EvalSet {
  task: string;
  prompts: number[][];
  answers: string[];
  /** Longest reference answer in tokens, plus room for the stop token. */
  maxNewTokens: number;
}

export async function loadEvalSet(task: string, path: string, tokenizer: TextTokenizer): Promise<EvalSet> {
  const { records } = await readJsonl(path);
  return evalSetOf(task, records, tokenizer, path);
}

export function evalSetOf(task: string, records: DatasetRecord[], tokenizer: TextTokenizer, source = task): EvalSet {
  const prompts: number[][] = [];
  const answers: string[] = [];
  let longest = 0;
  for (const r of records) {
    const pa = promptAndAnswer(tokenizer, r);
    if (pa === null) throw new Error(`${source}:${r.line}: no final assistant answer to score`);
    prompts.push(pa.prompt);
    answers.push(pa.answer);
    longest = Math.max(longest, tokenizer.encode(pa.answer).length);
  }
  return { task, prompts, answers, maxNewTokens: longest + 2 };
}

/** Greedy completions (token ids, stop token excluded) of every prompt. */
export function greedyBatched(
  params: Parameters,
  config: LlamaConfig,
  prompts: readonly number[][],
  maxNewTokens: number,
  stopIds: readonly number[],
): number[][] {
  const stop = new Set(stopIds);
  const out: number[][] = prompts.map(() => []);
  const groups = new Map<number, number[]>();
  prompts.forEach((p, i) => {
    groups.set(p.length, [...(groups.get(p.length) ?? []), i]);
  });
  for (const members of groups.values()) {
    const rows = members.map((i) => [...(prompts[i] as number[])]);
    let live = members.map((_, j) => j);
    for (let step = 0; step < maxNewTokens && live.length > 0; step++) {
      const t = (rows[live[0] as number] as number[]).length;
      if (t >= config.maxPositionEmbeddings) break;
      const next = tf.tidy(() => {
        const ids = Int32Array.from(live.flatMap((j) => rows[j] as number[]));
        const h = hiddenStates(params, config, { inputIds: ids, batch: live.length, seqLen: t });
        const last = tf.gather(
          h,
          live.map((_, r) => r * t + t - 1),
        );
        const scores = tf.matMul(last, lmHeadWeight(params, config) as tf.Tensor2D, false, true);
        return Array.from(tf.argMax(scores, 1).dataSync());
      });
      const still: number[] = [];
      live.forEach((j, r) => {
        const id = next[r] as number;
        (rows[j] as number[]).push(id);
        if (stop.has(id)) return;
        (out[members[j] as number] as number[]).push(id);
        still.push(j);
      });
      // Drop finished rows from the batch: remaining rows all have the same length, so no padding is ever needed.
      live = still;
    }
  }
  return out;
}

export function stopIdsOf(tokenizer: TextTokenizer): number[] {
  return [tokenizer.eosId, tokenizer.tokenId('<|im_end|>')].filter((id): id is number => typeof id === 'number');
}

export function scoreParams(
  params: Parameters,
  config: LlamaConfig,
  tokenizer: TextTokenizer,
  set: EvalSet,
): { exactMatch: number; outputs: string[] } {
  const ids = greedyBatched(params, config, set.prompts, set.maxNewTokens, stopIdsOf(tokenizer));
  const outputs = ids.map((o) => (o.length === 0 ? '' : tokenizer.decode(o)));
  return { exactMatch: exactMatchRate(set.answers, outputs), outputs };
}

/** Exact match of the model in `dir` on each set, by task name. */
export async function scoreModel(
  dir: string,
  tokenizer: TextTokenizer,
  sets: readonly EvalSet[],
): Promise<Record<string, number>> {
  const model = await loadPretrained(dir);
  try {
    const scores: Record<string, number> = {};
    for (const set of sets) scores[set.task] = scoreParams(model.params, model.config, tokenizer, set).exactMatch;
    return scores;
  } finally {
    disposeParameters(model.params);
  }
}
