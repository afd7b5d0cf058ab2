// Turning records into token ids and labels. Labels equal the ids on tokens the model should learn to produce
// (assistant turns, completions, plain text) and IGNORE_INDEX elsewhere. The prompt (the tokens before the first
// learned one) is cut from the left to maxPromptLength, then the whole example is cut to its first maxSeqLength.

import type { ChatMessage, TextTokenizer } from '../tokenizer/tokenizer.ts';
import { DatasetError, type DatasetRecord } from './jsonl.ts';

/** The label of a position the loss skips (prompt, padding), as in PyTorch's cross_entropy. */
export const IGNORE_INDEX = -100;

export interface TokenizedExample {
  inputIds: number[];
  labels: number[];
  /** Source line, for error messages. */
  line: number;
}

function startsWith(ids: readonly number[], prefix: readonly number[]): boolean {
  return prefix.length <= ids.length && prefix.every((id, i) => ids[i] === id);
}

/**
 * Chat: the conversation is rendered with the chat template; each assistant turn's tokens are those between the
 * rendering of the turns before it (with the generation prompt) and the rendering that includes it.
 */
function chatExample(tokenizer: TextTokenizer, messages: ChatMessage[], file: string, line: number): TokenizedExample {
  const inputIds = tokenizer.encode(tokenizer.applyChatTemplate(messages));
  const labels = new Array<number>(inputIds.length).fill(IGNORE_INDEX);
  for (let i = 0; i < messages.length; i++) {
    if ((messages[i] as ChatMessage).role !== 'assistant') continue;
    const before = tokenizer.encode(tokenizer.applyChatTemplate(messages.slice(0, i), true));
    const through = tokenizer.encode(tokenizer.applyChatTemplate(messages.slice(0, i + 1)));
    if (!startsWith(through, before) || !startsWith(inputIds, through)) {
      throw new DatasetError(
        file,
        line,
        `the chat template's rendering of messages[${i}] does not extend the conversation before it; cannot tell which tokens are the assistant's`,
      );
    }
    for (let t = before.length; t < through.length; t++) labels[t] = inputIds[t] as number;
  }
  return { inputIds, labels, line };
}

export interface TokenizeOptions {
  maxSeqLength: number;
  /** Prompt tokens kept, counting a leading BOS (which is always kept); the oldest are dropped first. */
  maxPromptLength?: number;
  /** Names the dataset in errors. */
  file: string;
}

/** The example for a record, or null when truncation leaves no token to learn from. */
export function tokenizeRecord(
  tokenizer: TextTokenizer,
  record: DatasetRecord,
  options: TokenizeOptions,
): TokenizedExample | null {
  let example: TokenizedExample;
  const eos = tokenizer.eosId === null ? [] : [tokenizer.eosId];
  const bos = tokenizer.bosId === null ? [] : [tokenizer.bosId];
  if (record.kind === 'messages') {
    example = chatExample(tokenizer, record.messages, options.file, record.line);
  } else if (record.kind === 'prompt') {
    const prompt = [...bos, ...tokenizer.encode(record.prompt)];
    const completion = [...tokenizer.encode(record.completion), ...eos];
    example = {
      inputIds: [...prompt, ...completion],
      labels: [...prompt.map(() => IGNORE_INDEX), ...completion],
      line: record.line,
    };
  } else {
    const ids = [...bos, ...tokenizer.encode(record.text), ...eos];
    // The first token is never predicted (nothing precedes it), so labelling it changes nothing.
    example = { inputIds: ids, labels: [...ids], line: record.line };
  }
  if (options.maxPromptLength !== undefined) truncatePrompt(example, options.maxPromptLength, tokenizer.bosId);
  if (example.inputIds.length > options.maxSeqLength) {
    example.inputIds.length = options.maxSeqLength;
    example.labels.length = options.maxSeqLength;
  }
  // Position 0's label is never a target; an example needs a label after it.
  if (!example.labels.slice(1).some((l) => l !== IGNORE_INDEX)) return null;
  return example;
}

/** The at most `max` newest prompt tokens, keeping a leading BOS: the model was trained with it at position 0. */
export function promptTail(ids: readonly number[], max: number, bosId: number | null): number[] {
  if (ids.length <= max) return [...ids];
  const keep = bosId !== null && ids[0] === bosId && max > 0 ? 1 : 0;
  return [...ids.slice(0, keep), ...ids.slice(ids.length - (max - keep))];
}

/** Drops the oldest prompt tokens so at most maxPromptLength remain before the first learned token (promptTail). */
function truncatePrompt(example: TokenizedExample, maxPromptLength: number, bosId: number | null): void {
  const promptLength = example.labels.findIndex((l) => l !== IGNORE_INDEX);
  if (promptLength <= maxPromptLength) return; // includes -1: nothing learned, nothing to keep room for
  const prompt = promptTail(example.inputIds.slice(0, promptLength), maxPromptLength, bosId);
  example.inputIds.splice(0, promptLength, ...prompt);
  example.labels.splice(0, promptLength, ...prompt.map(() => IGNORE_INDEX));
}
