import { describe, expect, it } from 'vitest';
import { DEFAULT_TARGETS, targetMatcher, targetRegExp } from '../src/targets.ts';

describe('target patterns', () => {
  const isDefault = targetMatcher(DEFAULT_TARGETS);

  it('select exactly the attention and MLP projection weights by default', () => {
    for (const p of ['q', 'k', 'v', 'o']) expect(isDefault(`model.layers.3.self_attn.${p}_proj.weight`)).toBe(true);
    for (const p of ['gate', 'up', 'down']) expect(isDefault(`model.layers.0.mlp.${p}_proj.weight`)).toBe(true);
    for (const frozen of [
      'model.embed_tokens.weight',
      'lm_head.weight',
      'model.norm.weight',
      'model.layers.0.input_layernorm.weight',
      'model.layers.0.self_attn.q_proj.bias',
    ]) {
      expect(isDefault(frozen), frozen).toBe(false);
    }
  });

  it('treat dots literally and * as any run of characters', () => {
    expect(targetRegExp('model.layers.1*.mlp.*').test('model.layers.12.mlp.up_proj.weight')).toBe(true);
    expect(targetRegExp('a.b').test('aXb')).toBe(false);
  });

  it('refuse characters outside the pattern grammar', () => {
    expect(() => targetRegExp('model.(q|k)_proj')).toThrow(/invalid target pattern/);
  });
});
