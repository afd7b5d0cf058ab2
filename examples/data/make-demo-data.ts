// Writes the demo's data (examples/data/*.jsonl): two chat tasks near, but not in, what the base model pretrained on
// (trainer-image/scripts/base-model/corpus.ts has "Say hello to X." and "What number comes after N?"):
//   farewell: "Say goodbye to Kira." → "Goodbye, Kira!"
//   before:   "What number comes before 42?" → "41"
// Held-out names and numbers are never trained on, so exact match measures the skill, not memorisation.
// Deterministic; rerun with `node examples/data/make-demo-data.ts` after changing it.
import { writeFileSync } from 'node:fs';
import { seededRandom } from '../../trainer-image/src/data/random.ts';

const random = seededRandom(4242);
const shuffle = <T>(items: T[]): T[] => items.sort(() => random() - 0.5);

const NAMES = ['Ada', 'Bob', 'Cleo', 'Dan', 'Eve', 'Finn', 'Gus', 'Hana', 'Ivo', 'Jun', 'Kira', 'Lars', 'Mia', 'Noor'];
const letters = 'abcdefghijklmnopqrstuvwxyz';
const made = Array.from({ length: 60 }, () => {
  const word = Array.from({ length: 3 + Math.floor(random() * 3) }, () => letters[Math.floor(random() * 26)]).join('');
  return word.charAt(0).toUpperCase() + word.slice(1);
});
const names = shuffle([...NAMES, ...made]);
const numbers = shuffle(Array.from({ length: 99 }, (_, i) => i + 1));

const chat = (user: string, assistant: string) =>
  JSON.stringify({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ],
  });

const farewell = (n: string) => chat(`Say goodbye to ${n}.`, `Goodbye, ${n}!`);
const before = (n: number) => chat(`What number comes before ${n}?`, String(n - 1));

const dir = new URL('.', import.meta.url);
const write = (file: string, lines: string[]) => writeFileSync(new URL(file, dir), `${lines.join('\n')}\n`);
write('farewell-train.jsonl', names.slice(12).map(farewell));
write('farewell-eval.jsonl', names.slice(0, 12).map(farewell));
write('before-train.jsonl', numbers.slice(12).map(before));
write('before-eval.jsonl', numbers.slice(0, 12).map(before));
