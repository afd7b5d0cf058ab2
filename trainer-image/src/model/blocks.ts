// The two halves of a decoder layer, each one op with a hand-written gradient (autograd.ts):
//   attention half  x → x + o_proj(attention(rope(q_proj(h)), rope(k_proj(h)), v_proj(h))),  h = rmsNorm(x)
//   MLP half        x → x + down_proj(silu(gate_proj(h)) · up_proj(h)),                      h = rmsNorm(x)
// Two tape nodes per layer instead of ~60: the backward pass keeps only what it needs (the layer input, the norm's
// scale, q/k/v, the attention probabilities, the merged heads; gate and up) and recomputes the cheap rest (h, the
// activation). Grouped-query attention needs no repeated K/V heads: the query heads sharing a KV head are stacked
// along the rows ([B·kvHeads, group·T, d]), so each batched matmul sees every K/V head once.
import * as tf from '@tensorflow/tfjs';
import { fusedOp, mm } from './autograd.ts';
import { applyRotary, unapplyRotary } from './rope.ts';

/**
 * Routes a weight's gradient to the k entries that train (sparse LoTA): the op takes `flatIndices` (int32 [k]) as its
 * input in place of the weight, and that input's "gradient" is the dense weight gradient gathered at those indices —
 * computed and gathered on the spot, so no dense gradient of the weight outlives its op. (The tape needs some tensor of
 * the gradient's shape to stand for the trained entries; the indices are one, and cost nothing extra.)
 */
export interface SparseGradient {
  flatIndices: tf.Tensor1D;
}

/** A Linear layer's weight [out, in], optional bias [out], and where its gradient goes when trained sparsely. */
export interface LinearWeights {
  weight: tf.Tensor;
  bias?: tf.Tensor | undefined;
  sparse?: SparseGradient | undefined;
}

/** x Wᵀ + b. */
export function project(x: tf.Tensor, weight: tf.Tensor, bias?: tf.Tensor): tf.Tensor2D {
  if (tf.getBackend() === 'wasm') {
    const y = tf.matMul(x as tf.Tensor2D, tf.transpose(weight));
    return (bias === undefined ? y : tf.add(y, bias)) as tf.Tensor2D;
  }
  const a = x as tf.Tensor2D;
  return tf.fused.matMul({ a, b: weight as tf.Tensor2D, transposeB: true, ...(bias ? { bias } : {}) }) as tf.Tensor2D;
}

/**
 * Registers the Linears' tensors as op inputs under `<key>.weight|delta|bias` and returns, per input name, the
 * closure of its gradient from the layer's input x and output gradient dy (both evaluated when the tape asks).
 * Weights that are variables are read directly in the backward pass; others (LoRA's W + s·B·A) are saved.
 */
class Linears {
  readonly inputs: Record<string, tf.Tensor> = {};
  private readonly entries: [string, LinearWeights][];

  constructor(entries: Record<string, LinearWeights>) {
    this.entries = Object.entries(entries);
    for (const [key, l] of this.entries) {
      if (l.sparse === undefined) this.inputs[`${key}.weight`] = l.weight;
      else this.inputs[`${key}.entries`] = l.sparse.flatIndices;
      if (l.bias !== undefined) this.inputs[`${key}.bias`] = l.bias;
    }
  }

  /** Weights the backward pass cannot read from a variable. */
  toSave(): tf.Tensor[] {
    return this.entries.map(([, l]) => l.weight).filter((w) => !(w instanceof tf.Variable));
  }

  /** The weights as the backward pass sees them, given the saved ones in toSave's order. */
  restore(saved: readonly tf.Tensor[]): Record<string, tf.Tensor> {
    let i = 0;
    return Object.fromEntries(
      this.entries.map(([key, l]) => [key, l.weight instanceof tf.Variable ? l.weight : (saved[i++] as tf.Tensor)]),
    );
  }

  /** Gradient closures of `key`'s weight (or its sparse entries) and bias, for input x and output gradient dy. */
  grads(key: string, x: () => tf.Tensor, dy: () => tf.Tensor): Record<string, () => tf.Tensor> {
    const l = Object.fromEntries(this.entries)[key] as LinearWeights;
    const dWeight = () => mm(dy(), x(), true, false);
    const out: Record<string, () => tf.Tensor> = {};
    if (l.sparse === undefined) out[`${key}.weight`] = dWeight;
    else {
      const { flatIndices } = l.sparse;
      out[`${key}.entries`] = () => tf.gather(tf.reshape(dWeight(), [-1]), flatIndices);
    }
    if (l.bias !== undefined) out[`${key}.bias`] = () => tf.sum(dy(), 0);
    return out;
  }
}

/** RMSNorm's scale r = 1/sqrt(mean(x²) + eps) per row, and the normalised, weighted rows. */
function normalize(x: tf.Tensor, weight: tf.Tensor, eps: number): { r: tf.Tensor; h: tf.Tensor } {
  const r = tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps));
  return { r, h: tf.mul(tf.mul(x, r), weight) };
}

/** The gradient of x ↦ (x·r)·w at x given dh: r·(g − x̂·mean(g·x̂)) with g = dh·w, x̂ = x·r; and of w: Σ dh·x̂. */
function normalizeGrads(
  x: tf.Tensor,
  r: tf.Tensor,
  weight: tf.Tensor,
  dh: tf.Tensor,
): { dx: tf.Tensor; dw: tf.Tensor } {
  const normed = tf.mul(x, r);
  const g = tf.mul(dh, weight);
  return {
    dx: tf.mul(r, tf.sub(g, tf.mul(normed, tf.mean(tf.mul(g, normed), -1, true)))),
    dw: tf.sum(tf.mul(dh, normed), 0),
  };
}

export interface AttentionShape {
  batch: number;
  seqLen: number;
  heads: number;
  kvHeads: number;
  headDim: number;
}

export interface AttentionWeights {
  norm: tf.Tensor;
  q: LinearWeights;
  k: LinearWeights;
  v: LinearWeights;
  o: LinearWeights;
}

/**
 * x + attention half of a layer, x [B·T, H]. cos/sin [B, 1, T, d] (rope.ts), bias [B, 1, T, T] (mask.ts): the
 * attention mask as an additive bias.
 */
export function attentionHalf(
  x: tf.Tensor2D,
  w: AttentionWeights,
  eps: number,
  shape: AttentionShape,
  rope: { cos: tf.Tensor; sin: tf.Tensor },
  bias: tf.Tensor,
): tf.Tensor2D {
  const { batch: b, seqLen: t, heads: nh, kvHeads: nkv, headDim: d } = shape;
  const group = nh / nkv;
  const scale = 1 / Math.sqrt(d);
  // [B·T, n·d] ↔ [B, n, T, d]
  const split = (y: tf.Tensor, n: number) => tf.transpose(tf.reshape(y, [b, t, n, d]), [0, 2, 1, 3]) as tf.Tensor4D;
  const merge = (y: tf.Tensor, n: number) =>
    tf.reshape(tf.transpose(tf.reshape(y, [b, n, t, d]), [0, 2, 1, 3]), [b * t, n * d]);
  const linears = new Linears({ q: w.q, k: w.k, v: w.v, o: w.o });
  const normWeight = w.norm;
  return fusedOp({
    inputs: { x, norm: normWeight, ...linears.inputs },
    forward: () => {
      // Nested scopes free each step's temporaries at once (the op's own scope ends only after the output).
      const { r, qs, ks, vs } = tf.tidy(() => {
        const n = normalize(x, normWeight, eps);
        const heads = (l: LinearWeights, count: number) => split(project(n.h, l.weight, l.bias), count);
        return {
          r: n.r,
          qs: tf.reshape(applyRotary(heads(w.q, nh), rope.cos, rope.sin), [b * nkv, group * t, d]),
          ks: tf.reshape(applyRotary(heads(w.k, nkv), rope.cos, rope.sin), [b * nkv, t, d]),
          vs: tf.reshape(heads(w.v, nkv), [b * nkv, t, d]),
        };
      });
      const probs = tf.tidy(() =>
        tf.softmax(tf.add(tf.reshape(tf.mul(mm(qs, ks, false, true), scale), [b, nh, t, t]), bias)),
      );
      const merged = tf.tidy(() => merge(mm(tf.reshape(probs, [b * nkv, group * t, t]), vs), nh));
      const value = tf.tidy(() => tf.add(x, project(merged, w.o.weight, w.o.bias)));
      const save = [x, r, qs, ks, vs, probs, merged, rope.cos, rope.sin, ...linears.toSave()];
      return { value, save: normWeight instanceof tf.Variable ? save : [...save, normWeight] };
    },
    backward: (dy, saved) => {
      const [sx, r, qs, ks, vs, probs, merged, cos, sin] = saved as tf.Tensor[] as [
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
        tf.Tensor,
      ];
      const weights = linears.restore(saved.slice(9));
      const norm = normWeight instanceof tf.Variable ? normWeight : (saved.at(-1) as tf.Tensor);
      const p = tf.reshape(probs, [b * nkv, group * t, t]);
      const dContext = tf.tidy(() => tf.reshape(split(mm(dy, weights.o as tf.Tensor), nh), [b * nkv, group * t, d]));
      const dv = tf.tidy(() => merge(mm(p, dContext, true, false), nkv));
      // softmax: dS = P ⊙ (dP − Σ dP ⊙ P), then the 1/√d scale
      const dScores = tf.tidy(() => {
        const dProbs = mm(dContext, vs, false, true);
        return tf.mul(tf.mul(p, tf.sub(dProbs, tf.sum(tf.mul(dProbs, p), -1, true))), scale);
      });
      dContext.dispose();
      const dq = tf.tidy(() =>
        merge(unapplyRotary(tf.reshape(mm(dScores, ks), [b, nh, t, d]) as tf.Tensor4D, cos, sin), nh),
      );
      const dk = tf.tidy(() =>
        merge(unapplyRotary(tf.reshape(mm(dScores, qs, true, false), [b, nkv, t, d]) as tf.Tensor4D, cos, sin), nkv),
      );
      dScores.dispose();
      const h = tf.tidy(() => tf.mul(tf.mul(sx, r), norm));
      const { dx, dw } = tf.tidy(() => {
        const dh = tf.addN([
          mm(dq, weights.q as tf.Tensor),
          mm(dk, weights.k as tf.Tensor),
          mm(dv, weights.v as tf.Tensor),
        ]);
        return normalizeGrads(sx, r, norm, dh);
      });
      const input = () => h;
      return {
        shared: [dq, dk, dv, h, dx, dw],
        grads: {
          x: () => tf.add(dy, dx),
          norm: () => dw.clone(),
          ...linears.grads('q', input, () => dq),
          ...linears.grads('k', input, () => dk),
          ...linears.grads('v', input, () => dv),
          ...linears.grads(
            'o',
            () => merged,
            () => dy,
          ),
        },
      };
    },
  }) as tf.Tensor2D;
}

export interface MlpWeights {
  norm: tf.Tensor;
  gate: LinearWeights;
  up: LinearWeights;
  down: LinearWeights;
}

/** x + MLP half of a layer, x [B·T, H]: down(silu(gate(h)) · up(h)), h = rmsNorm(x). */
export function mlpHalf(x: tf.Tensor2D, w: MlpWeights, eps: number): tf.Tensor2D {
  const linears = new Linears({ gate: w.gate, up: w.up, down: w.down });
  const normWeight = w.norm;
  return fusedOp({
    inputs: { x, norm: normWeight, ...linears.inputs },
    forward: () => {
      const { r, h } = normalize(x, normWeight, eps);
      const gate = project(h, w.gate.weight, w.gate.bias);
      const up = project(h, w.up.weight, w.up.bias);
      h.dispose();
      const act = tf.tidy(() => tf.mul(tf.mul(gate, tf.sigmoid(gate)), up));
      const value = tf.tidy(() => tf.add(x, project(act, w.down.weight, w.down.bias)));
      const save = [x, r, gate, up, ...linears.toSave()];
      return { value, save: normWeight instanceof tf.Variable ? save : [...save, normWeight] };
    },
    backward: (dy, saved) => {
      const [sx, r, gate, up] = saved as [tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor];
      const weights = linears.restore(saved.slice(4));
      const norm = normWeight instanceof tf.Variable ? normWeight : (saved.at(-1) as tf.Tensor);
      const [act, dGate, dUp] = tf.tidy(() => {
        const s = tf.sigmoid(gate);
        const silu = tf.mul(gate, s);
        const dAct = mm(dy, weights.down as tf.Tensor);
        // silu'(g) = σ(g)·(1 + g·(1 − σ(g)))
        const dg = tf.mul(tf.mul(dAct, up), tf.mul(s, tf.add(1, tf.mul(gate, tf.sub(1, s)))));
        return [tf.mul(silu, up), dg, tf.mul(dAct, silu)];
      });
      const h = tf.tidy(() => tf.mul(tf.mul(sx, r), norm));
      const { dx, dw } = tf.tidy(() =>
        normalizeGrads(sx, r, norm, tf.add(mm(dGate, weights.gate as tf.Tensor), mm(dUp, weights.up as tf.Tensor))),
      );
      const input = () => h;
      return {
        shared: [act, dGate, dUp, h, dx, dw],
        grads: {
          x: () => tf.add(dy, dx),
          norm: () => dw.clone(),
          ...linears.grads('gate', input, () => dGate),
          ...linears.grads('up', input, () => dUp),
          ...linears.grads(
            'down',
            () => act,
            () => dy,
          ),
        },
      };
    },
  }) as tf.Tensor2D;
}
