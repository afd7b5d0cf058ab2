// Tiny models and tokenizers made on the fly for unit and e2e tests (nothing is downloaded).
import { mkdir, mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type LlamaConfig, parseConfig } from '../../src/model/config.ts';
import { disposeParameters, initParameters } from '../../src/model/parameters.ts';
import { savePretrained } from '../../src/model/pretrained.ts';
import { writeByteLevelTokenizer } from '../../src/tokenizer/byte-level.ts';
import { TextTokenizer } from '../../src/tokenizer/tokenizer.ts';

/** config.json of the tiny Llama over the byte-level tokenizer that the unit and e2e tests train. */
const TINY_LLAMA_CONFIG = {
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
};

/** A smaller Llama (16 wide, 32 token ids, untied) for tests of the model code and LoTA on token ids. */
export const MICRO_LLAMA_CONFIG = {
  architectures: ['LlamaForCausalLM'],
  vocab_size: 32,
  hidden_size: 16,
  intermediate_size: 32,
  num_hidden_layers: 2,
  num_attention_heads: 4,
  num_key_value_heads: 2,
  max_position_embeddings: 64,
};

export function tinyConfig(overrides: Record<string, unknown> = {}): LlamaConfig {
  return parseConfig({ ...TINY_LLAMA_CONFIG, ...overrides });
}

/** A Hugging Face model directory in `dir`: random weights of `config` (seeded) and the byte-level tokenizer. */
export async function writeTinyModelDir(dir: string, config: LlamaConfig, seed: number): Promise<void> {
  await mkdir(dir, { recursive: true });
  const params = initParameters(config, seed);
  try {
    await savePretrained(dir, config, params);
  } finally {
    disposeParameters(params);
  }
  await writeByteLevelTokenizer(dir);
}

export async function byteTokenizer(): Promise<TextTokenizer> {
  const dir = await mkdtemp(join(tmpdir(), 'lota-tok-'));
  await writeByteLevelTokenizer(dir);
  return TextTokenizer.load(dir);
}
