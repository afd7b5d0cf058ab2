// The FFT baseline (method full): every parameter trained densely from the base; the result is a model directory.
import { ARTIFACTS } from '@lota/api';
import { digestPath } from '../io/digest.ts';
import { disposeParameters } from '../model/parameters.ts';
import { loadPretrained, savePretrained } from '../model/pretrained.ts';
import { DenseOptimizer } from '../train/dense-optimizer.ts';
import {
  artifact,
  loadPhaseTask,
  openPhase,
  outputDtype,
  type PhaseContext,
  type PhaseOutcome,
  shardBytes,
  trainStage,
  writeAtomic,
} from './context.ts';
import { scoreTask, taskResults } from './evaluation.ts';
import { totalSteps, trainingPlan } from './task.ts';

export async function trainFull(ctx: PhaseContext): Promise<PhaseOutcome> {
  const { spec } = ctx;
  const { sink, baseDir } = await openPhase(ctx);
  const model = await loadPretrained(baseDir);
  try {
    const task = await loadPhaseTask(ctx, baseDir);
    const plan = trainingPlan(spec, task.train.examples.length);
    const before = scoreTask(model.params, model.config, task, plan.batchSize, spec.dataset.maxSeqLength);
    const all = [...model.params.keys()];
    const optimizer = new DenseOptimizer(plan.rule, model.params, all);
    const result = await trainStage(sink, 'train', {
      params: model.params,
      config: model.config,
      examples: task.train.examples,
      optimizer,
      trainable: all,
      plan,
      maxSeqLength: spec.dataset.maxSeqLength,
      padId: task.padId,
      totalSteps: totalSteps(task.train.examples.length, plan),
    });
    const out = artifact(ctx, ARTIFACTS.model);
    await savePretrained(out.path, model.config, model.params, {
      dtype: outputDtype(spec.output.dtype),
      tokenizerFrom: baseDir,
      maxShardBytes: shardBytes(spec.output.maxShardSize),
    });
    const after = scoreTask(model.params, model.config, task, plan.batchSize, spec.dataset.maxSeqLength);
    const results = taskResults(result.trainLoss, before, after, task.train.skipped.length);
    await writeAtomic(artifact(ctx, ARTIFACTS.results).path, `${JSON.stringify(results, null, 2)}\n`);
    return {
      message: `trained ${result.steps} steps on all ${all.length} tensors (full fine-tuning)`,
      results,
      output: { uri: out.uri, ...(await digestPath(out.path)) },
    };
  } finally {
    disposeParameters(model.params);
  }
}
