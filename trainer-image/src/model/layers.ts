// The building blocks of the decoder, each written only with ops whose gradients exist on the cpu, wasm and
// tensorflow backends (no gather gradient, no broadcast batch dims in batched matmuls, no einsum).
import * as tf from '@tensorflow/tfjs';

/** y = x Wᵀ + b for x [N, in], W [out, in] (Hugging Face Linear layout). */
export function linear(x: tf.Tensor2D, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor2D {
  const y: tf.Tensor2D = tf.matMul(x, weight as tf.Tensor2D, false, true);
  return bias === undefined ? y : (tf.add(y, bias) as tf.Tensor2D);
}

/** Hugging Face LlamaRMSNorm: weight * x / sqrt(mean(x²) + eps) over the last axis. */
export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor, eps: number): tf.Tensor2D {
  const variance = tf.mean(tf.square(x), -1, true);
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(variance, eps))), weight);
}

export function silu(x: tf.Tensor2D): tf.Tensor2D {
  return tf.mul(x, tf.sigmoid(x));
}

/**
 * Embedding lookup of ids (length N) in table [V, H] → [N, H]. The forward pass gathers rows; the gradient is
 * one-hotᵀ × dy, because tf.gather's own gradient needs UnsortedSegmentSum, which the wasm backend lacks.
 * The ids stay a JS array so the gradient does not depend on a tensor the forward scope has already disposed.
 */
export function embed(table: tf.Tensor, ids: Int32Array): tf.Tensor2D {
  const vocab = table.shape[0] as number;
  const lookup = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const weight = args[0] as tf.Tensor2D;
    return {
      value: tf.gather(weight, tf.tensor1d(ids, 'int32')),
      gradFunc: (dy: tf.Tensor) =>
        tf.matMul(tf.oneHot(tf.tensor1d(ids, 'int32'), vocab), dy as tf.Tensor2D, true, false),
    };
  });
  return lookup(table) as tf.Tensor2D;
}

/** Repeats each of the KV heads of x [B, kvHeads, T, d] `times` times → [B, kvHeads·times, T, d] (repeat_kv). */
export function repeatKv(x: tf.Tensor4D, times: number): tf.Tensor4D {
  if (times === 1) return x;
  const [b, kv, t, d] = x.shape;
  // Rank-4 tile: tfjs has no tile gradient above rank 4.
  const expanded = tf.tile(tf.reshape(x, [b * kv, 1, t, d]), [1, times, 1, 1]);
  return tf.reshape(expanded, [b, kv * times, t, d]);
}
