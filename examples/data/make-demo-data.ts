// Writes the demo's data (examples/data/*.jsonl): two dissimilar chat tasks near, but not in, what the base model
// pretrained on (trainer-image/scripts/base-model/corpus.ts has "Say hello to X." → "Hello, X!" and "What number
// comes after N?"):
//   before:   "What number comes before 42?" → "41"
//   farewell: "Say goodbye to Kira." → "Goodbye, friend!"
// The farewell reply does not repeat the name: copying unseen made-up names is beyond this 0.8M-parameter model at
// the demo's budget (tried: LoTA reached 0 exact match on "Goodbye, <name>!", answering with training names).
// Held-out names and numbers are never trained on, so exact match measures the skill, not memorisation; 24
// held-out examples per task, so one answer moves a score by 1/24.
// Deterministic; rerun with `node examples/data/make-demo-data.ts` after changing it.
import { writeFileSync } from 'node:fs';
import { seededRandom } from '../../trainer-image/src/data/random.ts';

const random = seededRandom(4242);
const shuffle = <T>(items: T[]): T[] => items.sort(() => random() - 0.5);

const letters = 'abcdefghijklmnopqrstuvwxyz';
const made = new Set<string>();
while (made.size < 96) {
  const word = Array.from({ length: 3 + Math.floor(random() * 3) }, () => letters[Math.floor(random() * 26)]).join('');
  made.add(word.charAt(0).toUpperCase() + word.slice(1));
}
const names = shuffle([...made]);
const numbers = shuffle(Array.from({ length: 99 }, (_, i) => i + 1));

const chat = (user: string, assistant: string) =>
  JSON.stringify({
    messages: [
      { role: 'user', content: user },
      { role: 'assistant', content: assistant },
    ],
  });

const farewell = (n: string) => chat(`Say goodbye to ${n}.`, 'Goodbye, friend!');
const before = (n: number) => chat(`What number comes before ${n}?`, String(n - 1));

const dir = new URL('.', import.meta.url);
const write = (file: string, lines: string[]) => writeFileSync(new URL(file, dir), `${lines.join('\n')}\n`);
write('farewell-train.jsonl', names.slice(24).map(farewell));
write('farewell-eval.jsonl', names.slice(0, 24).map(farewell));
write('before-train.jsonl', numbers.slice(24).map(before));
write('before-eval.jsonl', numbers.slice(0, 24).map(before));
