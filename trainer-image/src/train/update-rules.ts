// Optimizers as per-tensor update rules with PyTorch semantics: (value, grad, state) → (value', state'). Rules work
// on tensors of any shape, so the same rule updates a dense weight matrix or a 1-D vector of gathered trainable
// entries (sparse LoTA training). Rules are pure: they return new tensors and dispose nothing.
import * as tf from '@tensorflow/tfjs';

interface UpdateResult {
  value: tf.Tensor;
  state: tf.Tensor[];
}

export interface UpdateRule {
  readonly name: string;
  /** Names of the state slots; each slot is a tensor shaped like the value, starting at zeros. */
  readonly stateSlots: readonly string[];
  /** Set by the Adam family, so that an optimizer can run the same update as one fused kernel (fused-adam.ts). */
  readonly adam?: AdamHyperparameters;
  /** One step; `step` counts from 1 (bias correction needs it). */
  update(value: tf.Tensor, grad: tf.Tensor, state: readonly tf.Tensor[], step: number, lr: number): UpdateResult;
}

export interface AdamHyperparameters {
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** AdamW's decoupled decay (weights shrink directly) rather than Adam's L2 term on the gradient. */
  decoupled: boolean;
}

function slot(state: readonly tf.Tensor[], i: number, rule: string): tf.Tensor {
  const s = state[i];
  if (s === undefined) throw new Error(`${rule}: state slot ${i} is missing`);
  return s;
}

export interface AdamOptions {
  beta1?: number;
  beta2?: number;
  eps?: number;
  weightDecay?: number;
}

function adamFamily(name: string, decoupled: boolean, options: AdamOptions): UpdateRule {
  const { beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weightDecay = decoupled ? 0.01 : 0 } = options;
  return {
    name,
    stateSlots: ['exp_avg', 'exp_avg_sq'],
    adam: { beta1, beta2, eps, weightDecay, decoupled },
    update(value, grad, state, step, lr) {
      let g = grad;
      let p = value;
      if (weightDecay !== 0) {
        // AdamW shrinks the weights directly (decoupled); Adam adds L2 to the gradient, as torch.optim.Adam.
        if (decoupled) p = tf.mul(p, 1 - lr * weightDecay);
        else g = tf.add(g, tf.mul(value, weightDecay));
      }
      const m = tf.add(tf.mul(slot(state, 0, name), beta1), tf.mul(g, 1 - beta1));
      const v = tf.add(tf.mul(slot(state, 1, name), beta2), tf.mul(tf.square(g), 1 - beta2));
      const stepSize = lr / (1 - beta1 ** step);
      const denom = tf.add(tf.div(tf.sqrt(v), Math.sqrt(1 - beta2 ** step)), eps);
      return { value: tf.sub(p, tf.mul(tf.div(m, denom), stepSize)), state: [m, v] };
    },
  };
}

/** torch.optim.Adam (weight decay as L2 on the gradient). */
export function adam(options: AdamOptions = {}): UpdateRule {
  return adamFamily('adam', false, options);
}

/** torch.optim.AdamW: decoupled weight decay, default 0.01. */
export function adamw(options: AdamOptions = {}): UpdateRule {
  return adamFamily('adamw', true, options);
}

export interface RmspropOptions {
  alpha?: number;
  eps?: number;
  momentum?: number;
  weightDecay?: number;
  centered?: boolean;
}

/** torch.optim.RMSprop: eps added outside the square root (tfjs adds it inside). */
export function rmsprop(options: RmspropOptions = {}): UpdateRule {
  const { alpha = 0.99, eps = 1e-8, momentum = 0, weightDecay = 0, centered = false } = options;
  const slots = ['square_avg', ...(centered ? ['grad_avg'] : []), ...(momentum > 0 ? ['momentum_buffer'] : [])];
  return {
    name: 'rmsprop',
    stateSlots: slots,
    update(value, grad, state, _step, lr) {
      const g = weightDecay !== 0 ? tf.add(grad, tf.mul(value, weightDecay)) : grad;
      const squareAvg = tf.add(tf.mul(slot(state, 0, 'rmsprop'), alpha), tf.mul(tf.square(g), 1 - alpha));
      const next: tf.Tensor[] = [squareAvg];
      let avg: tf.Tensor;
      if (centered) {
        const gradAvg = tf.add(tf.mul(slot(state, 1, 'rmsprop'), alpha), tf.mul(g, 1 - alpha));
        next.push(gradAvg);
        avg = tf.add(tf.sqrt(tf.sub(squareAvg, tf.square(gradAvg))), eps);
      } else {
        avg = tf.add(tf.sqrt(squareAvg), eps);
      }
      if (momentum > 0) {
        const buf = tf.add(tf.mul(slot(state, next.length, 'rmsprop'), momentum), tf.div(g, avg));
        next.push(buf);
        return { value: tf.sub(value, tf.mul(buf, lr)), state: next };
      }
      return { value: tf.sub(value, tf.mul(tf.div(g, avg), lr)), state: next };
    },
  };
}

export interface SgdOptions {
  momentum?: number;
  nesterov?: boolean;
  weightDecay?: number;
}

/** torch.optim.SGD without dampening (its first momentum step, buf = grad, equals a zero-initialised buffer's). */
export function sgd(options: SgdOptions = {}): UpdateRule {
  const { momentum = 0, nesterov = false, weightDecay = 0 } = options;
  if (nesterov && momentum <= 0) throw new Error('sgd: nesterov needs a positive momentum');
  return {
    name: 'sgd',
    stateSlots: momentum > 0 ? ['momentum_buffer'] : [],
    update(value, grad, state, _step, lr) {
      const g = weightDecay !== 0 ? tf.add(grad, tf.mul(value, weightDecay)) : grad;
      if (momentum <= 0) return { value: tf.sub(value, tf.mul(g, lr)), state: [] };
      const buf = tf.add(tf.mul(slot(state, 0, 'sgd'), momentum), g);
      const direction = nesterov ? tf.add(g, tf.mul(buf, momentum)) : buf;
      return { value: tf.sub(value, tf.mul(direction, lr)), state: [buf] };
    },
  };
}

const OPTIMIZER_NAMES = ['adam', 'adamw', 'rmsprop', 'sgd'] as const;
type OptimizerName = (typeof OPTIMIZER_NAMES)[number];

export interface OptimizerSpec {
  name: OptimizerName;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
  momentum?: number;
  alpha?: number;
  nesterov?: boolean;
  centered?: boolean;
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/** Builds a rule from a declarative spec (as in a resource's training section). */
export function updateRule(spec: OptimizerSpec): UpdateRule {
  switch (spec.name) {
    case 'adam':
    case 'adamw': {
      const options = defined({
        beta1: spec.betas?.[0],
        beta2: spec.betas?.[1],
        eps: spec.eps,
        weightDecay: spec.weightDecay,
      });
      return spec.name === 'adam' ? adam(options) : adamw(options);
    }
    case 'rmsprop':
      return rmsprop(
        defined({
          alpha: spec.alpha,
          eps: spec.eps,
          momentum: spec.momentum,
          weightDecay: spec.weightDecay,
          centered: spec.centered,
        }),
      );
    case 'sgd':
      return sgd(defined({ momentum: spec.momentum, nesterov: spec.nesterov, weightDecay: spec.weightDecay }));
    default:
      throw new Error(
        `unknown optimizer "${String((spec as { name: unknown }).name)}" (expected ${OPTIMIZER_NAMES.join(', ')})`,
      );
  }
}
