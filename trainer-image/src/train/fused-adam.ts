// Adam and AdamW on the native backend as TensorFlow's own fused kernel (ResourceApplyAdam): one pass over each
// parameter, its gradient and both moments, updated in place, where the tfjs rule (update-rules.ts) runs ~14
// element-wise ops that each write a new parameter-sized tensor. The moments live in TensorFlow resource variables
// (so tfjs's memory counters do not see them); the parameter is handed to its variable before each update and read
// back after, so the tfjs Variable stays the one source of truth.
//
// The kernel's arithmetic is Adam's with two differences, both undone here so the steps stay torch.optim's:
//   - it adds epsilon to √v before bias correction: it gets beta powers 0 (its own correction is then 1), the step
//     lr·√bc2/bc1 and epsilon eps·√bc2, which is the same quotient;
//   - it forms 1 − β2 in float32 from float32 β2 (0.000999987 for 0.999, where torch uses 0.001), so its v is k·v with
//     k = (1 − f32(β2)) / f32(1 − β2) throughout: step and epsilon both take a √k, which cancels it.
import * as tf from '@tensorflow/tfjs';
import type { AttrValue, NativeOps } from '../backend/native-ops.ts';
import type { AdamHyperparameters } from './update-rules.ts';

const FLOAT: AttrValue = { dtype: 'float32' };
let variables = 0;

interface Slots {
  param: tf.Tensor;
  m: tf.Tensor;
  v: tf.Tensor;
}

export class FusedAdam {
  private readonly ops: NativeOps;
  private readonly hyper: AdamHyperparameters;
  private readonly slots = new Map<string, Slots>();
  /** Scalar inputs that never change: beta powers (0), beta1, beta2. */
  private readonly constants: tf.Tensor[];
  /** √k of the header: the kernel's v over torch's. */
  private readonly sqrtK: number;
  /** Bytes of the two moments, which live outside tfjs (tf.memory() does not count them). */
  readonly stateBytes: number;

  constructor(ops: NativeOps, hyper: AdamHyperparameters, params: ReadonlyMap<string, tf.Tensor>) {
    this.ops = ops;
    this.hyper = hyper;
    this.sqrtK = Math.sqrt((1 - Math.fround(hyper.beta2)) / Math.fround(1 - hyper.beta2));
    this.constants = [tf.scalar(0), tf.scalar(hyper.beta1), tf.scalar(hyper.beta2)];
    this.stateBytes = [...params.values()].reduce((bytes, p) => bytes + 2 * 4 * p.size, 0);
    for (const [name, p] of params) {
      const slots = { param: this.variable(p.shape), m: this.variable(p.shape), v: this.variable(p.shape) };
      for (const moment of [slots.m, slots.v]) this.assign(moment, tf.zeros(p.shape), true);
      this.slots.set(name, slots);
    }
  }

  private variable(shape: readonly number[]): tf.Tensor {
    const [handle] = this.ops.run(
      'VarHandleOp',
      {
        container: { string: '' },
        shared_name: { string: `lota-adam-${variables++}` },
        dtype: FLOAT,
        shape: { shape },
      },
      [],
      1,
    );
    return handle as tf.Tensor;
  }

  /** Points the variable at value's buffer; with `release`, drops tfjs's handle so the kernel may update in place. */
  private assign(handle: tf.Tensor, value: tf.Tensor, release: boolean): void {
    this.ops.run('AssignVariableOp', { dtype: FLOAT, validate_shape: { bool: false } }, [handle, value], 0);
    if (release) value.dispose();
  }

  /** One step of every parameter (`step` counts from 1). */
  apply(
    params: ReadonlyMap<string, tf.Variable>,
    grads: ReadonlyMap<string, tf.Tensor>,
    step: number,
    lr: number,
  ): void {
    const { beta1, beta2, eps, weightDecay, decoupled } = this.hyper;
    const bc2Sqrt = Math.sqrt(1 - beta2 ** step);
    const [zero, b1, b2] = this.constants as [tf.Tensor, tf.Tensor, tf.Tensor];
    const stepSize = tf.scalar((lr / (1 - beta1 ** step)) * bc2Sqrt * this.sqrtK);
    const epsilon = tf.scalar(eps * bc2Sqrt * this.sqrtK);
    for (const [name, slots] of this.slots) {
      const grad = grads.get(name);
      if (grad === undefined) throw new Error(`optimizer: no gradient for trainable parameter "${name}"`);
      const param = params.get(name) as tf.Variable;
      tf.tidy(() => {
        let g = grad;
        if (weightDecay !== 0 && decoupled) this.assign(slots.param, tf.mul(param, 1 - lr * weightDecay), true);
        else {
          // Shared with the tfjs Variable: the kernel copies it before writing (copy-on-write), once.
          this.assign(slots.param, param, false);
          if (weightDecay !== 0) g = tf.add(grad, tf.mul(param, weightDecay));
        }
        this.ops.run(
          'ResourceApplyAdam',
          { T: FLOAT, use_locking: { bool: false }, use_nesterov: { bool: false } },
          [slots.param, slots.m, slots.v, zero, zero, stepSize, b1, b2, epsilon, g],
          0,
        );
        const [updated] = this.ops.run('ReadVariableOp', { dtype: FLOAT }, [slots.param], 1);
        param.assign(updated as tf.Tensor);
      });
    }
    stepSize.dispose();
    epsilon.dispose();
  }

  dispose(): void {
    for (const slots of this.slots.values()) {
      for (const handle of [slots.param, slots.m, slots.v]) {
        this.ops.run('DestroyResourceOp', { ignore_lookup_error: { bool: false } }, [handle], 0);
        handle.dispose();
      }
    }
    this.slots.clear();
    for (const c of this.constants) c.dispose();
  }
}
