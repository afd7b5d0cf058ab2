// Exact-match accuracy: greedy completions of held-out prompts compared (trimmed) with the reference answers.

import { promptTail } from '../data/examples.ts';
import type { DatasetRecord } from '../data/jsonl.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { Parameters } from '../model/llama.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { greedyGenerateBatch } from './generate.ts';

export interface ExactMatchResult {
  exactMatch: number;
  total: number;
  samples: { prompt: string; expected: string; got: string }[];
}

/**
 * Prompt ids and expected answer of a record: the last assistant turn of a chat, or a completion. With
 * `maxPromptLength`, the prompt is cut from the left as training cuts it (promptTail).
 */
export function promptAndAnswer(
  tokenizer: TextTokenizer,
  record: DatasetRecord,
  maxPromptLength?: number,
): { prompt: number[]; answer: string } | null {
  const cut = (ids: number[]) =>
    maxPromptLength === undefined ? ids : promptTail(ids, maxPromptLength, tokenizer.bosId);
  if (record.kind === 'prompt') {
    const bos = tokenizer.bosId === null ? [] : [tokenizer.bosId];
    return { prompt: cut([...bos, ...tokenizer.encode(record.prompt)]), answer: record.completion };
  }
  if (record.kind === 'messages') {
    const last = record.messages.at(-1);
    if (last?.role !== 'assistant') return null;
    const text = tokenizer.applyChatTemplate(record.messages.slice(0, -1), true);
    return { prompt: cut(tokenizer.encode(text)), answer: last.content };
  }
  return null;
}

/** Prompts decoded together per batch; rows stop independently. */
const GENERATION_BATCH = 16;

export function exactMatch(
  params: Parameters,
  config: LlamaConfig,
  tokenizer: TextTokenizer,
  records: readonly DatasetRecord[],
  maxNewTokens: number,
  maxPromptLength?: number,
): ExactMatchResult {
  const stopIds = [tokenizer.eosId, tokenizer.tokenId('<|im_end|>')].filter(
    (id): id is number => typeof id === 'number',
  );
  const cases = records.map((r) => promptAndAnswer(tokenizer, r, maxPromptLength)).filter((pa) => pa !== null);
  if (cases.length === 0) throw new Error('exact match needs records with a completion or a final assistant turn');
  let correct = 0;
  const samples: ExactMatchResult['samples'] = [];
  for (let i = 0; i < cases.length; i += GENERATION_BATCH) {
    const chunk = cases.slice(i, i + GENERATION_BATCH);
    const outputs = greedyGenerateBatch(
      params,
      config,
      chunk.map((c) => c.prompt),
      { maxNewTokens, stopIds },
    );
    chunk.forEach((c, j) => {
      const ids = outputs[j] as number[];
      // decode([]) throws in @huggingface/tokenizers; a row that stopped at once answered nothing.
      const got = ids.length === 0 ? '' : tokenizer.decode(ids).trim();
      if (got === c.answer.trim()) correct++;
      if (samples.length < 5) samples.push({ prompt: tokenizer.decode(c.prompt), expected: c.answer, got });
    });
  }
  return { exactMatch: correct / cases.length, total: cases.length, samples };
}
