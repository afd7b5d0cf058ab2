// `lota run`'s closing table: the merged result of each TicketMerge scored on the held-out set of every input that
// is a LotaAdaptation of the same manifest, next to that adaptation's own (single-task) score. This is the point of
// tickets: a merge keeps each task. The scoring is the adaptation's own (same data options, same exact match).

import { resolveArtifactUri, type TicketMerge, withAdaptationDefaults } from '@lota/api';
import type { MachineStatus } from '@lota/api/phase-machine';
import { selectBackend } from '../backend/select.ts';
import { applyTicketsInMemory } from '../lota/apply.ts';
import { readTicket } from '../lota/ticket.ts';
import { disposeParameters } from '../model/parameters.ts';
import { loadPretrained } from '../model/pretrained.ts';
import { baseFingerprint } from '../phases/context.ts';
import { scoreTask } from '../phases/evaluation.ts';
import { loadTask } from '../phases/task.ts';
import { nameOf } from './local-executor.ts';
import type { Resource } from './manifest.ts';

export interface MergeScoreRow {
  task: string;
  /** The adaptation's scores: before its training (its start model) and after (single task). */
  start?: number;
  single?: number;
  /** The merged model's score on the same held-out set. */
  merged?: number;
  mergedEvalLoss: number;
}

export async function scoreMerge(
  merge: TicketMerge,
  mergeStatus: MachineStatus,
  finals: readonly { resource: Resource; status: MachineStatus }[],
  pvcRoot?: string,
): Promise<MergeScoreRow[]> {
  const resolve = (uri: string) => resolveArtifactUri(uri, pvcRoot === undefined ? {} : { pvcRoot });
  const inputs = merge.spec.tickets
    .map((t) =>
      finals.find((f) => f.resource.kind === 'LotaAdaptation' && nameOf(f.resource) === t.adaptationRef?.name),
    )
    .filter((f) => f !== undefined && f.resource.kind === 'LotaAdaptation' && f.resource.spec.dataset.evalUri);
  const output = mergeStatus.output?.uri;
  if (inputs.length === 0 || output === undefined) return [];
  await selectBackend(undefined, () => {});
  const baseDir = resolve(merge.spec.baseModel.uri);
  const model =
    merge.spec.output.kind === 'ticket' ? await loadPretrained(baseDir) : await loadPretrained(resolve(output));
  try {
    if (merge.spec.output.kind === 'ticket') {
      const ticket = await readTicket(resolve(output));
      await applyTicketsInMemory(
        model.params,
        [{ what: `merged ticket ${output}`, ticket }],
        await baseFingerprint(baseDir),
      );
    }
    const rows: MergeScoreRow[] = [];
    for (const input of inputs) {
      if (input?.resource.kind !== 'LotaAdaptation') continue;
      const spec = withAdaptationDefaults(input.resource.spec);
      const task = await loadTask(spec, baseDir, resolve);
      const scores = scoreTask(model.params, model.config, task, spec.training.batchSize, spec.dataset.maxSeqLength);
      const metrics = input.status.results?.metrics ?? {};
      rows.push({
        task: nameOf(input.resource),
        ...(metrics.baseExactMatch !== undefined ? { start: metrics.baseExactMatch } : {}),
        ...(metrics.exactMatch !== undefined ? { single: metrics.exactMatch } : {}),
        ...(scores?.exactMatch !== undefined ? { merged: scores.exactMatch } : {}),
        mergedEvalLoss: scores?.evalLoss ?? Number.NaN,
      });
    }
    return rows;
  } finally {
    disposeParameters(model.params);
  }
}

export function formatMergeScores(label: string, rows: readonly MergeScoreRow[]): string[] {
  const f = (x: number | undefined) => (x === undefined ? '—' : x.toFixed(3));
  return [
    `${label}: held-out exact match of each input task, single-task model vs merged model`,
    `  ${'task'.padEnd(24)} ${'before training'.padStart(15)} ${'single-task'.padStart(12)} ${'merged'.padStart(8)} ${'merged evalLoss'.padStart(16)}`,
    ...rows.map(
      (r) =>
        `  ${r.task.padEnd(24)} ${f(r.start).padStart(15)} ${f(r.single).padStart(12)} ${f(r.merged).padStart(8)} ${r.mergedEvalLoss.toFixed(3).padStart(16)}`,
    ),
  ];
}
