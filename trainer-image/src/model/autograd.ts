// Ops with hand-written gradients that free memory as the backward pass goes, on top of tfjs's tape.
//
// tfjs's own customGrad computes every input's gradient eagerly and keeps every intermediate gradient and every saved
// activation until the whole backward pass ends. Training memory then grows with everything the backward pass ever
// made. `fusedOp` differs in three ways, all through the engine's kernel-function entry point that customGrad itself
// uses (runKernelFunc, typed private in tfjs 4.22, hence the cast):
//   - gradients are lazy: the tape asks only for the inputs that lead back to a trained tensor, so a frozen weight's
//     gradient is never computed;
//   - the op's incoming gradient, its saved tensors and the intermediates its backward shared between inputs are
//     disposed as soon as the tape has moved on to the next op of this kind (each is read by this op only);
//   - the forward and backward bodies run inside tidy scopes, so their temporaries never outlive the call.
import * as tf from '@tensorflow/tfjs';

type LazyGrads = Record<string, () => tf.Tensor>;

interface KernelFuncParams {
  forwardFunc: (backend: unknown, save: (tensors: tf.Tensor[]) => void) => tf.Tensor;
  backwardsFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => LazyGrads;
  inputs: Record<string, tf.Tensor>;
}

const engine = tf.engine() as unknown as { runKernelFunc(params: KernelFuncParams): tf.Tensor };

/** Tensors of the previous op's backward, disposed once the tape reaches the next op of this kind. */
let finished: tf.Tensor[] = [];

function release(): void {
  for (const t of finished) t.dispose();
  finished = [];
}

export interface FusedOp {
  /** The op's tensor inputs; only these can receive gradients. */
  inputs: Record<string, tf.Tensor>;
  /** Output value and the tensors the backward pass needs (kept until this op's backward has run). */
  forward(): { value: tf.Tensor; save: tf.Tensor[] };
  /**
   * Called once with the output gradient and the saved tensors: computes what all input gradients share (returned in
   * `shared`, disposed with dy and the saved tensors after this op) and one closure per input, each evaluated only
   * when the tape needs that input's gradient.
   */
  backward(dy: tf.Tensor, saved: tf.Tensor[]): { shared?: tf.Tensor[]; grads: Record<string, () => tf.Tensor> };
}

export function fusedOp(op: FusedOp): tf.Tensor {
  return engine.runKernelFunc({
    inputs: op.inputs,
    forwardFunc: (_backend, save) => {
      const { value, save: toSave } = op.forward();
      save(toSave);
      return value;
    },
    backwardsFunc: (dy, saved) => {
      release();
      let grads: LazyGrads = {};
      const shared = tf.tidy(() => {
        const out = op.backward(dy, saved);
        grads = out.grads;
        return out.shared ?? [];
      });
      finished = [dy, ...saved, ...shared];
      // The tape evaluates each closure inside its own tidy.
      return grads;
    },
  });
}

/**
 * a × b with optional transposes. The wasm backend runs a matmul with a transposed operand several times slower than
 * an explicit transpose followed by a plain matmul, so there the transpose is done first (a copy, far cheaper).
 */
export function mm(a: tf.Tensor, b: tf.Tensor, transposeA = false, transposeB = false): tf.Tensor {
  if (tf.getBackend() === 'wasm' && (transposeA || transposeB)) {
    return tf.tidy(() => tf.matMul(transposeA ? swapLast(a) : a, transposeB ? swapLast(b) : b));
  }
  return tf.matMul(a, b, transposeA, transposeB);
}

function swapLast(x: tf.Tensor): tf.Tensor {
  return x.rank === 2 ? tf.transpose(x) : tf.transpose(x, [0, 2, 1]);
}
