// A tiny random Llama and token data for the LoTA tests (no files, no tokenizer).
import { DEFAULT_TARGETS, targetMatcher } from '@lota/api/targets';
import type { TokenizedExample } from '../../src/data/examples.ts';
import { IGNORE_INDEX } from '../../src/data/examples.ts';
import { seededRandom } from '../../src/lota/random.ts';
import { parseConfig } from '../../src/model/config.ts';
import type { Parameters } from '../../src/model/llama.ts';
import { initParameters } from '../../src/model/parameters.ts';
import { MICRO_LLAMA_CONFIG } from '../helpers/tiny.ts';

export const tinyConfig = parseConfig(MICRO_LLAMA_CONFIG);

export function tinyModel(seed = 0): Parameters {
  return initParameters(tinyConfig, seed);
}

export const isTarget = targetMatcher(DEFAULT_TARGETS);

/** Sequences of 12 tokens whose second half repeats the first (learnable); the prompt half is masked out. */
export function tinyExamples(count: number, seed: number): TokenizedExample[] {
  const random = seededRandom(seed);
  return Array.from({ length: count }, (_, line) => {
    const half = Array.from({ length: 6 }, () => 1 + Math.floor(random() * 30));
    const inputIds = [...half, ...half];
    return { inputIds, labels: inputIds.map((id, i) => (i < 6 ? IGNORE_INDEX : id)), line: line + 1 };
  });
}

export function snapshot(params: Parameters): Map<string, Float32Array> {
  return new Map([...params].map(([name, v]) => [name, Float32Array.from(v.dataSync() as Float32Array)]));
}
