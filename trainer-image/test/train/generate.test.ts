// Greedy decoding with the key/value cache gives exactly the tokens of recomputing the whole sequence each step: with
// left padding, rows leaving the batch (stop tokens), the context limit, grouped-query heads, biases and a sliding
// window.
import { describe, expect, it } from 'vitest';
import { disposeParameters, initParameters } from '../../src/model/parameters.ts';
import { greedyGenerateBatch } from '../../src/train/generate.ts';
import { testBackends, useBackend } from '../helpers/backends.ts';
import { tinyConfig } from '../helpers/tiny.ts';

// A wide init makes the logits decisive, so an argmax never hangs on float noise.
const CONFIGS = {
  'GQA, tied': tinyConfig({ initializer_range: 0.4, max_position_embeddings: 24 }),
  'MHA, untied, biases': tinyConfig({
    initializer_range: 0.4,
    num_key_value_heads: 4,
    tie_word_embeddings: false,
    attention_bias: true,
    mlp_bias: true,
  }),
  'sliding window 5': tinyConfig({ initializer_range: 0.4, model_type: 'mistral', sliding_window: 5 }),
};

const prompts = [[256, 97, 98, 99, 100, 101, 102, 103, 104], [256, 120], [256, 50, 51, 52], [7], [256, 1, 2, 3, 4, 5]];

describe.each(testBackends())('on %s', (backend) => {
  it.each(Object.entries(CONFIGS))('%s: cached greedy outputs equal recomputed ones', async (_label, config) => {
    await useBackend(backend);
    const params = initParameters(config, 3);
    try {
      const free = greedyGenerateBatch(params, config, prompts, { maxNewTokens: 20, cache: false });
      // The context limit ends the long prompt's row early (9 + 15 = 24 positions in the first config).
      expect((free[0] as number[]).length).toBe(Math.min(20, config.maxPositionEmbeddings - 9));
      // Row 1 stops at its third token at the latest, so rows leave the batch at different steps.
      const stopIds = [(free[1] as number[])[2] as number];
      const stopped = greedyGenerateBatch(params, config, prompts, { maxNewTokens: 20, stopIds, cache: false });
      expect((stopped[1] as number[]).length).toBeLessThanOrEqual(2);
      expect(greedyGenerateBatch(params, config, prompts, { maxNewTokens: 20 })).toEqual(free);
      expect(greedyGenerateBatch(params, config, prompts, { maxNewTokens: 20, stopIds })).toEqual(stopped);
      expect(greedyGenerateBatch(params, config, prompts, { maxNewTokens: 1 })).toEqual(free.map((g) => g.slice(0, 1)));
    } finally {
      disposeParameters(params);
    }
  });
});
