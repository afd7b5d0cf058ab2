// The science run's task generators and its exact-match metric (not its results: those are measured by the run).
import { describe, expect, it } from 'vitest';
import { selectBackend } from '../../../trainer-image/src/backend/select.ts';
import { parseJsonl } from '../../../trainer-image/src/data/jsonl.ts';
import { disposeParameters } from '../../../trainer-image/src/model/parameters.ts';
import { loadPretrained } from '../../../trainer-image/src/model/pretrained.ts';
import { TextTokenizer } from '../../../trainer-image/src/tokenizer/tokenizer.ts';
import { greedyGenerate } from '../../../trainer-image/src/train/generate.ts';
import { evalSetOf, greedyBatched, stopIdsOf } from '../evaluate.ts';
import { cipherKey, exactMatchRate, generateSplit, isExactMatch, promptOf, TASKS } from '../tasks.ts';

const BASE = new URL('../../../trainer-image/assets/base-model', import.meta.url).pathname;

describe('task generators', () => {
  it('answer each task by its definition', () => {
    expect(TASKS.reverse.answer('abcde')).toBe('edcba');
    expect(TASKS.sort.answer('dcbad')).toBe('abcdd');
    expect(TASKS.add.answer('47+85')).toBe('132');
    const key = cipherKey();
    expect([...key].sort().join('')).toBe('abcdefghijklmnopqrstuvwxyz');
    expect(TASKS.cipher.answer('abz')).toBe(`${key[0]}${key[1]}${key[25]}`);
  });

  it('draw the same split from the same seed, another from another seed', () => {
    for (const task of Object.values(TASKS)) {
      const a = generateSplit(task, 7, 40, 10);
      expect(generateSplit(task, 7, 40, 10)).toEqual(a);
      expect(generateSplit(task, 8, 40, 10)).not.toEqual(a);
    }
  });

  it('keep eval inputs out of train, and answers consistent with prompts', () => {
    for (const task of Object.values(TASKS)) {
      const { train, eval: held } = generateSplit(task, 3, 300, 50);
      expect(train).toHaveLength(300);
      expect(held).toHaveLength(50);
      const prompts = new Set(train.map((r) => promptOf(r).prompt));
      for (const r of held) expect(prompts.has(promptOf(r).prompt)).toBe(false);
      for (const r of [...train, ...held]) {
        const { prompt, answer } = promptOf(r);
        expect(prompt).toMatch(new RegExp(`^${task.instruction} \\S+ =$`));
        expect(answer).toBe(task.answer(prompt.slice(task.instruction.length + 1, -2)));
      }
    }
  });

  it('write records in the trainer prompt-completion and chat formats', () => {
    for (const format of ['prompt', 'messages'] as const) {
      const { train } = generateSplit(TASKS.cipher, 1, 3, 1, format);
      const { records } = parseJsonl(train.map((r) => JSON.stringify(r)).join('\n'), 'cipher.jsonl');
      expect(records.map((r) => r.kind)).toEqual([format, format, format]);
    }
  });

  it('refuse sizes that cannot be drawn', () => {
    expect(() => generateSplit(TASKS.reverse, 1, 0, 5)).toThrow(/positive integers/);
    expect(() => generateSplit(TASKS.add, 1, 10_000, 1)).toThrow(/cannot draw 10001 distinct inputs/);
  });
});

describe('exact match', () => {
  it('compares trimmed strings, as the trainer does', () => {
    expect(isExactMatch('cba', ' cba\n')).toBe(true);
    expect(isExactMatch('cba', 'cb')).toBe(false);
    expect(exactMatchRate(['a', 'b', 'c', 'd'], ['a', 'x', 'c ', ''])).toBe(0.5);
    expect(() => exactMatchRate(['a'], [])).toThrow(/as many outputs/);
  });

  it('decodes in batches exactly as the trainer decodes one prompt at a time', async () => {
    await selectBackend('wasm', () => {});
    const tokenizer = await TextTokenizer.load(BASE);
    const model = await loadPretrained(BASE);
    try {
      const { eval: held } = generateSplit(TASKS.reverse, 5, 1, 4);
      const records = parseJsonl(held.map((r) => JSON.stringify(r)).join('\n'), 'eval.jsonl').records;
      const set = evalSetOf('reverse', records, tokenizer);
      const stopIds = stopIdsOf(tokenizer);
      const batched = greedyBatched(model.params, model.config, set.prompts, set.maxNewTokens, stopIds);
      const single = set.prompts.map((p) =>
        greedyGenerate(model.params, model.config, p, { maxNewTokens: set.maxNewTokens, stopIds }),
      );
      expect(batched).toEqual(single);
    } finally {
      disposeParameters(model.params);
    }
  });
});
