// Greedy decoding (argmax at each step). Prompts decode together: each is left-padded as its own segment, with
// positions from 0, so every row computes exactly what it would alone. By default with a key/value cache
// (model/decode.ts): the prompt runs once, then one position per new token; `cache: false` recomputes the whole
// sequence each step through the training forward pass (the reference the cache is tested against).
import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig } from '../model/config.ts';
import { decodeStep, KvCache, prefill } from '../model/decode.ts';
import { matMulT } from '../model/layers.ts';
import { hiddenStates, lmHeadWeight } from '../model/llama.ts';

export interface GenerateOptions {
  maxNewTokens: number;
  /** A row stops after emitting any of these (the stop token is not returned). */
  stopIds?: readonly number[];
  /** Decode with a key/value cache (default true). */
  cache?: boolean;
}

/** The next token of each row (all rows end at the last position). */
function nextTokens(params: ReadonlyMap<string, tf.Tensor>, config: LlamaConfig, rows: readonly number[][]): number[] {
  const t = Math.max(...rows.map((r) => r.length));
  const b = rows.length;
  const inputIds = new Int32Array(b * t);
  const segmentIds = new Int32Array(b * t);
  const positionIds = new Int32Array(b * t);
  rows.forEach((row, r) => {
    const pad = t - row.length;
    row.forEach((id, i) => {
      inputIds[r * t + pad + i] = id;
      segmentIds[r * t + pad + i] = 1;
      positionIds[r * t + pad + i] = i;
    });
  });
  return tf.tidy(() => {
    const h = hiddenStates(params, config, { inputIds, segmentIds, positionIds, batch: b, seqLen: t });
    const last = tf.gather(
      h,
      tf.tensor1d(
        Int32Array.from(rows, (_, r) => r * t + t - 1),
        'int32',
      ),
    );
    return [...tf.argMax(matMulT(last, lmHeadWeight(params, config)), 1).dataSync()];
  });
}

export function greedyGenerateBatch(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): number[][] {
  if (prompts.some((p) => p.length === 0)) throw new Error('greedy generation needs non-empty prompts');
  if (options.cache ?? true) return cachedGreedy(params, config, prompts, options);
  const stop = new Set(options.stopIds ?? []);
  const rows = prompts.map((p) => [...p]);
  const generated = prompts.map((): number[] => []);
  let active = rows.map((_, i) => i);
  for (let step = 0; step < options.maxNewTokens && active.length > 0; step++) {
    active = active.filter((i) => (rows[i] as number[]).length < config.maxPositionEmbeddings);
    if (active.length === 0) break;
    const next = nextTokens(
      params,
      config,
      active.map((i) => rows[i] as number[]),
    );
    active = active.filter((i, j) => {
      const token = next[j] as number;
      if (stop.has(token)) return false;
      (rows[i] as number[]).push(token);
      (generated[i] as number[]).push(token);
      return true;
    });
  }
  return generated;
}

const argMaxRows = (logits: tf.Tensor2D): number[] =>
  tf.tidy(() => [...(tf.argMax(logits, 1).dataSync() as Int32Array)]);

function cachedGreedy(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  prompts: readonly (readonly number[])[],
  options: GenerateOptions,
): number[][] {
  const stop = new Set(options.stopIds ?? []);
  const generated = prompts.map((): number[] => []);
  // active[j]: the prompt of cache row j
  let active = prompts.map((_, i) => i).filter((i) => (prompts[i] as number[]).length < config.maxPositionEmbeddings);
  if (options.maxNewTokens <= 0 || active.length === 0) return generated;
  const cache = new KvCache();
  try {
    const first = prefill(
      params,
      config,
      cache,
      active.map((i) => prompts[i] as number[]),
    );
    let next = argMaxRows(first);
    first.dispose();
    for (let step = 0; ; step++) {
      // Rows that stop, or whose next token would not fit the context, leave the batch.
      const keep: number[] = [];
      active.forEach((i, j) => {
        const token = next[j] as number;
        if (stop.has(token)) return;
        (generated[i] as number[]).push(token);
        if ((cache.lengths[j] as number) + 1 < config.maxPositionEmbeddings) keep.push(j);
      });
      if (step + 1 >= options.maxNewTokens || keep.length === 0) break;
      if (keep.length < active.length) {
        cache.selectRows(keep);
        next = keep.map((j) => next[j] as number);
        active = keep.map((j) => active[j] as number);
      }
      const logits = decodeStep(params, config, cache, next);
      next = argMaxRows(logits);
      logits.dispose();
    }
  } finally {
    cache.dispose();
  }
  return generated;
}

export function greedyGenerate(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  promptIds: readonly number[],
  options: GenerateOptions,
): number[] {
  return greedyGenerateBatch(params, config, [promptIds], options)[0] as number[];
}
