// Rotary position embeddings as Hugging Face computes them: inv_freq over even dimensions, optional llama3 scaling,
// and cos/sin tables of cat(freqs, freqs) so that rotate_half pairs dimension i with i + headDim/2.
import * as tf from '@tensorflow/tfjs';
import type { Llama3RopeScaling, LlamaConfig } from './config.ts';

export function inverseFrequencies(headDim: number, theta: number, scaling: Llama3RopeScaling | null): Float64Array {
  const half = headDim / 2;
  const inv = new Float64Array(half);
  for (let i = 0; i < half; i++) inv[i] = 1 / theta ** ((2 * i) / headDim);
  if (scaling === null) return inv;
  const { factor, lowFreqFactor, highFreqFactor, originalMaxPositionEmbeddings: oldLen } = scaling;
  const lowFreqWavelen = oldLen / lowFreqFactor;
  const highFreqWavelen = oldLen / highFreqFactor;
  for (let i = 0; i < half; i++) {
    const f = inv[i] as number;
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowFreqWavelen) inv[i] = f / factor;
    else if (wavelen >= highFreqWavelen) {
      const smooth = (oldLen / wavelen - lowFreqFactor) / (highFreqFactor - lowFreqFactor);
      inv[i] = ((1 - smooth) * f) / factor + smooth * f;
    }
  }
  return inv;
}

/** cos and sin tables [B, 1, T, headDim] for the given position ids (row-major [B, T]). */
export function rotaryTables(
  config: LlamaConfig,
  positionIds: ArrayLike<number>,
  batch: number,
  seqLen: number,
): { cos: tf.Tensor4D; sin: tf.Tensor4D } {
  const d = config.headDim;
  const half = d / 2;
  // inv_freq and the angle are float32 in transformers; rounding the same way keeps parity at long positions.
  const inv = Float32Array.from(inverseFrequencies(d, config.ropeTheta, config.ropeScaling));
  const cos = new Float32Array(batch * seqLen * d);
  const sin = new Float32Array(batch * seqLen * d);
  for (let p = 0; p < batch * seqLen; p++) {
    const pos = positionIds[p] as number;
    for (let i = 0; i < half; i++) {
      const angle = Math.fround(pos * (inv[i] as number));
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * d + i] = c;
      cos[p * d + half + i] = c;
      sin[p * d + i] = s;
      sin[p * d + half + i] = s;
    }
  }
  return {
    cos: tf.tensor4d(cos, [batch, 1, seqLen, d]),
    sin: tf.tensor4d(sin, [batch, 1, seqLen, d]),
  };
}

function halves(x: tf.Tensor4D): [tf.Tensor4D, tf.Tensor4D] {
  const [b, h, t, d] = x.shape;
  return [tf.slice(x, [0, 0, 0, 0], [b, h, t, d / 2]), tf.slice(x, [0, 0, 0, d / 2], [b, h, t, d / 2])];
}

/** x * cos + rotate_half(x) * sin for x of shape [B, heads, T, headDim]; rotate_half(x) = [−x₂, x₁]. */
export function applyRotary(x: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor4D {
  const [x1, x2] = halves(x);
  return tf.add(tf.mul(x, cos), tf.mul(tf.concat([tf.neg(x2), x1], 3), sin));
}

/** The gradient of applyRotary: dy * cos + rotate_halfᵀ(dy * sin), with rotate_halfᵀ(z) = [z₂, −z₁]. */
export function unapplyRotary(dy: tf.Tensor4D, cos: tf.Tensor, sin: tf.Tensor): tf.Tensor4D {
  const [z1, z2] = halves(tf.mul(dy, sin) as tf.Tensor4D);
  return tf.add(tf.mul(dy, cos), tf.concat([z2, tf.neg(z1)], 3));
}
