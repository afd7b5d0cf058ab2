// Tiny models and tokenizers made on the fly for unit tests.
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LlamaConfig, parseConfig } from '../../src/model/config.ts';
import { writeByteLevelTokenizer } from '../../src/tokenizer/byte-level.ts';
import { TextTokenizer } from '../../src/tokenizer/tokenizer.ts';

export function tinyConfig(overrides: Record<string, unknown> = {}): LlamaConfig {
  return parseConfig({
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: 264,
    hidden_size: 32,
    intermediate_size: 64,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 128,
    tie_word_embeddings: true,
    bos_token_id: 256,
    eos_token_id: 257,
    pad_token_id: 258,
    ...overrides,
  });
}

export async function byteTokenizer(): Promise<TextTokenizer> {
  const dir = await mkdtemp(join(tmpdir(), 'lota-tok-'));
  await writeByteLevelTokenizer(dir);
  return TextTokenizer.load(dir);
}
