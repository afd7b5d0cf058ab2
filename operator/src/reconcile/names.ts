// Deterministic names and labels of the operator's children. A Job's name depends only on its owner's name and
// phase, so an operator that restarts (or two that briefly overlap) can only ever create the same Job once: the
// API server refuses the second create with AlreadyExists.

import { createHash } from 'node:crypto';
import type { TrainerPhase } from '@lota/api/trainer-contract';

export const MANAGED_BY = 'lota-operator';
export const LABELS = {
  managedBy: 'app.kubernetes.io/managed-by',
  name: 'app.kubernetes.io/name',
  ownerKind: 'lota.dev/owner-kind',
  ownerUid: 'lota.dev/owner-uid',
  phase: 'lota.dev/phase',
  kueueQueue: 'kueue.x-k8s.io/queue-name',
} as const;

/** Selector of everything this operator creates; reflectors of Jobs and Pods watch only these. */
export const MANAGED_SELECTOR = `${LABELS.managedBy}=${MANAGED_BY}`;

/** Job names become the `batch.kubernetes.io/job-name` label of their pods, so they must fit in 63 characters. */
const MAX_JOB_NAME = 63;

export function jobName(ownerName: string, phase: TrainerPhase): string {
  const plain = `${ownerName}-${phase}`;
  if (plain.length <= MAX_JOB_NAME) return plain;
  const hash = createHash('sha256').update(ownerName).digest('hex').slice(0, 8);
  const keep = MAX_JOB_NAME - phase.length - hash.length - 2;
  return `${ownerName.slice(0, keep).replace(/[-.]+$/, '')}-${hash}-${phase}`;
}
