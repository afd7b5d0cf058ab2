// A trainer's /progress answer as the operator may trust it. The trainer image is the user's choice, so its answer
// is validated and clamped to what status.progress accepts (the CRD schema would refuse the whole status write
// otherwise): counts are non-negative integers, step ≤ totalSteps, percent within 0–100, optional numbers finite.

import { type Progress, TRAINER_PHASES, type TrainerPhase } from './trainer-contract.ts';

const count = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? Math.max(0, Math.floor(v)) : undefined);
const finite = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) ? v : undefined);
const nonNegative = (v: unknown) => {
  const n = finite(v);
  return n === undefined ? undefined : Math.max(0, n);
};

/** The Progress in `body`, clamped; undefined when it has no phase, step and totalSteps to speak of. */
export function parseProgress(body: unknown): Progress | undefined {
  if (!body || typeof body !== 'object') return undefined;
  const b = body as Record<string, unknown>;
  const phase = b.phase;
  const totalSteps = count(b.totalSteps);
  const rawStep = count(b.step);
  if (typeof phase !== 'string' || !(TRAINER_PHASES as readonly string[]).includes(phase)) return undefined;
  if (totalSteps === undefined || rawStep === undefined) return undefined;
  const step = totalSteps > 0 ? Math.min(rawStep, totalSteps) : rawStep;
  const percent = finite(b.percent) ?? (totalSteps > 0 ? (100 * step) / totalSteps : 0);
  const loss = finite(b.loss);
  const tokensPerSecond = nonNegative(b.tokensPerSecond);
  const etaSeconds = nonNegative(b.etaSeconds);
  return {
    phase: phase as TrainerPhase,
    step,
    totalSteps,
    percent: Math.min(100, Math.max(0, percent)),
    ...(loss !== undefined && { loss }),
    ...(tokensPerSecond !== undefined && { tokensPerSecond }),
    ...(etaSeconds !== undefined && { etaSeconds }),
  };
}
