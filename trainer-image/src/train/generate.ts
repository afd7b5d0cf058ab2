// Greedy decoding (argmax at each step), recomputing the whole sequence each step: the models trained here are
// small, and this keeps one code path for training and inference.
import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig } from '../model/config.ts';
import { hiddenStates, lmHeadWeight } from '../model/llama.ts';

export interface GenerateOptions {
  maxNewTokens: number;
  /** Generation stops after emitting any of these (the stop token is not returned). */
  stopIds?: readonly number[];
}

export function greedyGenerate(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  promptIds: readonly number[],
  options: GenerateOptions,
): number[] {
  if (promptIds.length === 0) throw new Error('greedy generation needs a non-empty prompt');
  const stop = new Set(options.stopIds ?? []);
  const ids = [...promptIds];
  const generated: number[] = [];
  for (let i = 0; i < options.maxNewTokens && ids.length < config.maxPositionEmbeddings; i++) {
    const next = tf.tidy(() => {
      const h = hiddenStates(params, config, { inputIds: Int32Array.from(ids), batch: 1, seqLen: ids.length });
      const last = tf.slice(h, [ids.length - 1, 0], [1, config.hiddenSize]);
      const scores = tf.matMul(last, lmHeadWeight(params, config) as tf.Tensor2D, false, true);
      return tf.argMax(scores, 1).dataSync()[0] as number;
    });
    if (stop.has(next)) break;
    ids.push(next);
    generated.push(next);
  }
  return generated;
}
