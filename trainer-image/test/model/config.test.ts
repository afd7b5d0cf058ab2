import { describe, expect, it } from 'vitest';
import { ConfigError, parameterCount, parameterShapes, parseConfig } from '../../src/model/config.ts';
import { MICRO_LLAMA_CONFIG } from '../helpers/tiny.ts';

const good = MICRO_LLAMA_CONFIG;

describe('parseConfig', () => {
  it('reads a Llama config with defaults and lists HF-named parameters in HF layout', () => {
    const c = parseConfig(good);
    expect(c).toMatchObject({
      headDim: 4,
      rmsNormEps: 1e-6,
      ropeTheta: 10000,
      tieWordEmbeddings: false,
      qkvBias: false,
    });
    const shapes = parameterShapes(c);
    expect(shapes.get('model.layers.1.self_attn.k_proj.weight')).toEqual([8, 16]);
    expect(shapes.get('model.layers.0.mlp.down_proj.weight')).toEqual([16, 32]);
    expect(shapes.get('lm_head.weight')).toEqual([32, 16]);
    expect(parameterCount(parseConfig({ ...good, tie_word_embeddings: true }))).toBe(parameterCount(c) - 32 * 16);
  });

  it('gives Qwen2 q/k/v biases and no o_proj bias', () => {
    const shapes = parameterShapes(parseConfig({ ...good, architectures: ['Qwen2ForCausalLM'] }));
    expect(shapes.get('model.layers.0.self_attn.v_proj.bias')).toEqual([8]);
    expect(shapes.has('model.layers.0.self_attn.o_proj.bias')).toBe(false);
  });

  it('reads llama3 rope scaling from rope_scaling (transformers 4) and rope_parameters (5)', () => {
    const scaling = { factor: 8, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 8192 };
    const v4 = parseConfig({ ...good, rope_theta: 500000, rope_scaling: { rope_type: 'llama3', ...scaling } });
    const v5 = parseConfig({ ...good, rope_parameters: { rope_type: 'llama3', rope_theta: 500000, ...scaling } });
    expect(v4.ropeScaling).toEqual(v5.ropeScaling);
    expect(v5.ropeTheta).toBe(500000);
  });

  const malformed: [string, unknown, RegExp][] = [
    ['not an object', [1, 2], /expected a JSON object/],
    ['no architectures', { ...good, architectures: undefined }, /"architectures" must list exactly one/],
    ['unsupported architecture', { ...good, architectures: ['GPT2LMHeadModel'] }, /"GPT2LMHeadModel" is not supported/],
    ['negative hidden size', { ...good, hidden_size: -16 }, /"hidden_size" must be a positive integer/],
    ['vocab size missing', { ...good, vocab_size: undefined }, /"vocab_size" must be a positive integer/],
    [
      'heads not a multiple of kv heads',
      { ...good, num_key_value_heads: 3 },
      /must be a multiple of num_key_value_heads/,
    ],
    ['hidden size not divisible by heads', { ...good, hidden_size: 18 }, /"head_dim" must be a positive integer/],
    ['odd head_dim', { ...good, head_dim: 5 }, /head_dim must be even/],
    ['gelu activation', { ...good, hidden_act: 'gelu' }, /hidden_act "gelu" is not supported/],
    [
      'yarn rope scaling',
      { ...good, rope_scaling: { rope_type: 'yarn', factor: 4 } },
      /rope scaling type "yarn" is not supported/,
    ],
    [
      'llama3 rope without factor',
      { ...good, rope_scaling: { rope_type: 'llama3' } },
      /"factor" must be a positive number/,
    ],
    ['negative rms eps', { ...good, rms_norm_eps: -1 }, /"rms_norm_eps" must be a positive number/],
    [
      'tie_word_embeddings as string',
      { ...good, tie_word_embeddings: 'yes' },
      /"tie_word_embeddings" must be a boolean/,
    ],
    ['negative eos id', { ...good, eos_token_id: -1 }, /"eos_token_id" must be a non-negative integer/],
    [
      'qwen2 sliding window',
      { ...good, architectures: ['Qwen2ForCausalLM'], use_sliding_window: true },
      /use_sliding_window=true is not supported/,
    ],
  ];
  it.each(malformed)('refuses %s', (_label, raw, message) => {
    expect(() => parseConfig(raw, 'model/config.json')).toThrow(ConfigError);
    expect(() => parseConfig(raw, 'model/config.json')).toThrow(message);
    expect(() => parseConfig(raw, 'model/config.json')).toThrow(/^model\/config\.json[: ]/);
  });
});
