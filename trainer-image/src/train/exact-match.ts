// Exact-match accuracy: greedy completions of held-out prompts compared (trimmed) with the reference answers.

import type { DatasetRecord } from '../data/jsonl.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { Parameters } from '../model/llama.ts';
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { greedyGenerate } from './generate.ts';

export interface ExactMatchResult {
  exactMatch: number;
  total: number;
  samples: { prompt: string; expected: string; got: string }[];
}

/** Prompt ids and expected answer of a record: the last assistant turn of a chat, or a completion. */
export function promptAndAnswer(
  tokenizer: TextTokenizer,
  record: DatasetRecord,
): { prompt: number[]; answer: string } | null {
  if (record.kind === 'prompt') {
    const bos = tokenizer.bosId === null ? [] : [tokenizer.bosId];
    return { prompt: [...bos, ...tokenizer.encode(record.prompt)], answer: record.completion };
  }
  if (record.kind === 'messages') {
    const last = record.messages.at(-1);
    if (last?.role !== 'assistant') return null;
    const text = tokenizer.applyChatTemplate(record.messages.slice(0, -1), true);
    return { prompt: tokenizer.encode(text), answer: last.content };
  }
  return null;
}

export function exactMatch(
  params: Parameters,
  config: LlamaConfig,
  tokenizer: TextTokenizer,
  records: readonly DatasetRecord[],
  maxNewTokens: number,
): ExactMatchResult {
  const stopIds = [tokenizer.eosId, tokenizer.tokenId('<|im_end|>')].filter(
    (id): id is number => typeof id === 'number',
  );
  let correct = 0;
  let total = 0;
  const samples: ExactMatchResult['samples'] = [];
  for (const record of records) {
    const pa = promptAndAnswer(tokenizer, record);
    if (pa === null) continue;
    const got = tokenizer.decode(greedyGenerate(params, config, pa.prompt, { maxNewTokens, stopIds })).trim();
    total++;
    if (got === pa.answer.trim()) correct++;
    if (samples.length < 5) samples.push({ prompt: tokenizer.decode(pa.prompt), expected: pa.answer, got });
  }
  if (total === 0) throw new Error('exact match needs records with a completion or a final assistant turn');
  return { exactMatch: correct / total, total, samples };
}
