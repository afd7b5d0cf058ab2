// Gradient clipping as torch.nn.utils.clip_grad_norm_: scale by max/(norm + 1e-6) when the norm exceeds max.
// Global clipping uses one norm over all gradients; per-tensor clipping (the LoTA reference) clips each on its own.
import * as tf from '@tensorflow/tfjs';

function scaleIfAbove(grad: tf.Tensor, norm: number, maxNorm: number): tf.Tensor {
  const coef = maxNorm / (norm + 1e-6);
  return coef < 1 ? tf.mul(grad, coef) : grad.clone();
}

export function globalNorm(grads: ReadonlyMap<string, tf.Tensor>): number {
  const total = tf.tidy(() => tf.addN([...grads.values()].map((g) => tf.sum(tf.square(g)))));
  const value = Math.sqrt(total.dataSync()[0] as number);
  total.dispose();
  return value;
}

/** New gradients (the caller disposes the old ones) and the norm before clipping. */
export function clipByGlobalNorm(
  grads: ReadonlyMap<string, tf.Tensor>,
  maxNorm: number,
): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = globalNorm(grads);
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of grads)
    out.set(
      name,
      tf.tidy(() => scaleIfAbove(g, norm, maxNorm)),
    );
  return { grads: out, norm };
}

export function clipPerTensor(grads: ReadonlyMap<string, tf.Tensor>, maxNorm: number): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) {
    out.set(
      name,
      tf.tidy(() => scaleIfAbove(g, tf.norm(g).dataSync()[0] as number, maxNorm)),
    );
  }
  return out;
}
