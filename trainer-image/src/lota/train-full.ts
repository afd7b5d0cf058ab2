// The FFT baseline (method full): every parameter trained densely from the base; the result is a model directory.

import { createHash } from 'node:crypto';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ARTIFACTS } from '@lota/api';
import { disposeParameters } from '../model/parameters.ts';
import { loadPretrained, savePretrained } from '../model/pretrained.ts';
import { DenseOptimizer } from '../train/dense-optimizer.ts';
import { artifact, type PhaseContext, type PhaseOutcome, sha256File, writeAtomic } from './context.ts';
import { scoreTask } from './evaluation.ts';
import { SPEC_DTYPES, shardBytes, totalSteps, trainingPlan } from './task.ts';
import { loadPhaseTask, openPhase, trainStage } from './training-stage.ts';

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
      dtype: (SPEC_DTYPES[spec.output.dtype] ?? { output: 'f32' as const }).output,
      tokenizerFrom: baseDir,
      maxShardBytes: shardBytes(spec.output.maxShardSize),
    });
    const after = scoreTask(model.params, model.config, task, plan.batchSize, spec.dataset.maxSeqLength);
    const results = taskResults(result.trainLoss, before, after, task.train.skipped.length);
    await writeAtomic(artifact(ctx, ARTIFACTS.results).path, `${JSON.stringify(results, null, 2)}\n`);
    return {
      message: `trained ${result.steps} steps on all ${all.length} tensors (full fine-tuning)`,
      results,
      output: { uri: out.uri, ...(await modelDigest(out.path)) },
    };
  } finally {
    disposeParameters(model.params);
  }
}

/** Total bytes of the weight files and SHA-256 over them in name order (the API's ArtifactSummary for directories). */
export async function modelDigest(dir: string): Promise<{ bytes: number; sha256: string }> {
  const files = (await readdir(dir)).filter((f) => /^model.*\.safetensors$/.test(f)).sort();
  const hash = createHash('sha256');
  let bytes = 0;
  for (const f of files) {
    bytes += (await stat(join(dir, f))).size;
    hash.update(await sha256File(join(dir, f)));
  }
  return { bytes, sha256: files.length === 1 ? await sha256File(join(dir, files[0] as string)) : hash.digest('hex') };
}

export function taskResults(
  trainLoss: number,
  before: ReturnType<typeof scoreTask>,
  after: ReturnType<typeof scoreTask>,
  skipped: number,
) {
  return {
    trainLoss,
    ...(after ? { evalLoss: after.evalLoss } : {}),
    metrics: {
      ...(after ? { perplexity: after.perplexity } : {}),
      ...(after?.exactMatch !== undefined ? { exactMatch: after.exactMatch } : {}),
      ...(before ? { baseEvalLoss: before.evalLoss } : {}),
      ...(before?.exactMatch !== undefined ? { baseExactMatch: before.exactMatch } : {}),
    },
    ...(skipped > 0 ? { skippedLines: skipped } : {}),
  };
}
