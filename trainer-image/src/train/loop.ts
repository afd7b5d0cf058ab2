// The training loop: seeded epochs of batches, gradient accumulation, an optional gradient hook (LoTA masks
// gradients there), clipping, the learning-rate schedule and the optimizer step.
import type * as tf from '@tensorflow/tfjs';
import { type Batch, makeBatches } from '../data/batches.ts';
import type { TokenizedExample } from '../data/examples.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { Parameters } from '../model/llama.ts';
import { clipByGlobalNorm, clipPerTensor } from './clip.ts';
import type { Optimizer } from './dense-optimizer.ts';
import { disposeGrads, stepGradients } from './gradients.ts';
import { type LrSchedule, learningRate } from './schedule.ts';

export interface ClipOptions {
  /** torch clip_grad_norm_ over all trainable gradients together. */
  globalNorm?: number;
  /** Each gradient tensor clipped to this norm on its own (the LoTA reference clips at 1 this way). */
  perTensorNorm?: number;
}

export interface StepInfo {
  step: number;
  totalSteps: number;
  epoch: number;
  loss: number;
  lr: number;
  tokens: number;
}

export interface TrainOptions {
  params: Parameters;
  config: LlamaConfig;
  examples: readonly TokenizedExample[];
  optimizer: Optimizer;
  trainable: readonly string[];
  batchSize: number;
  maxSeqLength: number;
  padId: number;
  schedule: LrSchedule;
  epochs?: number;
  /** Stop after this many optimizer steps (default: all steps of all epochs). */
  maxSteps?: number;
  gradAccumulation?: number;
  packing?: boolean;
  clip?: ClipOptions;
  seed?: number;
  /** Replaces the step's gradients before clipping (e.g. zeroing frozen entries); must not dispose its input. */
  transformGrads?: (grads: Map<string, tf.Tensor>) => Map<string, tf.Tensor>;
  onStep?: (info: StepInfo) => void | Promise<void>;
}

export interface TrainResult {
  steps: number;
  /** Mean of the step losses of the last epoch run. */
  trainLoss: number;
  history: StepInfo[];
}

/** Micro-batches of every step of every epoch, in order: epoch e shuffles with seed + e. */
export function plannedSteps(options: TrainOptions): { epoch: number; microBatches: Batch[] }[] {
  const epochs = options.epochs ?? 1;
  const accumulation = options.gradAccumulation ?? 1;
  if (!Number.isInteger(accumulation) || accumulation < 1)
    throw new Error(`gradAccumulation must be ≥ 1, got ${accumulation}`);
  const steps: { epoch: number; microBatches: Batch[] }[] = [];
  for (let epoch = 0; epoch < epochs; epoch++) {
    const batches = makeBatches(options.examples, {
      batchSize: options.batchSize,
      maxSeqLength: options.maxSeqLength,
      padId: options.padId,
      packing: options.packing ?? false,
      seed: (options.seed ?? 0) + epoch,
    });
    for (let i = 0; i < batches.length; i += accumulation)
      steps.push({ epoch, microBatches: batches.slice(i, i + accumulation) });
  }
  return options.maxSteps === undefined ? steps : steps.slice(0, options.maxSteps);
}

function replace(grads: Map<string, tf.Tensor>, next: Map<string, tf.Tensor>): Map<string, tf.Tensor> {
  for (const [name, g] of grads) if (next.get(name) !== g) g.dispose();
  return next;
}

export async function train(options: TrainOptions): Promise<TrainResult> {
  const steps = plannedSteps(options);
  const schedule = { totalSteps: steps.length, ...options.schedule };
  const history: StepInfo[] = [];
  for (const [i, { epoch, microBatches }] of steps.entries()) {
    const step = i + 1;
    const result = stepGradients(
      options.params,
      options.config,
      microBatches,
      options.trainable,
      options.optimizer.sparseGradients,
    );
    let grads = result.grads;
    try {
      if (options.transformGrads) grads = replace(grads, options.transformGrads(grads));
      if (options.clip?.perTensorNorm !== undefined)
        grads = replace(grads, clipPerTensor(grads, options.clip.perTensorNorm));
      if (options.clip?.globalNorm !== undefined)
        grads = replace(grads, clipByGlobalNorm(grads, options.clip.globalNorm).grads);
      const lr = learningRate(schedule, step);
      options.optimizer.apply(grads, lr);
      const info: StepInfo = { step, totalSteps: steps.length, epoch, loss: result.loss, lr, tokens: result.tokens };
      history.push(info);
      await options.onStep?.(info);
      // A step is synchronous tensor work: yield to the event loop so sockets (the /progress endpoint) and timers run.
      await new Promise<void>((resolve) => setImmediate(resolve));
    } finally {
      disposeGrads(grads);
    }
  }
  const lastEpoch = history.at(-1)?.epoch ?? 0;
  const last = history.filter((h) => h.epoch === lastEpoch);
  return {
    steps: history.length,
    trainLoss: last.reduce((s, h) => s + h.loss, 0) / Math.max(1, last.length),
    history,
  };
}
