// The synthetic tasks of the science run: dissimilar string and arithmetic skills the base model never saw
// (reversal, a substitution cipher, addition, sorting), each generated from a seed into disjoint train/eval splits of
// chat records — the trainer's `messages` dataset format — and scored by exact match of the assistant's answer.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom } from '../../trainer-image/src/lota/random.ts';

export type Random = () => number;

export interface TaskDefinition {
  name: string;
  /** What the user says before the input (a task's prompts all start with it). */
  instruction: string;
  /** One random input. */
  input(random: Random): string;
  /** The reference answer for an input. */
  answer(input: string): string;
}

export type TaskRecord = PromptRecord | ChatRecord;

/** The trainer's prompt-completion format (loss on the completion). */
export interface PromptRecord {
  prompt: string;
  completion: string;
}

/** The trainer's messages format (the chat template is applied; loss on the assistant turn). */
export interface ChatRecord {
  messages: [{ role: 'user'; content: string }, { role: 'assistant'; content: string }];
}

export type RecordFormat = 'prompt' | 'messages';

const LETTERS = 'abcdefghijklmnopqrstuvwxyz';

function word(random: Random, min: number, max: number): string {
  const length = min + Math.floor(random() * (max - min + 1));
  let w = '';
  for (let i = 0; i < length; i++) w += LETTERS[Math.floor(random() * LETTERS.length)];
  return w;
}

/** A fixed permutation of the alphabet (Fisher–Yates from its own seed, so the cipher never depends on a run's). */
export function cipherKey(seed = 1729): string {
  const random = seededRandom(seed);
  const letters = [...LETTERS];
  for (let i = letters.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [letters[i], letters[j]] = [letters[j] as string, letters[i] as string];
  }
  return letters.join('');
}

const KEY = cipherKey();

export const TASKS = {
  last: {
    name: 'last',
    instruction: 'Last letter:',
    input: (random) => word(random, 3, 7),
    answer: (input) => input.at(-1) ?? '',
  },
  before: {
    name: 'before',
    instruction: 'Number before:',
    input: (random) => String(1 + Math.floor(random() * 999)),
    answer: (input) => String(Number(input) - 1),
  },
  goodbye: {
    name: 'goodbye',
    instruction: 'Say goodbye to',
    input: (random) => {
      const w = word(random, 3, 7);
      return `${w[0]?.toUpperCase()}${w.slice(1)}`;
    },
    answer: (input) => `Goodbye, ${input}!`,
  },
  upper: {
    name: 'upper',
    instruction: 'Upper:',
    input: (random) => word(random, 2, 4),
    answer: (input) => input.toUpperCase(),
  },
  reverse: {
    name: 'reverse',
    instruction: 'Reverse:',
    input: (random) => word(random, 3, 5),
    answer: (input) => [...input].reverse().join(''),
  },
  cipher: {
    name: 'cipher',
    instruction: 'Encode:',
    input: (random) => word(random, 3, 5),
    answer: (input) => [...input].map((c) => KEY[LETTERS.indexOf(c)] ?? c).join(''),
  },
  add: {
    name: 'add',
    instruction: 'Add:',
    input: (random) => `${Math.floor(random() * 100)}+${Math.floor(random() * 100)}`,
    answer: (input) =>
      String(
        input
          .split('+')
          .map(Number)
          .reduce((a, b) => a + b, 0),
      ),
  },
  sort: {
    name: 'sort',
    instruction: 'Sort:',
    input: (random) => word(random, 3, 5),
    answer: (input) => [...input].sort().join(''),
  },
} as const satisfies Record<string, TaskDefinition>;

export type TaskName = keyof typeof TASKS;

export function isTaskName(name: string): name is TaskName {
  return Object.hasOwn(TASKS, name);
}

export function record(task: TaskDefinition, input: string, format: RecordFormat = 'prompt'): TaskRecord {
  if (format === 'prompt') return { prompt: `${task.instruction} ${input} =`, completion: task.answer(input) };
  return {
    messages: [
      { role: 'user', content: `${task.instruction} ${input}` },
      { role: 'assistant', content: task.answer(input) },
    ],
  };
}

export interface Split {
  train: TaskRecord[];
  eval: TaskRecord[];
}

/** The user's text of a record (chat) or its prompt, and the reference answer. */
export function promptOf(r: TaskRecord): { prompt: string; answer: string } {
  return 'prompt' in r
    ? { prompt: r.prompt, answer: r.completion }
    : { prompt: r.messages[0].content, answer: r.messages[1].content };
}

/**
 * `trainSize` + `evalSize` records with distinct inputs, drawn from `seed`; the eval inputs never occur in train.
 * Throws when the task has too few distinct inputs for the sizes asked.
 */
export function generateSplit(
  task: TaskDefinition,
  seed: number,
  trainSize: number,
  evalSize: number,
  format: RecordFormat = 'prompt',
): Split {
  if (!(Number.isInteger(trainSize) && trainSize > 0 && Number.isInteger(evalSize) && evalSize > 0)) {
    throw new RangeError(`${task.name}: train and eval sizes must be positive integers (${trainSize}, ${evalSize})`);
  }
  const random = seededRandom(seed);
  const seen = new Set<string>();
  const inputs: string[] = [];
  const wanted = trainSize + evalSize;
  for (let tries = 0; inputs.length < wanted; tries++) {
    if (tries > wanted * 100) throw new RangeError(`${task.name}: cannot draw ${wanted} distinct inputs`);
    const input = task.input(random);
    if (seen.has(input)) continue;
    seen.add(input);
    inputs.push(input);
  }
  return {
    eval: inputs.slice(0, evalSize).map((i) => record(task, i, format)),
    train: inputs.slice(evalSize).map((i) => record(task, i, format)),
  };
}

/** Exact match as the trainer scores it: the trimmed answer equals the trimmed reference. */
export function isExactMatch(expected: string, got: string): boolean {
  return expected.trim() === got.trim();
}

/** The fraction of outputs that exactly match their references. */
export function exactMatchRate(expected: readonly string[], got: readonly string[]): number {
  if (expected.length !== got.length || expected.length === 0) {
    throw new RangeError(`exact match needs as many outputs as references (${got.length} vs ${expected.length}, > 0)`);
  }
  return expected.filter((e, i) => isExactMatch(e, got[i] as string)).length / expected.length;
}

/** Writes <dir>/<task>-train.jsonl and <dir>/<task>-eval.jsonl; returns their paths. */
export async function writeSplit(dir: string, name: string, split: Split): Promise<{ train: string; eval: string }> {
  await mkdir(dir, { recursive: true });
  const paths = { train: join(dir, `${name}-train.jsonl`), eval: join(dir, `${name}-eval.jsonl`) };
  const lines = (records: TaskRecord[]) => `${records.map((r) => JSON.stringify(r)).join('\n')}\n`;
  await writeFile(paths.train, lines(split.train));
  await writeFile(paths.eval, lines(split.eval));
  return paths;
}
