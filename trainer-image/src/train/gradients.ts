// Loss and gradients of one optimizer step, accumulated over micro-batches. The loss is the mean over every
// counted target token of the whole step, so accumulation gives the same gradient as one big batch.
import * as tf from '@tensorflow/tfjs';
import type { Batch } from '../data/batches.ts';
import type { LlamaConfig } from '../model/config.ts';
import { logits, type Parameters, type SparseGradients } from '../model/llama.ts';
import { countTargets, shiftLabels, summedNll } from './loss.ts';

export interface StepGradients {
  /** Mean token loss over the step's micro-batches. */
  loss: number;
  tokens: number;
  grads: Map<string, tf.Tensor>;
}

export function targetsOf(batch: Batch): Int32Array {
  return shiftLabels(batch.labels, batch.batch, batch.seqLen);
}

/**
 * Gradients of the trainable parameters: dense, or for the names in `sparse`, only of the entries that train (1-D, in
 * the order of their flat indices), gathered inside the backward pass so that no dense gradient of those is kept.
 */
export function stepGradients(
  params: Parameters,
  config: LlamaConfig,
  microBatches: readonly Batch[],
  trainable: readonly string[],
  sparse?: SparseGradients,
): StepGradients {
  const targets = microBatches.map(targetsOf);
  const tokens = targets.reduce((n, t) => n + countTargets(t), 0);
  if (tokens === 0) throw new Error('the step has no target tokens');
  const xs = trainable.map((name): tf.Tensor => {
    const route = sparse?.get(name);
    if (route !== undefined) return route.flatIndices;
    const v = params.get(name);
    if (v === undefined) throw new Error(`trainable parameter "${name}" does not exist`);
    return v;
  });
  const grads = new Map<string, tf.Tensor>();
  let lossSum = 0;
  microBatches.forEach((batch, i) => {
    const { value, grads: g } = tf.valueAndGrads(
      () => tf.div(summedNll(logits(params, config, batch, sparse), targets[i] as Int32Array), tokens) as tf.Scalar,
    )(xs);
    lossSum += value.dataSync()[0] as number;
    value.dispose();
    trainable.forEach((name, j) => {
      const add = g[j] as tf.Tensor;
      const prev = grads.get(name);
      if (prev === undefined) grads.set(name, add);
      else {
        grads.set(name, tf.add(prev, add));
        prev.dispose();
        add.dispose();
      }
    });
  });
  return { loss: lossSum, tokens, grads };
}

export function disposeGrads(grads: ReadonlyMap<string, tf.Tensor>): void {
  for (const g of grads.values()) g.dispose();
}
