// Causal-LM cross-entropy with Hugging Face label semantics: labels are aligned with input ids, the loss at position
// t predicts labels[t + 1], and -100 marks positions that do not count (prompt tokens, padding).
import * as tf from '@tensorflow/tfjs';
import { nativeOps } from '../backend/native-ops.ts';
import { IGNORE_INDEX } from '../data/examples.ts';
import { fusedOp } from '../model/autograd.ts';

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

/**
 * Summed negative log-likelihood of the counted targets, for logits [N, V] and targets (length N). One op whose
 * gradient is (softmax − one-hot) of each counted row, as torch's fused cross-entropy; on native the forward pass is
 * TensorFlow's SparseSoftmaxCrossEntropyWithLogits, which returns that gradient with the loss (one kernel in place of
 * ~10 element-wise [N, V] ops forward and backward).
 */
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
  const native = nativeOps();
  const labels = () => tf.tensor1d(clamped, 'int32');
  return fusedOp({
    inputs: { logits },
    forward: () => {
      const w = tf.tensor1d(weights);
      if (native !== undefined) {
        const [nll, dLogits] = native.run(
          'SparseSoftmaxCrossEntropyWithLogits',
          { T: { dtype: 'float32' }, Tlabels: { dtype: 'int32' } },
          [logits, labels()],
          2,
        ) as [tf.Tensor, tf.Tensor];
        return { value: tf.sum(tf.mul(nll, w)), save: [dLogits] };
      }
      const logProbs = tf.logSoftmax(logits);
      const picked = tf.sum(tf.mul(logProbs, tf.oneHot(labels(), vocab)), -1);
      return { value: tf.neg(tf.sum(tf.mul(picked, w))), save: [logProbs] };
    },
    backward: (dy, [saved]) => ({
      grads: {
        logits: () => {
          const dLogits =
            native !== undefined
              ? (saved as tf.Tensor)
              : tf.sub(tf.exp(saved as tf.Tensor), tf.oneHot(labels(), vocab));
          return tf.mul(dLogits, tf.reshape(tf.mul(tf.tensor1d(weights), dy), [-1, 1]));
        },
      },
    }),
  }) as tf.Scalar;
}
