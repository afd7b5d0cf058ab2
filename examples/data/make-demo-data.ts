// Writes the demo's data (examples/data/*.jsonl): two chat tasks the base model never saw in pretraining
// (trainer-image/scripts/base-model/corpus.ts leaves them out on purpose): upper-casing a word and reversing it.
// Deterministic; rerun with `node examples/data/make-demo-data.ts` after changing it.
import { writeFileSync } from 'node:fs';
import { mulberry32 } from '../../trainer-image/src/data/random.ts';

const WORDS = [
  'ada',
  'bob',
  'cleo',
  'dan',
  'eve',
  'finn',
  'gus',
  'hana',
  'ivo',
  'jun',
  'kira',
  'lars',
  'mia',
  'noor',
  'cat',
  'dog',
  'fox',
  'owl',
  'bee',
  'cow',
  'hen',
  'yak',
  'eel',
  'ant',
  'bat',
  'pig',
  'red',
  'blue',
  'green',
  'gold',
  'gray',
  'pink',
  'black',
  'white',
  'ball',
  'box',
  'cup',
  'hat',
  'book',
  'key',
  'lamp',
  'map',
  'pen',
  'ring',
  'sock',
  'drum',
];

const TASKS = {
  upper: { ask: (w: string) => `Upper-case: ${w}`, answer: (w: string) => w.toUpperCase() },
  reverse: { ask: (w: string) => `Reverse: ${w}`, answer: (w: string) => [...w].reverse().join('') },
};

function lines(task: keyof typeof TASKS, words: readonly string[]): string {
  return words
    .map((w) =>
      JSON.stringify({
        messages: [
          { role: 'user', content: TASKS[task].ask(w) },
          { role: 'assistant', content: TASKS[task].answer(w) },
        ],
      }),
    )
    .join('\n');
}

const random = mulberry32(4242);
const shuffled = [...WORDS].sort(() => random() - 0.5);
// Held-out words are never trained on: exact match measures the skill, not memorisation.
const heldOut = shuffled.slice(0, 10);
const train = shuffled.slice(10);
const dir = new URL('.', import.meta.url);
for (const task of Object.keys(TASKS) as (keyof typeof TASKS)[]) {
  writeFileSync(new URL(`${task}-train.jsonl`, dir), `${lines(task, [...train, ...train, ...train, ...train])}\n`);
  writeFileSync(new URL(`${task}-eval.jsonl`, dir), `${lines(task, heldOut)}\n`);
}
