// The building blocks of the decoder, each written only with ops whose gradients exist on the cpu, wasm and
// tensorflow backends (no gather gradient, no broadcast batch dims in batched matmuls, no einsum).
import * as tf from '@tensorflow/tfjs';

function transposeLast<T extends tf.Tensor>(x: T): T {
  return (x.rank === 2 ? tf.transpose(x) : tf.transpose(x, [0, 2, 1])) as T;
}

const plainMatMul = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor, tf.Tensor];
      return [tf.matMul(dy, transposeLast(sb)), tf.matMul(transposeLast(sa), dy)];
    },
  };
});

/**
 * a × b (2-D, or 3-D with equal batch sizes) whose gradients, like its forward pass, use only matmuls without
 * transposed operands: the wasm backend's matmul with a transposed operand runs several times slower, and tfjs's
 * own matMul gradient uses exactly those. Explicit transposes cost a copy, far less than the matmul.
 */
export function matMul<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  return plainMatMul(a, b) as T;
}

/** a × bᵀ, with the transpose done explicitly (see matMul). */
export function matMulT<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  return matMul(a, transposeLast(b));
}

/** y = x Wᵀ + b for x [N, in], W [out, in] (Hugging Face Linear layout). */
export function linear(x: tf.Tensor2D, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor2D {
  const y: tf.Tensor2D = matMulT(x, weight);
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
