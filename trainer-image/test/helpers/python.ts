// Runs the Python reference script (transformers/torch in the venv made by scripts/setup-python.sh).
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { tool } from '../../../scripts/toolchain.ts';

const run = promisify(execFile);
export const HF_REFERENCE = fileURLToPath(new URL('../python/hf_reference.py', import.meta.url));

export async function python<T>(script: string, args: string[]): Promise<T> {
  const { stdout } = await run(tool('LOTA_PYTHON'), [script, ...args], {
    maxBuffer: 256 * 1024 * 1024,
    env: { ...process.env, OMP_NUM_THREADS: '1', TOKENIZERS_PARALLELISM: 'false', HF_HUB_OFFLINE: '1' },
  });
  return JSON.parse(stdout.trim().split('\n').at(-1) as string) as T;
}
