// Evaluation: mean loss over every counted target token, and perplexity = exp(loss).
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/batches.ts';
import type { LlamaConfig } from '../model/config.ts';
import { logits } from '../model/llama.ts';
import { targetsOf } from './gradients.ts';
import { countTargets, summedNll } from './loss.ts';

export interface EvalResult {
  loss: number;
  perplexity: number;
  tokens: number;
}

export function evaluate(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  batches: readonly Batch[],
): EvalResult {
  let sum = 0;
  let tokens = 0;
  for (const batch of batches) {
    const targets = targetsOf(batch);
    const n = countTargets(targets);
    if (n === 0) continue;
    const s = tf.tidy(() => summedNll(logits(params, config, batch), targets));
    sum += s.dataSync()[0] as number;
    s.dispose();
    tokens += n;
  }
  if (tokens === 0) throw new Error('evaluation data has no target tokens');
  const loss = sum / tokens;
  return { loss, perplexity: Math.exp(loss), tokens };
}
