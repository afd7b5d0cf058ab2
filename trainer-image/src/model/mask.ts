// Additive attention bias [B, 1, T, T]: 0 where a query may attend a key, a large negative number elsewhere.
// A query attends keys at or before it (causal) in the same segment, so packed examples never see each other and
// padding (segment 0) never leaks into real tokens. The diagonal is always allowed, so no softmax row is empty.
import * as tf from '@tensorflow/tfjs';

const MASKED = -1e9;

export function attentionBias(
  segmentIds: ArrayLike<number> | null,
  batch: number,
  seqLen: number,
  slidingWindow: number | null = null,
): tf.Tensor4D {
  const bias = new Float32Array(batch * seqLen * seqLen);
  for (let b = 0; b < batch; b++) {
    for (let q = 0; q < seqLen; q++) {
      const row = (b * seqLen + q) * seqLen;
      const segQ = segmentIds === null ? 1 : (segmentIds[b * seqLen + q] as number);
      for (let k = 0; k < seqLen; k++) {
        const segK = segmentIds === null ? 1 : (segmentIds[b * seqLen + k] as number);
        const visible = k <= q && segK === segQ && (slidingWindow === null || q - k < slidingWindow);
        if (!visible) bias[row + k] = MASKED;
      }
    }
  }
  return tf.tensor4d(bias, [batch, 1, seqLen, seqLen]);
}
