// The ops around the decoder layers (blocks.ts): embedding, the final norm, the LM head. Each is one op with a
// hand-written gradient (autograd.ts); all use only ops that run on the cpu, wasm and tensorflow backends (no gather
// gradient, no einsum).
import * as tf from '@tensorflow/tfjs';
import { fusedOp, mm } from './autograd.ts';
import { project } from './blocks.ts';

/** y = x Wᵀ + b for x [N, in], W [out, in] (Hugging Face Linear layout). */
export function linear(x: tf.Tensor2D, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor2D {
  const inputs: Record<string, tf.Tensor> = { x, weight };
  if (bias !== undefined) inputs.bias = bias;
  return fusedOp({
    inputs,
    forward: () => ({ value: project(x, weight, bias), save: [x, weight] }),
    backward: (dy, [sx, sw]) => ({
      grads: {
        x: () => mm(dy, sw as tf.Tensor),
        weight: () => mm(dy, sx as tf.Tensor, true, false),
        bias: () => tf.sum(dy, 0),
      },
    }),
  }) as tf.Tensor2D;
}

/** Hugging Face LlamaRMSNorm: weight * x / sqrt(mean(x²) + eps) over the last axis. */
export function rmsNorm(x: tf.Tensor2D, weight: tf.Tensor, eps: number): tf.Tensor2D {
  return fusedOp({
    inputs: { x, weight },
    forward: () => {
      const r = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
      return { value: tf.mul(tf.mul(x, r), weight), save: [x, r, weight] };
    },
    backward: (dy, [sx, r, w]) => {
      const normed = tf.mul(sx as tf.Tensor, r as tf.Tensor);
      const g = tf.mul(dy, w as tf.Tensor);
      return {
        shared: [normed, g],
        grads: {
          // d/dx of x·r: r·(g − x̂·mean(g·x̂)), with x̂ = x·r.
          x: () => tf.mul(r as tf.Tensor, tf.sub(g, tf.mul(normed, tf.mean(tf.mul(g, normed), -1, true)))),
          weight: () => tf.sum(tf.mul(dy, normed), 0),
        },
      };
    },
  }) as tf.Tensor2D;
}

/** a × bᵀ for inference-only code (no gradient). */
export function matMulT<T extends tf.Tensor>(a: T, b: tf.Tensor): T {
  return mm(a, b, false, true) as T;
}

/**
 * Embedding lookup of ids (length N) in table [V, H] → [N, H]. The forward pass gathers rows; the gradient adds each
 * row of dy into its token's row (UnsortedSegmentSum). The wasm backend lacks that kernel, so there the gradient is
 * one-hotᵀ × dy, a matmul of N·V·H multiply-adds (at vocab 8192 about 6 % of a training step's arithmetic).
 * The ids stay a JS array so the gradient does not depend on a tensor the forward scope has already disposed.
 */
export function embed(table: tf.Tensor, ids: Int32Array): tf.Tensor2D {
  const vocab = table.shape[0] as number;
  return fusedOp({
    inputs: { table },
    forward: () => ({ value: tf.gather(table, tf.tensor1d(ids, 'int32')), save: [] }),
    backward: (dy) => ({
      grads: {
        table: () => {
          const idsTensor = tf.tensor1d(ids, 'int32');
          if (tf.getBackend() === 'wasm') return mm(tf.oneHot(idsTensor, vocab), dy, true, false);
          return tf.unsortedSegmentSum(dy, idsTensor, vocab);
        },
      },
    }),
  }) as tf.Tensor2D;
}
