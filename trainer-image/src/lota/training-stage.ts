// What every training phase (calibrate, train for lota / full / lora) shares: the set-up before the base model is
// loaded, and one run of the training loop reported to the progress sink as a stage.
import type { TokenizedExample } from '../data/examples.ts';
import type { LlamaConfig } from '../model/config.ts';
import type { Parameters } from '../model/llama.ts';
import type { ProgressSink } from '../progress/sink.ts';
import type { Optimizer } from '../train/dense-optimizer.ts';
import { type TrainOptions, type TrainResult, train } from '../train/loop.ts';
import { type PhaseContext, prepareOutput, resolveUri, sinkOf } from './context.ts';
import { loadTask, type TaskData, type TrainingPlan } from './task.ts';

/** The phase's progress sink and the base model's directory; the output directory is created. */
export async function openPhase(ctx: PhaseContext): Promise<{ sink: ProgressSink; baseDir: string }> {
  const sink = sinkOf(ctx);
  const baseDir = resolveUri(ctx, ctx.spec.baseModel.uri);
  await prepareOutput(ctx);
  return { sink, baseDir };
}

/** The spec's dataset, tokenized with the base model's tokenizer. */
export function loadPhaseTask(ctx: PhaseContext, baseDir: string): Promise<TaskData> {
  return loadTask(ctx.spec, baseDir, (uri) => resolveUri(ctx, uri));
}

export interface StageOptions {
  params: Parameters;
  config: LlamaConfig;
  examples: readonly TokenizedExample[];
  optimizer: Optimizer;
  trainable: readonly string[];
  transformGrads?: TrainOptions['transformGrads'];
  plan: TrainingPlan;
  /** Epochs and step limit of this run instead of the plan's (calibration has its own). */
  length?: { epochs: number; maxSteps?: number };
  maxSeqLength: number;
  padId: number;
  /** Steps the progress stage announces. */
  totalSteps: number;
}

/** Trains as the plan says, each step reported to `sink` under `stage`; the optimizer is disposed afterwards. */
export async function trainStage(sink: ProgressSink, stage: string, o: StageOptions): Promise<TrainResult> {
  const { plan } = o;
  const { epochs, maxSteps } = o.length ?? plan;
  sink.begin(stage, o.totalSteps);
  const result = await train({
    params: o.params,
    config: o.config,
    examples: o.examples,
    optimizer: o.optimizer,
    trainable: o.trainable,
    ...(o.transformGrads !== undefined ? { transformGrads: o.transformGrads } : {}),
    batchSize: plan.batchSize,
    maxSeqLength: o.maxSeqLength,
    padId: o.padId,
    schedule: plan.schedule,
    epochs,
    ...(maxSteps !== undefined ? { maxSteps } : {}),
    gradAccumulation: plan.gradAccumulation,
    clip: plan.clip,
    seed: plan.seed,
    onStep: (s) => sink.step({ step: s.step, totalSteps: s.totalSteps, loss: s.loss, tokens: s.tokens }),
  });
  sink.end();
  o.optimizer.dispose();
  return result;
}
