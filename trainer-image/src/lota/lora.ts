// The LoRA baseline (method lora): each target weight W [out, in] gets A [r, in] and B [out, r], the model sees
// W + (alpha / r)·B·A, and only A and B train. Initialisation as PEFT: A ~ U(±1/√in) (kaiming-uniform, a = √5), B = 0,
// so training starts exactly at the base model.
//
// LoraParameters is the parameter Map the model code reads: get() of a target name returns W + s·B·A, computed
// where it is read (inside the gradient tape, so gradients reach A and B); get() of `<name>.lora_A` / `.lora_B`
// returns the adapter variables the optimizer updates. Everything else is the base weight, untouched.
import * as tf from '@tensorflow/tfjs';
import type { Parameters } from '../model/llama.ts';
import { seededRandom } from './random.ts';

export interface LoraOptions {
  rank: number;
  alpha: number;
}

export const loraNames = (target: string) => ({ a: `${target}.lora_A`, b: `${target}.lora_B` });

export class LoraParameters extends Map<string, tf.Variable> {
  readonly targets: readonly string[];
  readonly scale: number;
  readonly rank: number;

  constructor(base: Parameters, targets: readonly string[], options: LoraOptions, seed: number) {
    super(base);
    this.targets = targets;
    this.rank = options.rank;
    this.scale = options.alpha / options.rank;
    const random = seededRandom(seed);
    for (const name of targets) {
      const w = base.get(name);
      if (w === undefined || w.rank !== 2) throw new Error(`LoRA target ${name} is not a 2-D weight of the model`);
      const [out, inDim] = w.shape as [number, number];
      const bound = 1 / Math.sqrt(inDim);
      const a = Float32Array.from({ length: options.rank * inDim }, () => (random() * 2 - 1) * bound);
      const { a: aName, b: bName } = loraNames(name);
      super.set(aName, tf.variable(tf.tensor2d(a, [options.rank, inDim]), true));
      super.set(bName, tf.variable(tf.zeros([out, options.rank]), true));
    }
  }

  /** Names of the adapter variables (what trains). */
  get adapterNames(): string[] {
    return this.targets.flatMap((t) => [loraNames(t).a, loraNames(t).b]);
  }

  /** The effective weight of a target: W + s·B·A (a new tensor; the caller disposes it or runs in a tidy). */
  merged(name: string): tf.Tensor {
    const { a, b } = loraNames(name);
    const w = super.get(name) as tf.Variable;
    return tf.add(w, tf.mul(tf.matMul(super.get(b) as tf.Variable, super.get(a) as tf.Variable), this.scale));
  }

  override get(name: string): tf.Variable | undefined {
    if (this.targets.includes(name)) return this.merged(name) as tf.Variable;
    return super.get(name);
  }

  /** The base weights only (the Map model code would see without adapters). */
  baseEntries(): [string, tf.Variable][] {
    const adapters = new Set(this.adapterNames);
    return [...super.entries()].filter(([n]) => !adapters.has(n));
  }

  disposeAdapters(): void {
    for (const n of this.adapterNames) super.get(n)?.dispose();
  }
}
