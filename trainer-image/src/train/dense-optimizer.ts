// Applies an update rule to whole parameter tensors, keeping one state tensor per slot per trainable parameter. On
// the native backend the Adam family runs as TensorFlow's fused kernel instead (fused-adam.ts), same steps.
import * as tf from '@tensorflow/tfjs';
import { nativeOps } from '../backend/native-ops.ts';
import type { Parameters, SparseGradients } from '../model/llama.ts';
import { FusedAdam } from './fused-adam.ts';
import type { UpdateRule } from './update-rules.ts';

/** What the training loop needs from an optimizer; the sparse LoTA optimizer implements the same. */
export interface Optimizer {
  readonly rule: UpdateRule;
  /** Steps taken so far. */
  readonly steps: number;
  /** Parameters whose gradients the step computes only at these entries (the sparse optimizer's). */
  readonly sparseGradients?: SparseGradients;
  /** One update of the named parameters from their gradients at learning rate lr. */
  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void;
  dispose(): void;
}

/** A non-trainable variable holding `value`, which is disposed (tf.variable keeps its own reference). */
function variableOf(value: tf.Tensor): tf.Variable {
  const v = tf.variable(value, false);
  value.dispose();
  return v;
}

export class DenseOptimizer implements Optimizer {
  readonly rule: UpdateRule;
  private readonly params: Parameters;
  private readonly state = new Map<string, tf.Variable[]>();
  private readonly fused: FusedAdam | undefined;
  private step = 0;

  constructor(rule: UpdateRule, params: Parameters, trainable: Iterable<string>) {
    this.rule = rule;
    this.params = params;
    const targets = new Map<string, tf.Variable>();
    for (const name of trainable) {
      const p = params.get(name);
      if (p === undefined) throw new Error(`optimizer: trainable parameter "${name}" does not exist`);
      targets.set(name, p);
    }
    const ops = rule.adam && nativeOps();
    if (ops && rule.adam) this.fused = new FusedAdam(ops, rule.adam, targets);
    else {
      for (const [name, p] of targets)
        this.state.set(
          name,
          rule.stateSlots.map(() => variableOf(tf.zerosLike(p))),
        );
    }
  }

  get steps(): number {
    return this.step;
  }

  /** Bytes of optimizer state that tf.memory() does not see (the fused Adam's moments on native), else 0. */
  get untrackedStateBytes(): number {
    return this.fused?.stateBytes ?? 0;
  }

  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.step++;
    if (this.fused !== undefined) {
      this.fused.apply(this.params, grads, this.step, lr);
      return;
    }
    for (const [name, slots] of this.state) {
      const grad = grads.get(name);
      if (grad === undefined) throw new Error(`optimizer: no gradient for trainable parameter "${name}"`);
      const param = this.params.get(name) as tf.Variable;
      tf.tidy(() => {
        const { value, state } = this.rule.update(param, grad, slots, this.step, lr);
        param.assign(value);
        for (const [i, s] of state.entries()) (slots[i] as tf.Variable).assign(s);
      });
    }
  }

  dispose(): void {
    this.fused?.dispose();
    for (const slots of this.state.values()) for (const s of slots) s.dispose();
    this.state.clear();
  }
}
