// Saving and loading model directories without Python: round trips, and checkpoints that do not fit their config.
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { beforeAll, describe, expect, it } from 'vitest';
import { selectBackend } from '../../src/backend/select.ts';
import { disposeParameters, initParameters } from '../../src/model/parameters.ts';
import { loadPretrained, savePretrained } from '../../src/model/pretrained.ts';
import { tinyConfig } from '../helpers/tiny.ts';

beforeAll(async () => {
  await selectBackend('cpu', () => {});
});

async function saved(configOverrides: Record<string, unknown> = {}, dtype: 'f32' | 'bf16' = 'f32') {
  const config = tinyConfig(configOverrides);
  const params = initParameters(config, 3);
  const dir = await mkdtemp(join(tmpdir(), 'lota-pretrained-'));
  await savePretrained(dir, config, params, { dtype });
  return { dir, config, params };
}

describe('savePretrained / loadPretrained', () => {
  it('round-trips float32 weights exactly and bfloat16 within its rounding', async () => {
    for (const dtype of ['f32', 'bf16'] as const) {
      const { dir, params } = await saved({ tie_word_embeddings: false }, dtype);
      const loaded = await loadPretrained(dir);
      expect([...loaded.params.keys()]).toEqual([...params.keys()]);
      for (const [name, p] of params) {
        const diff = tf.tidy(
          () => tf.max(tf.abs(tf.sub(p, loaded.params.get(name) as tf.Tensor))).dataSync()[0] as number,
        );
        expect(diff, `${dtype} ${name}`).toBeLessThanOrEqual(dtype === 'f32' ? 0 : 2 ** -8);
      }
      const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
      expect(config.torch_dtype).toBe(dtype === 'f32' ? 'float32' : 'bfloat16');
      disposeParameters(params);
      disposeParameters(loaded.params);
    }
  });

  it('refuses weights whose shapes the config does not imply, naming the tensor', async () => {
    const { dir, params } = await saved();
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, intermediate_size: 48 }));
    await expect(loadPretrained(dir)).rejects.toThrow(
      /tensor "model\.layers\.0\.mlp\.gate_proj\.weight" has shape \[64,32\], the config implies \[48,32\]/,
    );
    disposeParameters(params);
  });

  it('refuses a checkpoint missing a tensor the config needs', async () => {
    const { dir, params } = await saved();
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, tie_word_embeddings: false }));
    await expect(loadPretrained(dir)).rejects.toThrow(/tensor "lm_head\.weight" is missing/);
    disposeParameters(params);
  });

  it('refuses tensors the config does not account for', async () => {
    const { dir, params } = await saved();
    const config = JSON.parse(await readFile(join(dir, 'config.json'), 'utf8'));
    await writeFile(join(dir, 'config.json'), JSON.stringify({ ...config, num_hidden_layers: 1 }));
    await expect(loadPretrained(dir)).rejects.toThrow(/unexpected tensor "model\.layers\.1\./);
    disposeParameters(params);
  });

  it('refuses a config.json that is not an object, or none at all', async () => {
    const { dir, params } = await saved();
    await writeFile(join(dir, 'config.json'), '[]');
    await expect(loadPretrained(dir)).rejects.toThrow(/config\.json.*is not a JSON object/);
    await rm(join(dir, 'config.json'));
    await expect(loadPretrained(dir)).rejects.toThrow(/config\.json: file not found/);
    disposeParameters(params);
  });
});
