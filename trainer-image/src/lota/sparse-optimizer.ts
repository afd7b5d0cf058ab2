// The sparse phase's optimizer: state and updates exist only for the mask's entries.
//
// Per target tensor it keeps the mask's flat indices (int32, one per trainable entry) and one 1-D state vector per
// slot of the update rule (k entries instead of n). Its `sparseGradients` make the training step compute each target's
// gradient only as the 1-D vector of its trainable entries (gathered in the backward pass, one dense gradient at a
// time), so clipping norms see only trainable entries, exactly like the reference's zeroed gradients. `apply` gathers
// the same entries of the weights, runs trainer-core's update rule on the 1-D vectors and scatters the results back. Nothing else is written, so entries outside the mask keep
// their bits: weight decay, momentum and every other term of the rule act only on trainable entries.
import * as tf from '@tensorflow/tfjs';
import type { SparseGradient } from '../model/blocks.ts';
import type { Parameters } from '../model/llama.ts';
import type { Optimizer } from '../train/dense-optimizer.ts';
import type { UpdateRule } from '../train/update-rules.ts';
import { type MaskSet, setIndices } from './mask.ts';

interface SparseSlot {
  /** Flat indices of the trainable entries (int32 [k]). */
  flatIndices: tf.Tensor1D;
  state: tf.Variable[];
}

export class SparseOptimizer implements Optimizer {
  readonly rule: UpdateRule;
  private readonly params: Parameters;
  private readonly slots = new Map<string, SparseSlot>();
  private step = 0;

  /** Tensors without a single trainable entry get no state and no gradient work (they are not `trainable`). */
  constructor(rule: UpdateRule, params: Parameters, masks: MaskSet) {
    this.rule = rule;
    this.params = params;
    for (const [name, mask] of masks) {
      const p = params.get(name);
      if (p === undefined) throw new Error(`sparse optimizer: masked parameter "${name}" does not exist`);
      if (p.size !== mask.size)
        throw new Error(`sparse optimizer: mask of ${name} has ${mask.size} entries, the tensor ${p.size}`);
      const idx = setIndices(mask);
      if (idx.length === 0) continue;
      const flatIndices = tf.tensor1d(Int32Array.from(idx), 'int32');
      this.slots.set(name, {
        flatIndices,
        state: rule.stateSlots.map(() => tf.variable(tf.zeros([idx.length]), false)),
      });
    }
  }

  get steps(): number {
    return this.step;
  }

  /** Names of the parameters that have trainable entries, for the training loop. */
  get trainable(): string[] {
    return [...this.slots.keys()];
  }

  /** Entries of optimizer state held, over all slots (the dense optimizer would hold slots × n). */
  get stateEntries(): number {
    let n = 0;
    for (const s of this.slots.values()) n += s.flatIndices.size * s.state.length;
    return n;
  }

  /** Where the training step sends each target's gradient: the 1-D vector of its trainable entries. */
  get sparseGradients(): Map<string, SparseGradient> {
    return new Map([...this.slots].map(([name, s]) => [name, { flatIndices: s.flatIndices }]));
  }

  /** One update from gathered 1-D gradients (as the step computes them with sparseGradients, possibly clipped). */
  apply(grads: ReadonlyMap<string, tf.Tensor>, lr: number): void {
    this.step++;
    for (const [name, slot] of this.slots) {
      const grad = grads.get(name);
      if (grad === undefined) throw new Error(`sparse optimizer: no gradient for ${name}`);
      if (grad.rank !== 1 || grad.size !== slot.flatIndices.size) {
        throw new Error(
          `sparse optimizer: ${name} needs a gathered gradient of ${slot.flatIndices.size} entries (train with its sparseGradients)`,
        );
      }
      const param = this.params.get(name) as tf.Variable;
      tf.tidy(() => {
        const flat = tf.reshape(param, [-1]);
        const { value, state } = this.rule.update(tf.gather(flat, slot.flatIndices), grad, slot.state, this.step, lr);
        // tensorScatterUpdate takes the indices as [k, 1]
        const indices = tf.reshape(slot.flatIndices, [slot.flatIndices.size, 1]);
        param.assign(tf.reshape(tf.tensorScatterUpdate(flat, indices, value), param.shape));
        for (const [i, s] of state.entries()) (slot.state[i] as tf.Variable).assign(s);
      });
    }
  }

  dispose(): void {
    for (const slot of this.slots.values()) {
      slot.flatIndices.dispose();
      for (const s of slot.state) s.dispose();
    }
    this.slots.clear();
  }
}
