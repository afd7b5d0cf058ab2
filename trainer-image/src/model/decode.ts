// Inference with a key/value cache: the prompt runs through the model once (prefill), then each new token costs one
// position per row instead of the whole prefix. Rows are left-padded; row r's real tokens sit at the cache's columns
// from pads[r] on, with positions from 0, and padding columns are never attended — so every row computes what it
// would alone. Same math and ops as the training forward pass (blocks.ts), without a tape.
import * as tf from '@tensorflow/tfjs';
import { mm } from './autograd.ts';
import { project } from './blocks.ts';
import type { LlamaConfig } from './config.ts';
import { embed, matMulT } from './layers.ts';
import { lmHeadWeight } from './llama.ts';
import { attentionBias } from './mask.ts';
import { applyRotary, rotaryTables } from './rope.ts';

const MASKED = -1e9;

/** Per layer, rotated keys and values [rows, kvHeads, length, headDim]; per row, its count of leading pad columns. */
export class KvCache {
  keys: tf.Tensor4D[] = [];
  values: tf.Tensor4D[] = [];
  pads: number[] = [];
  /** Real tokens of each row so far (the next token's position). */
  lengths: number[] = [];

  get columns(): number {
    return this.keys[0]?.shape[2] ?? 0;
  }

  /** Keeps only the given rows (in this order). */
  selectRows(rows: readonly number[]): void {
    const index = tf.tensor1d(Int32Array.from(rows), 'int32');
    const pick = (t: tf.Tensor4D) => {
      const next = tf.gather(t, index);
      t.dispose();
      return next;
    };
    this.keys = this.keys.map(pick);
    this.values = this.values.map(pick);
    index.dispose();
    this.pads = rows.map((r) => this.pads[r] as number);
    this.lengths = rows.map((r) => this.lengths[r] as number);
  }

  dispose(): void {
    for (const t of [...this.keys, ...this.values]) t.dispose();
    this.keys = [];
    this.values = [];
  }
}

function param(params: ReadonlyMap<string, tf.Tensor>, name: string): tf.Tensor {
  const p = params.get(name);
  if (p === undefined) throw new Error(`model parameter "${name}" is missing`);
  return p;
}

function rmsNorm(x: tf.Tensor, weight: tf.Tensor, eps: number): tf.Tensor {
  return tf.mul(tf.mul(x, tf.rsqrt(tf.add(tf.mean(tf.square(x), -1, true), eps))), weight);
}

/**
 * Runs `t` new tokens per row ([rows·t] ids, row-major) through the model, appending their keys and values to the
 * cache; returns the final hidden state of each row's last new token [rows, H]. bias: [rows, 1, t, columns after].
 */
function forward(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  cache: KvCache,
  ids: Int32Array,
  positions: Int32Array,
  bias: tf.Tensor,
): tf.Tensor2D {
  const rows = cache.pads.length;
  const t = ids.length / rows;
  const { numAttentionHeads: nh, numKeyValueHeads: nkv, headDim: d, rmsNormEps: eps } = config;
  const group = nh / nkv;
  const rope = rotaryTables(config, positions, rows, t);
  const split = (y: tf.Tensor, n: number) => tf.transpose(tf.reshape(y, [rows, t, n, d]), [0, 2, 1, 3]) as tf.Tensor4D;
  const bias4 = (name: string, on: boolean) => (on ? param(params, name) : undefined);
  let x: tf.Tensor = embed(param(params, 'model.embed_tokens.weight'), ids);
  for (let i = 0; i < config.numHiddenLayers; i++) {
    const p = `model.layers.${i}`;
    const a = `${p}.self_attn`;
    const h = rmsNorm(x, param(params, `${p}.input_layernorm.weight`), eps);
    const heads = (name: string, count: number, withBias: boolean) =>
      split(project(h, param(params, `${a}.${name}.weight`), bias4(`${a}.${name}.bias`, withBias)), count);
    const q = applyRotary(heads('q_proj', nh, config.qkvBias), rope.cos, rope.sin);
    const k = applyRotary(heads('k_proj', nkv, config.qkvBias), rope.cos, rope.sin);
    const v = heads('v_proj', nkv, config.qkvBias);
    const append = (old: tf.Tensor4D | undefined, add: tf.Tensor4D) =>
      old === undefined ? add : tf.concat([old, add], 2);
    const keys = tf.keep(append(cache.keys[i], k));
    const values = tf.keep(append(cache.values[i], v));
    cache.keys[i]?.dispose();
    cache.values[i]?.dispose();
    cache.keys[i] = keys;
    cache.values[i] = values;
    const columns = keys.shape[2];
    const scores = tf.mul(
      mm(tf.reshape(q, [rows * nkv, group * t, d]), tf.reshape(keys, [rows * nkv, columns, d]), false, true),
      1 / Math.sqrt(d),
    );
    const probs = tf.softmax(tf.add(tf.reshape(scores, [rows, nh, t, columns]), bias));
    const context = mm(
      tf.reshape(probs, [rows * nkv, group * t, columns]),
      tf.reshape(values, [rows * nkv, columns, d]),
    );
    const merged = tf.reshape(tf.transpose(tf.reshape(context, [rows, nh, t, d]), [0, 2, 1, 3]), [rows * t, nh * d]);
    x = tf.add(x, project(merged, param(params, `${a}.o_proj.weight`), bias4(`${a}.o_proj.bias`, config.oBias)));
    const m = `${p}.mlp`;
    const h2 = rmsNorm(x, param(params, `${p}.post_attention_layernorm.weight`), eps);
    const lin = (name: string, input: tf.Tensor) =>
      project(input, param(params, `${m}.${name}.weight`), bias4(`${m}.${name}.bias`, config.mlpBias));
    const gate = lin('gate_proj', h2);
    x = tf.add(x, lin('down_proj', tf.mul(tf.mul(gate, tf.sigmoid(gate)), lin('up_proj', h2))));
  }
  const last = tf.gather(
    x,
    tf.tensor1d(
      Int32Array.from({ length: rows }, (_, r) => r * t + t - 1),
      'int32',
    ),
  );
  return rmsNorm(last, param(params, 'model.norm.weight'), eps) as tf.Tensor2D;
}

/** Logits of each row's next token [rows, V]. */
function nextLogits(params: ReadonlyMap<string, tf.Tensor>, config: LlamaConfig, hidden: tf.Tensor2D): tf.Tensor2D {
  return matMulT(hidden, lmHeadWeight(params, config));
}

/** Fills a fresh cache with the prompts (left-padded); returns the logits of each row's next token. */
export function prefill(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  cache: KvCache,
  prompts: readonly (readonly number[])[],
): tf.Tensor2D {
  const rows = prompts.length;
  const t = Math.max(...prompts.map((p) => p.length));
  const ids = new Int32Array(rows * t);
  const segments = new Int32Array(rows * t);
  const positions = new Int32Array(rows * t);
  prompts.forEach((prompt, r) => {
    const pad = t - prompt.length;
    prompt.forEach((id, i) => {
      ids[r * t + pad + i] = id;
      segments[r * t + pad + i] = 1;
      positions[r * t + pad + i] = i;
    });
  });
  cache.pads = prompts.map((p) => t - p.length);
  cache.lengths = prompts.map((p) => p.length);
  return tf.tidy(() => {
    const bias = attentionBias(segments, rows, t, config.slidingWindow);
    return nextLogits(params, config, forward(params, config, cache, ids, positions, bias));
  });
}

/** Appends one token per row (tokens[r] at position cache.lengths[r]); returns the logits of the token after it. */
export function decodeStep(
  params: ReadonlyMap<string, tf.Tensor>,
  config: LlamaConfig,
  cache: KvCache,
  tokens: readonly number[],
): tf.Tensor2D {
  const rows = tokens.length;
  const columns = cache.columns + 1;
  const positions = Int32Array.from(cache.lengths);
  const mask = new Float32Array(rows * columns);
  for (let r = 0; r < rows; r++) {
    const pad = cache.pads[r] as number;
    for (let c = 0; c < columns; c++) {
      const tooFar = config.slidingWindow !== null && (positions[r] as number) - (c - pad) >= config.slidingWindow;
      if (c < pad || tooFar) mask[r * columns + c] = MASKED;
    }
  }
  const out = tf.tidy(() => {
    const bias = tf.tensor4d(mask, [rows, 1, 1, columns]);
    return nextLogits(params, config, forward(params, config, cache, Int32Array.from(tokens), positions, bias));
  });
  cache.lengths = cache.lengths.map((n) => n + 1);
  return out;
}
