// The LoRA baseline's train phase: adapters on the target weights, trained from the base; written both as the
// low-rank delta (a PEFT adapter directory: adapter_model.safetensors + adapter_config.json) and merged into dense
// weights (the model directory).
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { ARTIFACTS } from '@lota/api';
import type * as tf from '@tensorflow/tfjs';
import { InvalidSpecError } from '../errors.ts';
import { digestPath } from '../io/digest.ts';
import { type Dtype, OUTPUT_DTYPES } from '../io/dtype.ts';
import { writeSafetensors } from '../io/safetensors.ts';
import { LoraParameters, loraNames } from '../lota/lora.ts';
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
import { targetNames, totalSteps, trainingPlan } from './task.ts';

const ADAPTER_DIR = 'adapter';

export async function trainLora(ctx: PhaseContext): Promise<PhaseOutcome> {
  const { spec } = ctx;
  if (spec.method !== 'lora' || spec.lora === undefined) throw new InvalidSpecError('this phase needs method lora');
  const lora = spec.lora;
  const { sink, baseDir } = await openPhase(ctx);
  const model = await loadPretrained(baseDir);
  const targets = targetNames(model.params, lora.targets, 'lora.targets');
  const params = new LoraParameters(model.params, targets, { rank: lora.rank, alpha: lora.alpha }, spec.training.seed);
  try {
    const task = await loadPhaseTask(ctx, baseDir);
    const plan = trainingPlan(spec, task.train.examples.length);
    const before = scoreTask(params, model.config, task, plan.batchSize, spec.dataset.maxSeqLength);
    const adapters = params.adapterNames;
    const optimizer = new DenseOptimizer(plan.rule, params, adapters);
    sink.info('lora training', {
      targets: targets.length,
      rank: lora.rank,
      adapterEntries: adapters.reduce((s, n) => s + (params.get(n) as tf.Variable).size, 0),
    });
    const result = await trainStage(sink, 'train', {
      params,
      config: model.config,
      examples: task.train.examples,
      optimizer,
      trainable: adapters,
      plan,
      maxSeqLength: spec.dataset.maxSeqLength,
      padId: task.padId,
      totalSteps: totalSteps(task.train.examples.length, plan),
    });
    const after = scoreTask(params, model.config, task, plan.batchSize, spec.dataset.maxSeqLength);

    const dtype = outputDtype(spec.output.dtype);
    const adapterDir = artifact(ctx, ADAPTER_DIR);
    await writeAdapter(adapterDir.path, params, targets, lora, OUTPUT_DTYPES[dtype].dtype);
    const merged = new Map(params.baseEntries().map(([n, v]) => [n, targets.includes(n) ? params.merged(n) : v]));
    const out = artifact(ctx, ARTIFACTS.model);
    await savePretrained(out.path, model.config, merged, {
      dtype,
      tokenizerFrom: baseDir,
      maxShardBytes: shardBytes(spec.output.maxShardSize),
    });
    for (const n of targets) merged.get(n)?.dispose();
    const results = taskResults(result.trainLoss, before, after, task.train.skipped.length);
    await writeAtomic(artifact(ctx, ARTIFACTS.results).path, `${JSON.stringify(results, null, 2)}\n`);
    return {
      message: `trained ${result.steps} steps of rank-${lora.rank} adapters on ${targets.length} tensors; adapter in ${adapterDir.uri}, merged model in ${out.uri}`,
      results,
      output: { uri: out.uri, ...(await digestPath(out.path)) },
    };
  } finally {
    params.disposeAdapters();
    disposeParameters(model.params);
  }
}

/** A PEFT LoRA adapter directory: `base_model.model.<module>.lora_{A,B}.weight` and adapter_config.json. */
async function writeAdapter(
  dir: string,
  params: LoraParameters,
  targets: readonly string[],
  lora: { rank: number; alpha: number },
  dtype: Dtype,
): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = targets.flatMap((name) => {
    const module = name.replace(/\.weight$/, '');
    const { a, b } = loraNames(name);
    return [
      [`base_model.model.${module}.lora_A.weight`, params.get(a) as tf.Variable],
      [`base_model.model.${module}.lora_B.weight`, params.get(b) as tf.Variable],
    ] as const;
  });
  await writeSafetensors(
    join(dir, 'adapter_model.safetensors'),
    tensors.map(([name, v]) => ({ name, dtype, shape: v.shape, data: v.dataSync() as Float32Array })),
    { format: 'pt' },
  );
  const modules = [
    ...new Set(
      targets.map(
        (t) =>
          t
            .replace(/\.weight$/, '')
            .split('.')
            .at(-1) as string,
      ),
    ),
  ];
  const config = {
    peft_type: 'LORA',
    task_type: 'CAUSAL_LM',
    r: lora.rank,
    lora_alpha: lora.alpha,
    lora_dropout: 0, // the adapters were trained without dropout (the API has none)
    target_modules: modules,
    bias: 'none',
    fan_in_fan_out: false,
    base_model_name_or_path: null,
  };
  await writeAtomic(join(dir, 'adapter_config.json'), `${JSON.stringify(config, null, 2)}\n`);
}
