// The committed base model: loads here and in transformers (model and tokenizer) with the same numbers, and its
// pretraining took: it answers a pretraining-style prompt correctly.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { BASE_CONFIG } from '../../scripts/base-model/config.ts';
import { selectBackend } from '../../src/backend/select.ts';
import { parameterCount } from '../../src/model/config.ts';
import { logits } from '../../src/model/llama.ts';
import { loadPretrained, type PretrainedModel } from '../../src/model/pretrained.ts';
import { TextTokenizer } from '../../src/tokenizer/tokenizer.ts';
import { greedyGenerate } from '../../src/train/generate.ts';
import { HF_REFERENCE, python } from '../helpers/python.ts';

const BASE_DIR = fileURLToPath(new URL('../../assets/base-model', import.meta.url));
const TEXTS = ['Count by 5 from 10: 10, 15, 20.', 'Grüße ☃ <|im_end|>\n'];
const MESSAGES = [{ role: 'user', content: 'Say hello to Mia.' }];

let model: PretrainedModel;
let tokenizer: TextTokenizer;
beforeAll(async () => {
  await selectBackend('wasm', () => {});
  model = await loadPretrained(BASE_DIR);
  tokenizer = await TextTokenizer.load(BASE_DIR);
});

describe('base model', () => {
  it('is the recipe config, a few hundred thousand parameters stored as float16', () => {
    expect(model.config.raw).toMatchObject({ ...BASE_CONFIG, torch_dtype: 'float16' });
    expect(parameterCount(model.config)).toBe(772_224);
  });

  it('answers a pretraining-style chat prompt', () => {
    const prompt = tokenizer.encode(tokenizer.applyChatTemplate(MESSAGES, true));
    const stop = [tokenizer.eosId as number, tokenizer.tokenId('<|im_end|>') as number];
    const out = greedyGenerate(model.params, model.config, prompt, { maxNewTokens: 16, stopIds: stop });
    expect(tokenizer.decode(out)).toBe('Hello, Mia!');
  });

  it('tokenizer and model load in transformers with the same ids, chat rendering and logits', async () => {
    const work = await mkdtemp(join(tmpdir(), 'lota-base-'));
    const tokFile = join(work, 'tok.json');
    await writeFile(tokFile, JSON.stringify({ dir: BASE_DIR, texts: TEXTS, messages: MESSAGES }));
    const hfTok = await python<{ ids: number[][]; chat: string }>(HF_REFERENCE, ['tokenizer', tokFile]);
    expect(hfTok.ids).toEqual(TEXTS.map((t) => tokenizer.encode(t)));
    expect(hfTok.chat).toBe(tokenizer.applyChatTemplate(MESSAGES, true));

    const ids = hfTok.ids[0] as number[];
    const batch = { input_ids: [ids], labels: [ids], attention_mask: [ids.map(() => 1)] };
    const logitsFile = join(work, 'logits.json');
    await writeFile(logitsFile, JSON.stringify([{ dir: BASE_DIR, batch }]));
    const [theirs] = await python<{ logits: number[] }[]>(HF_REFERENCE, ['logits', logitsFile]);
    const mine = tf.tidy(() =>
      logits(model.params, model.config, { inputIds: Int32Array.from(ids), batch: 1, seqLen: ids.length }).dataSync(),
    );
    const diff = Math.max(...[...mine].map((x, i) => Math.abs(x - (theirs?.logits[i] as number))));
    expect(diff).toBeLessThan(1e-4);
  }, 300_000);
});
