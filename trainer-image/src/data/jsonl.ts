// Reading a JSONL dataset into typed records. Each line is one of
//   {"messages": [{"role": ..., "content": ...}, ...]}   chat: loss on assistant turns
//   {"prompt": "...", "completion": "..."}                loss on the completion
//   {"text": "..."}                                       loss on every token
// A dataset may declare its format; a line of another format is then a bad line. A bad line is an error naming
// file, line and reason; with policy 'skip' it is counted and left out instead.
import { readFile } from 'node:fs/promises';
import type { ChatMessage } from '../tokenizer/tokenizer.ts';

export type DatasetRecord =
  | { kind: 'messages'; messages: ChatMessage[]; line: number }
  | { kind: 'prompt'; prompt: string; completion: string; line: number }
  | { kind: 'text'; text: string; line: number };

export type BadLinePolicy = 'fail' | 'skip';

/** The formats a dataset may declare (the API's `dataset.format`). */
export type DatasetFormat = 'messages' | 'prompt-completion' | 'text';

const FORMAT_OF: Record<DatasetRecord['kind'], DatasetFormat> = {
  messages: 'messages',
  prompt: 'prompt-completion',
  text: 'text',
};

export class DatasetError extends Error {
  override name = 'DatasetError';
  readonly file: string;
  readonly line: number;
  constructor(file: string, line: number, reason: string) {
    super(line > 0 ? `${file}:${line}: ${reason}` : `${file}: ${reason}`);
    this.file = file;
    this.line = line;
  }
}

export interface SkippedLine {
  line: number;
  reason: string;
}

export interface ReadResult {
  records: DatasetRecord[];
  skipped: SkippedLine[];
}

const ROLES = new Set(['system', 'user', 'assistant']);

/** The record of one parsed line, or a reason why it is not one. */
function parseRecord(value: unknown, line: number): DatasetRecord | string {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'expected a JSON object';
  const o = value as Record<string, unknown>;
  const formats = ['messages', 'prompt', 'text'].filter((k) => k in o);
  if (formats.length === 0) return 'has none of "messages", "prompt"/"completion", "text"';
  if (formats.length > 1) return `mixes formats (${formats.join(', ')}); use exactly one`;
  if ('messages' in o) {
    const messages = o.messages;
    if (!Array.isArray(messages) || messages.length === 0) return '"messages" must be a non-empty array';
    const out: ChatMessage[] = [];
    for (const [i, m] of messages.entries()) {
      const role = (m as { role?: unknown } | null)?.role;
      const content = (m as { content?: unknown } | null)?.content;
      if (typeof role !== 'string' || !ROLES.has(role)) {
        return `messages[${i}].role must be one of system, user, assistant (got ${JSON.stringify(role)})`;
      }
      if (typeof content !== 'string') return `messages[${i}].content must be a string`;
      out.push({ role, content });
    }
    if (!out.some((m) => m.role === 'assistant')) return '"messages" has no assistant turn to learn from';
    return { kind: 'messages', messages: out, line };
  }
  if ('prompt' in o) {
    if (typeof o.prompt !== 'string') return '"prompt" must be a string';
    if (typeof o.completion !== 'string') return '"completion" must be a string next to "prompt"';
    if (o.completion === '') return '"completion" is empty';
    return { kind: 'prompt', prompt: o.prompt, completion: o.completion, line };
  }
  if (typeof o.text !== 'string') return '"text" must be a string';
  if (o.text === '') return '"text" is empty';
  return { kind: 'text', text: o.text, line };
}

/**
 * Parses JSONL text (blank lines are allowed and ignored). `file` names the source in errors; with `format`, every
 * line must be of that format.
 */
export function parseJsonl(
  text: string,
  file: string,
  policy: BadLinePolicy = 'fail',
  format?: DatasetFormat,
): ReadResult {
  const records: DatasetRecord[] = [];
  const skipped: SkippedLine[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const raw = (lines[i] as string).trim();
    if (raw === '') continue;
    const line = i + 1;
    let value: unknown;
    let result: DatasetRecord | string;
    try {
      value = JSON.parse(raw);
      result = parseRecord(value, line);
      if (typeof result !== 'string' && format !== undefined && FORMAT_OF[result.kind] !== format) {
        result = `is a ${FORMAT_OF[result.kind]} line, but the dataset's format is ${format}`;
      }
    } catch (err) {
      result = `invalid JSON (${(err as Error).message})`;
    }
    if (typeof result !== 'string') {
      records.push(result);
    } else if (policy === 'skip') {
      skipped.push({ line, reason: result });
    } else {
      throw new DatasetError(file, line, result);
    }
  }
  if (records.length === 0) throw new DatasetError(file, lines.length, 'the dataset has no usable records');
  return { records, skipped };
}

export async function readJsonl(
  file: string,
  policy: BadLinePolicy = 'fail',
  format?: DatasetFormat,
): Promise<ReadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new DatasetError(file, 0, `cannot be read (${(err as Error).message})`);
  }
  return parseJsonl(text, file, policy, format);
}
