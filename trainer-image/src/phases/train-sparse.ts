// Phase 3 of LoTA: restart from the base (LoTTO: base + earlier tickets), train only the mask's entries with the
// sparse optimizer, and write the ticket. The final weights are materialised from the ticket itself (start + δ as
// stored), so the evaluation scores and `apply` describe exactly what the ticket holds.
import { ARTIFACTS } from '@lota/api';
import * as tf from '@tensorflow/tfjs';
import { BaseModelMismatchError } from '../errors.ts';
import { digestPath } from '../io/digest.ts';
import { OUTPUT_DTYPES } from '../io/dtype.ts';
import { countSetAll, overlapCount } from '../lota/mask.ts';
import { readMaskFile } from '../lota/mask-file.ts';
import { SparseOptimizer } from '../lota/sparse-optimizer.ts';
import { applyTicketTensor, type Ticket, type TicketTensor, ticketTensor, writeTicket } from '../lota/ticket.ts';
import { disposeParameters } from '../model/parameters.ts';
import { loadPretrained } from '../model/pretrained.ts';
import {
  applyEarlierTickets,
  artifact,
  baseFingerprint,
  loadPhaseTask,
  openPhase,
  outputDtype,
  type PhaseContext,
  type PhaseOutcome,
  requireLota,
  snapshot,
  trainStage,
  writeAtomic,
} from './context.ts';
import { scoreTask, taskResults } from './evaluation.ts';
import { totalSteps, trainingPlan } from './task.ts';

export async function trainSparse(ctx: PhaseContext): Promise<PhaseOutcome> {
  const { spec } = ctx;
  const lota = requireLota(spec);
  const { sink, baseDir } = await openPhase(ctx);
  const maskArtifact = artifact(ctx, ARTIFACTS.mask);
  const { masks, info } = await readMaskFile(maskArtifact.path);
  const model = await loadPretrained(baseDir);
  try {
    const fingerprint = await baseFingerprint(baseDir);
    if (info.baseFingerprint !== fingerprint) {
      throw new BaseModelMismatchError(
        `${maskArtifact.uri} was extracted for another base model than ${spec.baseModel.uri}`,
      );
    }
    const exclude = await applyEarlierTickets(ctx, model.params, fingerprint);
    for (const [name, mask] of exclude ?? []) {
      const mine = masks.get(name);
      if (mine && overlapCount(mine, mask) > 0)
        throw new Error(`internal: mask of ${name} overlaps an excluded ticket`);
    }
    const start = snapshot(model.params, masks.keys());
    const task = await loadPhaseTask(ctx, baseDir);
    const plan = trainingPlan(spec, task.train.examples.length);
    const before = scoreTask(model.params, model.config, task, plan.batchSize, spec.dataset.maxSeqLength);

    const optimizer = new SparseOptimizer(plan.rule, model.params, masks);
    sink.info('sparse training', {
      trainableTensors: optimizer.trainable.length,
      stateEntries: optimizer.stateEntries,
    });
    const result = await trainStage(sink, 'train', {
      params: model.params,
      config: model.config,
      examples: task.train.examples,
      optimizer,
      trainable: optimizer.trainable,
      transformGrads: optimizer.gatherGrads,
      plan,
      maxSeqLength: spec.dataset.maxSeqLength,
      padId: task.padId,
      totalSteps: totalSteps(task.train.examples.length, plan),
    });

    const valuesDtype = OUTPUT_DTYPES[outputDtype(spec.output.dtype)].dtype;
    const tensors = new Map<string, TicketTensor>();
    for (const [name, mask] of masks) {
      const param = model.params.get(name) as tf.Variable;
      const base = start.get(name) as Float32Array;
      const t = ticketTensor(name, [...param.shape], base, param.dataSync() as Float32Array, mask, valuesDtype);
      tensors.set(name, t);
      const materialised = applyTicketTensor(name, base, t);
      tf.tidy(() => param.assign(tf.tensor(materialised, param.shape)));
    }
    const ticket: Ticket = {
      info: {
        baseFingerprint: fingerprint,
        sparsity: lota.sparsity,
        method: lota.maskSelection === 'random' ? 'lota-random' : 'lota',
        task: ctx.name,
        source: `LotaAdaptation ${ctx.namespace}/${ctx.name}`,
        valuesDtype,
      },
      tensors,
    };
    const ticketArtifact = artifact(ctx, ARTIFACTS.ticket);
    const { bytes } = await writeTicket(ticketArtifact.path, ticket);
    const after = scoreTask(model.params, model.config, task, plan.batchSize, spec.dataset.maxSeqLength);
    const { trainable, total } = countSetAll(masks);
    const results = taskResults(result.trainLoss, before, after, task.train.skipped.length);
    await writeAtomic(artifact(ctx, ARTIFACTS.results).path, `${JSON.stringify(results, null, 2)}\n`);
    return {
      message: `trained ${result.steps} steps on ${trainable} of ${total} target entries; ticket ${bytes} bytes`,
      results,
      mask: { trainable, total, density: total === 0 ? 0 : trainable / total, uri: maskArtifact.uri },
      ticket: {
        uri: ticketArtifact.uri,
        bytes,
        density: total === 0 ? 0 : trainable / total,
        sha256: (await digestPath(ticketArtifact.path)).sha256,
      },
    };
  } finally {
    disposeParameters(model.params);
  }
}
