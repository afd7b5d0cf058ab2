// Causal-LM cross-entropy with Hugging Face label semantics: labels are aligned with input ids, the loss at position
// t predicts labels[t + 1], and -100 marks positions that do not count (prompt tokens, padding).
import * as tf from '@tensorflow/tfjs';
import { IGNORE_INDEX } from '../data/examples.ts';

/** Next-token targets: targets[t] = labels[t + 1] within each row, IGNORE_INDEX at each row's last position. */
export function shiftLabels(labels: Int32Array, batch: number, seqLen: number): Int32Array {
  const targets = new Int32Array(batch * seqLen).fill(IGNORE_INDEX);
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t + 1 < seqLen; t++) targets[b * seqLen + t] = labels[b * seqLen + t + 1] as number;
  }
  return targets;
}

export function countTargets(targets: Int32Array): number {
  let n = 0;
  for (const t of targets) if (t !== IGNORE_INDEX) n++;
  return n;
}

/** Summed negative log-likelihood of the counted targets, for logits [N, V] and targets (length N). */
export function summedNll(logits: tf.Tensor2D, targets: Int32Array): tf.Scalar {
  const vocab = logits.shape[1];
  const weights = new Float32Array(targets.length);
  const clamped = new Int32Array(targets.length);
  for (let i = 0; i < targets.length; i++) {
    const t = targets[i] as number;
    if (t === IGNORE_INDEX) continue;
    if (t < 0 || t >= vocab) throw new Error(`label ${t} is outside the vocabulary (size ${vocab})`);
    weights[i] = 1;
    clamped[i] = t;
  }
  const logProbs = tf.logSoftmax(logits);
  const picked = tf.sum(tf.mul(logProbs, tf.oneHot(tf.tensor1d(clamped, 'int32'), vocab)), -1);
  return tf.neg(tf.sum(tf.mul(picked, tf.tensor1d(weights)))) as tf.Scalar;
}
