// LlamaForCausalLM forward pass over a Map of Hugging Face-named parameters. Hidden states stay 2-D [B·T, H] between
// blocks; attention reshapes to [B·heads, T, d] so batched matmuls never rely on broadcasting.
import * as tf from '@tensorflow/tfjs';
import type { LlamaConfig } from './config.ts';
import { embed, linear, matMul, matMulT, repeatKv, rmsNorm, silu } from './layers.ts';
import { attentionBias } from './mask.ts';
import { applyRotary, rotaryTables } from './rope.ts';

export type Parameters = Map<string, tf.Variable>;

/** One batch, row-major [B, T]. segmentIds: 0 marks padding, equal ids mark one (packed) example; null = one example per row. */
export interface ModelInputs {
  inputIds: Int32Array;
  batch: number;
  seqLen: number;
  positionIds?: Int32Array | null;
  segmentIds?: Int32Array | null;
}

function param(params: ReadonlyMap<string, tf.Tensor>, name: string): tf.Tensor {
  const p = params.get(name);
  if (p === undefined) throw new Error(`model parameter "${name}" is missing`);
  return p;
}

function attention(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  prefix: string,
  h: tf.Tensor2D,
  shape: { b: number; t: number },
  rope: { cos: tf.Tensor4D; sin: tf.Tensor4D },
  bias: tf.Tensor4D,
): tf.Tensor2D {
  const { b, t } = shape;
  const { numAttentionHeads: nh, numKeyValueHeads: nkv, headDim: d } = config;
  const project = (name: string, heads: number, withBias: boolean): tf.Tensor4D => {
    const w = param(params, `${prefix}.${name}.weight`);
    const y = linear(h, w, withBias ? param(params, `${prefix}.${name}.bias`) : undefined);
    return tf.transpose(tf.reshape(y, [b, t, heads, d]), [0, 2, 1, 3]);
  };
  const q = applyRotary(project('q_proj', nh, config.qkvBias), rope.cos, rope.sin);
  const k = repeatKv(applyRotary(project('k_proj', nkv, config.qkvBias), rope.cos, rope.sin), nh / nkv);
  const v = repeatKv(project('v_proj', nkv, config.qkvBias), nh / nkv);
  const scores = tf.mul(matMulT(tf.reshape(q, [b * nh, t, d]), tf.reshape(k, [b * nh, t, d])), 1 / Math.sqrt(d));
  const probs = tf.softmax(tf.add(tf.reshape(scores, [b, nh, t, t]), bias));
  const context = matMul(tf.reshape(probs, [b * nh, t, t]), tf.reshape(v, [b * nh, t, d]));
  const merged: tf.Tensor2D = tf.reshape(tf.transpose(tf.reshape(context, [b, nh, t, d]), [0, 2, 1, 3]), [
    b * t,
    nh * d,
  ]);
  const o = param(params, `${prefix}.o_proj.weight`);
  return linear(merged, o, config.oBias ? param(params, `${prefix}.o_proj.bias`) : undefined);
}

function mlp(params: ReadonlyMap<string, tf.Tensor>, config: LlamaConfig, prefix: string, h: tf.Tensor2D): tf.Tensor2D {
  const b = (name: string) => (config.mlpBias ? param(params, `${prefix}.${name}.bias`) : undefined);
  const gate = linear(h, param(params, `${prefix}.gate_proj.weight`), b('gate_proj'));
  const up = linear(h, param(params, `${prefix}.up_proj.weight`), b('up_proj'));
  return linear(tf.mul(silu(gate), up) as tf.Tensor2D, param(params, `${prefix}.down_proj.weight`), b('down_proj'));
}

/** Default positions: 0..T-1 per row, or restarting at 0 at each new segment when rows are packed. */
export function positionsFor(inputs: ModelInputs): Int32Array {
  if (inputs.positionIds) return inputs.positionIds;
  const { batch, seqLen, segmentIds } = inputs;
  const pos = new Int32Array(batch * seqLen);
  for (let r = 0; r < batch; r++) {
    let p = 0;
    for (let i = 0; i < seqLen; i++) {
      const at = r * seqLen + i;
      if (segmentIds && i > 0 && segmentIds[at] !== segmentIds[at - 1]) p = 0;
      pos[at] = p++;
    }
  }
  return pos;
}

/** Final hidden states [B·T, H] (after the last norm). Call inside tf.tidy or a gradient function. */
export function hiddenStates(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  inputs: ModelInputs,
): tf.Tensor2D {
  const { batch: b, seqLen: t } = inputs;
  if (inputs.inputIds.length !== b * t) {
    throw new Error(`inputIds has ${inputs.inputIds.length} entries, expected batch ${b} × seqLen ${t}`);
  }
  for (const id of inputs.inputIds) {
    if (id < 0 || id >= config.vocabSize)
      throw new Error(`token id ${id} is outside the vocabulary (size ${config.vocabSize})`);
  }
  const rope = rotaryTables(config, positionsFor(inputs), b, t);
  const bias = attentionBias(inputs.segmentIds ?? null, b, t, config.slidingWindow);
  let x = embed(param(params, 'model.embed_tokens.weight'), inputs.inputIds);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    const h1 = rmsNorm(x, param(params, `${p}.input_layernorm.weight`), config.rmsNormEps);
    x = tf.add(x, attention(params, config, `${p}.self_attn`, h1, { b, t }, rope, bias));
    const h2 = rmsNorm(x, param(params, `${p}.post_attention_layernorm.weight`), config.rmsNormEps);
    x = tf.add(x, mlp(params, config, `${p}.mlp`, h2));
  }
  return rmsNorm(x, param(params, 'model.norm.weight'), config.rmsNormEps);
}

export function lmHeadWeight(params: ReadonlyMap<string, tf.Tensor>, config: LlamaConfig): tf.Tensor {
  return param(params, config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
}

/** Logits [B·T, V]. Call inside tf.tidy or a gradient function. */
export function logits(params: ReadonlyMap<string, tf.Tensor>, config: LlamaConfig, inputs: ModelInputs): tf.Tensor2D {
  return matMulT(hiddenStates(params, config, inputs), lmHeadWeight(params, config));
}
