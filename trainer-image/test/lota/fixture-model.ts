// A tiny model directory on disk (byte-level tokenizer, random Llama weights) and a small prompt/completion task,
// for tests that run whole phases.
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../src/lota/random.ts';
import { parseConfig } from '../../src/model/config.ts';
import { byteLevelTokenizer } from '../../src/tokenizer/byte-level.ts';
import { MICRO_LLAMA_CONFIG, writeTinyModelDir } from '../helpers/tiny.ts';

export async function tinyModelDir(seed = 0): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'lota-base-'));
  const config = parseConfig({
    ...MICRO_LLAMA_CONFIG,
    model_type: 'llama',
    vocab_size: byteLevelTokenizer().size,
    bos_token_id: 256,
    eos_token_id: 257,
  });
  await writeTinyModelDir(dir, config, seed);
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
