// Creating the parameter Map: random initialisation (as transformers' _init_weights) or from named arrays read
// from a checkpoint, checked against the shapes the config implies. Variables get tfjs's unique auto-names (not HF
// names) so that several models can live in one process; the Map's keys are the HF names.
import * as tf from '@tensorflow/tfjs';
import { type LlamaConfig, parameterShapes } from './config.ts';
import type { Parameters } from './llama.ts';

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

function isNormOrBias(name: string): 'ones' | 'zeros' | null {
  if (name.endsWith('layernorm.weight') || name === 'model.norm.weight') return 'ones';
  if (name.endsWith('.bias')) return 'zeros';
  return null;
}

/** Normal(0, initializer_range) weights, unit norms, zero biases; deterministic for a seed. */
export function initParameters(config: LlamaConfig, seed: number): Parameters {
  const std = typeof config.raw.initializer_range === 'number' ? config.raw.initializer_range : 0.02;
  const params: Parameters = new Map();
  let i = 0;
  for (const [name, shape] of parameterShapes(config)) {
    const kind = isNormOrBias(name);
    const value =
      kind === 'ones'
        ? tf.ones(shape)
        : kind === 'zeros'
          ? tf.zeros(shape)
          : tf.randomNormal(shape, 0, std, 'float32', seed + i++);
    params.set(name, tf.variable(value, true));
    value.dispose();
  }
  return params;
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((x, i) => x === b[i]);

/**
 * Builds the parameters from arrays keyed by HF name. Missing or mis-shaped tensors are errors; a checkpoint of a
 * tied model may still carry lm_head.weight (ignored), anything else unexpected is an error.
 */
export function parametersFromArrays(
  config: LlamaConfig,
  get: (name: string) => NamedArray | undefined,
  names: Iterable<string>,
  where = 'checkpoint',
): Parameters {
  const shapes = parameterShapes(config);
  for (const name of names) {
    if (shapes.has(name) || (config.tieWordEmbeddings && name === 'lm_head.weight')) continue;
    if (name.endsWith('rotary_emb.inv_freq')) continue;
    throw new Error(`${where}: unexpected tensor "${name}" for a ${config.architecture} with this config`);
  }
  const params: Parameters = new Map();
  try {
    for (const [name, shape] of shapes) {
      const array = get(name);
      if (array === undefined) throw new Error(`${where}: tensor "${name}" is missing`);
      if (!sameShape(array.shape, shape)) {
        throw new Error(`${where}: tensor "${name}" has shape [${array.shape}], the config implies [${shape}]`);
      }
      const value = tf.tensor(array.data, shape, 'float32');
      params.set(name, tf.variable(value, true));
      value.dispose();
    }
  } catch (err) {
    disposeParameters(params);
    throw err;
  }
  return params;
}

export function disposeParameters(params: Parameters): void {
  for (const v of params.values()) v.dispose();
  params.clear();
}
