// A tiny model directory on disk (byte-level tokenizer, random Llama weights) and a small prompt/completion task,
// for tests that run whole phases.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../src/lota/random.ts';
import { parseConfig } from '../../src/model/config.ts';
import { disposeParameters, initParameters } from '../../src/model/parameters.ts';
import { savePretrained } from '../../src/model/pretrained.ts';
import { writeByteLevelTokenizer } from '../../src/tokenizer/byte-level.ts';

export async function tinyModelDir(seed = 0): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lota-base-'));
  const { size } = await writeByteLevelTokenizer(dir);
  const raw = {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    vocab_size: size,
    hidden_size: 16,
    intermediate_size: 32,
    num_hidden_layers: 2,
    num_attention_heads: 4,
    num_key_value_heads: 2,
    max_position_embeddings: 64,
    bos_token_id: 256,
    eos_token_id: 257,
  };
  const config = parseConfig(raw);
  const params = initParameters(config, seed);
  await savePretrained(dir, config, params, { tokenizerFrom: dir });
  disposeParameters(params);
  return dir;
}

/** Lines of a toy task: the completion repeats a short random word (learnable by a tiny model). */
export async function taskFile(
  dir: string,
  name: string,
  lines: number,
  seed: number,
  letters = 'abcd',
): Promise<string> {
  const random = seededRandom(seed);
  const rows: string[] = [];
  for (let i = 0; i < lines; i++) {
    const word = Array.from({ length: 3 }, () => letters[Math.floor(random() * letters.length)]).join('');
    rows.push(JSON.stringify({ prompt: `${word}=`, completion: word }));
  }
  const path = join(dir, name);
  await writeFile(path, `${rows.join('\n')}\n`);
  return path;
}
