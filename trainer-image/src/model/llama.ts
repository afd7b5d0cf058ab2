// LlamaForCausalLM forward pass over a Map of Hugging Face-named parameters. Hidden states stay 2-D [B·T, H] between
// layers; each layer is two ops with their own gradients (blocks.ts).
import type * as tf from '@tensorflow/tfjs';
import {
  type AttentionWeights,
  attentionHalf,
  type LinearWeights,
  type MlpWeights,
  mlpHalf,
  type SparseGradient,
} from './blocks.ts';
import type { LlamaConfig } from './config.ts';
import { embed, linear, rmsNorm } from './layers.ts';
import { attentionBias } from './mask.ts';
import { rotaryTables } from './rope.ts';

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

/** Where gradients of sparsely trained weights go (see SparseGradient); absent: gradients of the weights themselves. */
export type SparseGradients = ReadonlyMap<string, SparseGradient>;

function linearWeights(
  params: ReadonlyMap<string, tf.Tensor>,
  sparse: SparseGradients | undefined,
  prefix: string,
  withBias: boolean,
): LinearWeights {
  const name = `${prefix}.weight`;
  return {
    weight: param(params, name),
    bias: withBias ? param(params, `${prefix}.bias`) : undefined,
    sparse: sparse?.get(name),
  };
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
  sparse?: SparseGradients,
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
  const shape = {
    batch: b,
    seqLen: t,
    heads: config.numAttentionHeads,
    kvHeads: config.numKeyValueHeads,
    headDim: config.headDim,
  };
  const lin = (prefix: string, withBias: boolean) => linearWeights(params, sparse, prefix, withBias);
  let x = embed(param(params, 'model.embed_tokens.weight'), inputs.inputIds);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    const attention: AttentionWeights = {
      norm: param(params, `${p}.input_layernorm.weight`),
      q: lin(`${p}.self_attn.q_proj`, config.qkvBias),
      k: lin(`${p}.self_attn.k_proj`, config.qkvBias),
      v: lin(`${p}.self_attn.v_proj`, config.qkvBias),
      o: lin(`${p}.self_attn.o_proj`, config.oBias),
    };
    // Each half saves what its backward pass needs; the handle of its input can go at once.
    const mid = attentionHalf(x, attention, config.rmsNormEps, shape, rope, bias);
    x.dispose();
    const mlp: MlpWeights = {
      norm: param(params, `${p}.post_attention_layernorm.weight`),
      gate: lin(`${p}.mlp.gate_proj`, config.mlpBias),
      up: lin(`${p}.mlp.up_proj`, config.mlpBias),
      down: lin(`${p}.mlp.down_proj`, config.mlpBias),
    };
    x = mlpHalf(mid, mlp, config.rmsNormEps);
    mid.dispose();
  }
  return rmsNorm(x, param(params, 'model.norm.weight'), config.rmsNormEps);
}

export function lmHeadWeight(params: ReadonlyMap<string, tf.Tensor>, config: LlamaConfig): tf.Tensor {
  return param(params, config.tieWordEmbeddings ? 'model.embed_tokens.weight' : 'lm_head.weight');
}

/** Logits [B·T, V]. Call inside tf.tidy or a gradient function. */
export function logits(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  inputs: ModelInputs,
  sparse?: SparseGradients,
): tf.Tensor2D {
  return linear(hiddenStates(params, config, inputs, sparse), lmHeadWeight(params, config));
}
