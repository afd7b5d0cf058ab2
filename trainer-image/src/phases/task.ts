// What every adaptation phase needs from its spec: the base model, tokenizer and data, and the training options in
// trainer-core's terms. Spec errors become InvalidSpecError (exit 10); unreadable inputs keep their own types.
import { type ResolvedAdaptationSpec, targetMatcher } from '@lota/api';
import { type Dataset, loadDataset } from '../data/dataset.ts';
import type { TokenizedExample } from '../data/examples.ts';
import { type DatasetRecord, readJsonl } from '../data/jsonl.ts';
import { shuffled } from '../data/random.ts';
import { InvalidSpecError } from '../errors.ts';
import type { Parameters } from '../model/llama.ts';
import { TextTokenizer } from '../tokenizer/tokenizer.ts';
import type { ClipOptions } from '../train/loop.ts';
import type { LrSchedule } from '../train/schedule.ts';
import { type UpdateRule, updateRule } from '../train/update-rules.ts';

export interface TaskData {
  tokenizer: TextTokenizer;
  train: Dataset;
  eval?: Dataset;
  /** Held-out records, for exact match. */
  evalRecords?: DatasetRecord[];
  /** Prompt tokens kept (from the left), in training and in exact-match prompts alike. */
  maxPromptLength?: number;
  padId: number;
}

export async function loadTask(
  spec: ResolvedAdaptationSpec,
  baseDir: string,
  resolve: (uri: string) => string,
): Promise<TaskData> {
  const tokenizer = await TextTokenizer.load(baseDir);
  const options = {
    maxSeqLength: spec.dataset.maxSeqLength,
    maxPromptLength: spec.dataset.maxPromptLength,
    policy: spec.dataset.invalidLines,
    format: spec.dataset.format,
  };
  const train = await loadDataset(resolve(spec.dataset.uri), tokenizer, options);
  const padId = tokenizer.padId ?? tokenizer.eosId ?? 0;
  if (spec.dataset.evalUri === undefined) return { tokenizer, train, padId };
  const evalPath = resolve(spec.dataset.evalUri);
  const evalSet = await loadDataset(evalPath, tokenizer, options);
  const { records } = await readJsonl(evalPath, spec.dataset.invalidLines, spec.dataset.format);
  return {
    tokenizer,
    train,
    eval: evalSet,
    evalRecords: records,
    maxPromptLength: spec.dataset.maxPromptLength,
    padId,
  };
}

/** The parameters `targets` selects, in model order; none is an error (the spec cannot adapt anything). */
export function targetNames(params: Parameters, patterns: readonly string[], what: string): string[] {
  const matches = targetMatcher(patterns);
  const names = [...params.keys()].filter(matches);
  if (names.length === 0) {
    throw new InvalidSpecError(`${what} [${patterns.join(', ')}] match no parameter of the base model`);
  }
  return names;
}

export interface TrainingPlan {
  rule: UpdateRule;
  schedule: LrSchedule;
  clip: ClipOptions;
  batchSize: number;
  gradAccumulation: number;
  epochs: number;
  maxSteps?: number;
  seed: number;
}

/** Training options for `examples` examples; with maxSteps and no epochs, as many epochs as the steps need. */
export function trainingPlan(
  spec: ResolvedAdaptationSpec,
  examples: number,
  lr = spec.training.learningRate,
): TrainingPlan {
  const t = spec.training;
  const clip: ClipOptions =
    t.maxGradNorm === 0
      ? {}
      : t.gradClipScope === 'global'
        ? { globalNorm: t.maxGradNorm }
        : { perTensorNorm: t.maxGradNorm };
  const perEpoch = stepsPerEpoch(examples, { batchSize: t.batchSize, gradAccumulation: t.gradientAccumulationSteps });
  return {
    rule: updateRule({ name: t.optimizer, weightDecay: t.weightDecay }),
    schedule: { lr: lr as number, warmupSteps: t.warmupSteps, kind: t.lrSchedule },
    clip,
    batchSize: t.batchSize,
    gradAccumulation: t.gradientAccumulationSteps,
    epochs: t.epochs ?? Math.ceil((t.maxSteps ?? perEpoch) / perEpoch),
    ...(t.maxSteps !== undefined ? { maxSteps: t.maxSteps } : {}),
    seed: t.seed,
  };
}

/** Optimizer steps one epoch of `examples` takes. */
export function stepsPerEpoch(examples: number, plan: Pick<TrainingPlan, 'batchSize' | 'gradAccumulation'>): number {
  return Math.ceil(Math.ceil(examples / plan.batchSize) / plan.gradAccumulation);
}

/** The first ⌈fraction·n⌉ examples of a seeded shuffle: calibration's share of the data. */
export function fractionOf(examples: readonly TokenizedExample[], fraction: number, seed: number): TokenizedExample[] {
  return shuffled(examples, seed).slice(0, Math.max(1, Math.ceil(fraction * examples.length)));
}

export function totalSteps(examples: number, plan: TrainingPlan): number {
  return Math.min(stepsPerEpoch(examples, plan) * plan.epochs, plan.maxSteps ?? Number.POSITIVE_INFINITY);
}
