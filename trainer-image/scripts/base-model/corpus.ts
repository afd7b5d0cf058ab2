// The base model's pretraining text, generated from a seed: simple prose about a small made-up world, counting and
// lists, and ChatML conversations in which the assistant copies words and letter strings, counts and greets. Tasks
// that adaptation demos teach (reversing, upper-casing, adding numbers, sorting) are deliberately absent, so an
// adapted model's gain is the adaptation's doing.
import { seededRandom } from '../../src/data/random.ts';
import type { ChatMessage } from '../../src/tokenizer/tokenizer.ts';

const NAMES = ['Ada', 'Bob', 'Cleo', 'Dan', 'Eve', 'Finn', 'Gus', 'Hana', 'Ivo', 'Jun', 'Kira', 'Lars', 'Mia', 'Noor'];
const ANIMALS = ['cat', 'dog', 'fox', 'owl', 'bee', 'cow', 'hen', 'yak', 'eel', 'ant', 'bat', 'pig'];
const COLORS = ['red', 'blue', 'green', 'gold', 'gray', 'pink', 'black', 'white'];
const THINGS = ['ball', 'box', 'cup', 'hat', 'book', 'key', 'lamp', 'map', 'pen', 'ring', 'sock', 'drum'];
const PLACES = ['garden', 'kitchen', 'forest', 'river', 'market', 'school', 'tower', 'harbor'];
const VERBS = ['sees', 'finds', 'likes', 'carries', 'hides', 'paints', 'drops', 'wants'];
const ADVERBS = ['quickly', 'slowly', 'quietly', 'happily', 'often', 'never', 'again', 'today'];
const WORDS = [...NAMES, ...ANIMALS, ...COLORS, ...THINGS, ...PLACES].map((w) => w.toLowerCase());

export type Random = () => number;

function pick<T>(random: Random, items: readonly T[]): T {
  return items[Math.floor(random() * items.length)] as T;
}

function int(random: Random, lo: number, hi: number): number {
  return lo + Math.floor(random() * (hi - lo + 1));
}

function capital(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

function sentence(random: Random): string {
  const subject = random() < 0.5 ? pick(random, NAMES) : `the ${pick(random, ANIMALS)}`;
  const object = `${random() < 0.5 ? 'a' : 'the'} ${pick(random, COLORS)} ${pick(random, THINGS)}`;
  const where = random() < 0.5 ? ` in the ${pick(random, PLACES)}` : '';
  const how = random() < 0.3 ? ` ${pick(random, ADVERBS)}` : '';
  return `${capital(subject)} ${pick(random, VERBS)} ${object}${where}${how}.`;
}

export function prose(random: Random): string {
  return Array.from({ length: int(random, 2, 5) }, () => sentence(random)).join(' ');
}

export function counting(random: Random): string {
  const start = int(random, 0, 90);
  const step = pick(random, [1, 1, 1, 2, 5, 10]);
  const n = int(random, 4, 9);
  return `Count by ${step} from ${start}: ${Array.from({ length: n }, (_, i) => start + i * step).join(', ')}.`;
}

export function list(random: Random): string {
  const kind = pick(random, ['colors', 'animals', 'things', 'places'] as const);
  const pool = { colors: COLORS, animals: ANIMALS, things: THINGS, places: PLACES }[kind];
  const items = Array.from({ length: int(random, 3, 6) }, () => pick(random, pool));
  return `A list of ${kind}: ${items.join(', ')}.`;
}

function words(random: Random, n: number): string {
  return Array.from({ length: n }, () => pick(random, WORDS)).join(' ');
}

function letters(random: Random, n: number): string {
  return Array.from({ length: n }, () => String.fromCharCode(97 + int(random, 0, 25))).join('');
}

export function conversation(random: Random): ChatMessage[] {
  const kind = int(random, 0, 5);
  if (kind === 5) {
    // Copying arbitrary strings teaches the model to attend back to its prompt, which every task builds on.
    const text = letters(random, int(random, 2, 10));
    return [
      { role: 'user', content: `Copy: ${text}` },
      { role: 'assistant', content: text },
    ];
  }
  if (kind === 0) {
    const text = words(random, int(random, 1, 5));
    return [
      { role: 'user', content: `Repeat: ${text}` },
      { role: 'assistant', content: text },
    ];
  }
  if (kind === 1) {
    const n = int(random, 0, 98);
    return [
      { role: 'user', content: `What number comes after ${n}?` },
      { role: 'assistant', content: String(n + 1) },
    ];
  }
  if (kind === 2) {
    const name = pick(random, NAMES);
    return [
      { role: 'user', content: `Say hello to ${name}.` },
      { role: 'assistant', content: `Hello, ${name}!` },
    ];
  }
  if (kind === 3) {
    const text = words(random, int(random, 1, 6));
    return [
      { role: 'user', content: `How many words are in "${text}"?` },
      { role: 'assistant', content: String(text.split(' ').length) },
    ];
  }
  const s = sentence(random);
  return [
    { role: 'system', content: 'You answer briefly.' },
    { role: 'user', content: `Tell me something.` },
    { role: 'assistant', content: s },
  ];
}

export type Document = { kind: 'text'; text: string } | { kind: 'chat'; messages: ChatMessage[] };

/** `count` documents: 40% prose, 10% counting, 10% lists, 40% conversations. Same seed, same corpus. */
export function generateCorpus(seed: number, count: number): Document[] {
  const random = seededRandom(seed);
  const docs: Document[] = [];
  for (let i = 0; i < count; i++) {
    const r = random();
    if (r < 0.4) docs.push({ kind: 'text', text: prose(random) });
    else if (r < 0.5) docs.push({ kind: 'text', text: counting(random) });
    else if (r < 0.6) docs.push({ kind: 'text', text: list(random) });
    else docs.push({ kind: 'chat', messages: conversation(random) });
  }
  return docs;
}
