// Phase 1 + 2 of LoTA: a dense fine-tune from the (LoTTO: base + earlier tickets) weights, the task vector Δ of the
// target tensors kept in memory, and the mask extracted from it, written as mask.safetensors.
import { ARTIFACTS } from '@lota/api';
import type { TokenizedExample } from '../data/examples.ts';
import { type Extraction, globalTopK, randomMasks } from '../lota/extract.ts';
import { writeMaskFile } from '../lota/mask-file.ts';
import { seededRandom } from '../lota/random.ts';
import { disposeParameters } from '../model/parameters.ts';
import { loadPretrained } from '../model/pretrained.ts';
import { DenseOptimizer } from '../train/dense-optimizer.ts';
import {
  applyEarlierTickets,
  artifact,
  baseFingerprint,
  loadPhaseTask,
  openPhase,
  type PhaseContext,
  type PhaseOutcome,
  requireLota,
  snapshot,
  trainStage,
} from './context.ts';
import { fractionOf, stepsPerEpoch, targetNames, trainingPlan } from './task.ts';

export async function calibrate(ctx: PhaseContext): Promise<PhaseOutcome> {
  const { spec } = ctx;
  const lota = requireLota(spec);
  const { sink, baseDir } = await openPhase(ctx);
  const model = await loadPretrained(baseDir);
  try {
    const fingerprint = await baseFingerprint(baseDir);
    const exclude = await applyEarlierTickets(ctx, model.params, fingerprint);
    const targets = targetNames(model.params, lota.targets, 'lota.targets');
    let extraction: Extraction;
    let calibrationLoss: number | undefined;
    let how: string;
    if (lota.maskSelection === 'random') {
      const sizes = new Map(targets.map((n) => [n, (model.params.get(n) as { size: number }).size]));
      extraction = randomMasks(sizes, lota.sparsity, seededRandom(spec.training.seed), exclude);
      how = 'random mask (no calibration needed)';
    } else {
      const task = await loadPhaseTask(ctx, baseDir);
      const { steps, dataFraction } = lota.calibration;
      const examples: TokenizedExample[] =
        steps === undefined
          ? fractionOf(task.train.examples, dataFraction ?? 1, spec.training.seed)
          : task.train.examples;
      const plan = trainingPlan(spec, examples.length, lota.calibration.learningRate);
      const perEpoch = stepsPerEpoch(examples.length, plan);
      const epochs = steps === undefined ? 1 : Math.ceil(steps / perEpoch);
      const total = steps ?? perEpoch;
      const start = snapshot(model.params, targets);
      const all = [...model.params.keys()];
      const optimizer = new DenseOptimizer(plan.rule, model.params, all);
      const result = await trainStage(sink, 'calibrate', {
        params: model.params,
        config: model.config,
        examples,
        optimizer,
        trainable: all,
        plan,
        length: { epochs, ...(steps !== undefined ? { maxSteps: steps } : {}) },
        maxSeqLength: spec.dataset.maxSeqLength,
        padId: task.padId,
        totalSteps: total,
      });
      calibrationLoss = result.trainLoss;
      const deltas = new Map<string, Float32Array>();
      for (const name of targets) {
        const now = (model.params.get(name) as { dataSync(): Float32Array }).dataSync();
        const before = start.get(name) as Float32Array;
        const delta = new Float32Array(before.length);
        for (let i = 0; i < delta.length; i++) delta[i] = (now[i] as number) - (before[i] as number);
        deltas.set(name, delta);
      }
      start.clear();
      extraction = globalTopK(deltas, lota.sparsity, exclude);
      how = `global top-k of |Δ| after ${result.steps} dense steps (threshold ${extraction.threshold})`;
    }
    const { uri, path } = artifact(ctx, ARTIFACTS.mask);
    const shapes = Object.fromEntries(targets.map((n) => [n, [...(model.params.get(n) as { shape: number[] }).shape]]));
    await writeMaskFile(path, extraction.masks, {
      baseFingerprint: fingerprint,
      sparsity: lota.sparsity,
      selection: lota.maskSelection === 'random' ? 'random' : 'global',
      ...(extraction.threshold !== undefined ? { threshold: extraction.threshold } : {}),
      shapes,
    });
    const density = extraction.total === 0 ? 0 : extraction.trainable / extraction.total;
    sink.info('mask extracted', { trainable: extraction.trainable, total: extraction.total, density });
    return {
      message: `mask of ${extraction.trainable} / ${extraction.total} target entries (density ${density.toFixed(4)}): ${how}`,
      mask: { trainable: extraction.trainable, total: extraction.total, density, uri },
      ...(calibrationLoss !== undefined ? { results: { trainLoss: calibrationLoss } } : {}),
    };
  } finally {
    disposeParameters(model.params);
  }
}
