// A JSONL file read, validated and tokenized: the examples plus what was left out and why.
import type { TextTokenizer } from '../tokenizer/tokenizer.ts';
import { type TokenizedExample, tokenizeRecord } from './examples.ts';
import { type BadLinePolicy, DatasetError, type DatasetFormat, readJsonl, type SkippedLine } from './jsonl.ts';

export interface Dataset {
  file: string;
  examples: TokenizedExample[];
  /** Bad lines left out under policy 'skip'. */
  skipped: SkippedLine[];
  /** Lines whose response lies entirely beyond maxSeqLength. */
  truncatedAway: number[];
}

export interface DatasetOptions {
  maxSeqLength: number;
  /** Prompt tokens kept (truncated from the left); unlimited when absent. */
  maxPromptLength?: number;
  policy?: BadLinePolicy;
  /** The format every line must have; any when absent. */
  format?: DatasetFormat;
}

export async function loadDataset(file: string, tokenizer: TextTokenizer, options: DatasetOptions): Promise<Dataset> {
  if (!Number.isInteger(options.maxSeqLength) || options.maxSeqLength < 2) {
    throw new Error(`maxSeqLength must be an integer ≥ 2, got ${options.maxSeqLength}`);
  }
  const { maxPromptLength } = options;
  if (maxPromptLength !== undefined && (!Number.isInteger(maxPromptLength) || maxPromptLength < 1)) {
    throw new Error(`maxPromptLength must be an integer ≥ 1, got ${maxPromptLength}`);
  }
  const policy = options.policy ?? 'fail';
  const { records, skipped } = await readJsonl(file, policy, options.format);
  const examples: TokenizedExample[] = [];
  const truncatedAway: number[] = [];
  for (const record of records) {
    if (record.kind === 'messages' && !tokenizer.hasChatTemplate) {
      const error = new DatasetError(file, record.line, '"messages" needs a chat template, and the tokenizer has none');
      if (policy === 'fail') throw error;
      skipped.push({ line: record.line, reason: error.message });
      continue;
    }
    const example = tokenizeRecord(tokenizer, record, {
      maxSeqLength: options.maxSeqLength,
      ...(maxPromptLength !== undefined ? { maxPromptLength } : {}),
      file,
    });
    if (example === null) truncatedAway.push(record.line);
    else examples.push(example);
  }
  if (examples.length === 0) {
    throw new DatasetError(file, 0, `no example has a response token within maxSeqLength ${options.maxSeqLength}`);
  }
  return { file, examples, skipped, truncatedAway };
}
